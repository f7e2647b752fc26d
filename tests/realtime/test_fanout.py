"""The quote fan-out (fanout.py) on the transport's writer (engine.py): a quote is encoded and
framed once for every socket that watches it, a socket's packets of one loop turn go out in
one write and in order, and a socket that stops reading holds up nobody: its quotes are
dropped and replaced by the latest when it drains, its user events queue, and it is cut off
once they pass its bound."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from tests.harness.waiting import wait_until
from tests.realtime.clients import WAIT, Client
from tests.realtime.conftest import Connect, publish
from tests.realtime.test_pushes import realtime_of
from tests.support import LiveServer
from tests.support import sample_quote as quote
from tradewire.realtime.engine import Outgoing
from tradewire.realtime.fanout import SOCKET_GROUPS, batch_room, encode_quote, group_of, plain_room
from tradewire.realtime.server import MAX_BUFFERED_BYTES


def engine_socket_of(server: LiveServer, client: Client):  # type: ignore[no-untyped-def]
    return realtime_of(server).sockets[client.sio.get_sid()].socket.connection.engine_socket


async def test_subscribers_get_every_quote_in_order_and_batches_conflated(
    quiet_server: LiveServer, connect: Connect
) -> None:
    fanout = realtime_of(quiet_server).fanout
    plain = await connect(quiet_server, await quiet_server.login())
    batching = await connect(quiet_server, await quiet_server.login())
    await plain.call("subscribe:watchlist", {"symbols": ["AAPL"]})
    await batching.call("subscribe:watchlist", {"symbols": ["AAPL"], "batch": True})
    frames = fanout.frames

    await publish(quiet_server, *(quote("AAPL", seq=n) for n in range(2, 7)))

    updates = await plain.wait_for("quote:update", count=5)
    assert [u["seq"] for u in updates] == [2, 3, 4, 5, 6]
    [batch] = await batching.wait_for("quotes:update")
    assert [q["seq"] for q in batch["quotes"]] == [6]  # conflated: the latest wins
    assert fanout.frames - frames == 6


async def test_a_quote_is_framed_once_for_every_socket(
    quiet_server: LiveServer, connect: Connect
) -> None:
    clients = [await connect(quiet_server, await quiet_server.login()) for _ in range(3)]
    for client in clients:
        await client.call("subscribe:watchlist", {"symbols": ["MSFT"]})
    sockets = [engine_socket_of(quiet_server, c) for c in clients]

    realtime_of(quiet_server).fanout.publish(quote("MSFT", seq=2))  # flushed on the next turn

    assert len({id(s.outbox[-1]) for s in sockets}) == 1  # the same packet in every outbox
    assert isinstance(sockets[0].outbox[-1], Outgoing)
    for client in clients:
        assert [u["seq"] for u in await client.wait_for("quote:update")] == [2]


async def test_packets_of_one_loop_turn_reach_each_socket_in_one_write(
    quiet_server: LiveServer, connect: Connect
) -> None:
    realtime = realtime_of(quiet_server)
    first = await connect(quiet_server, await quiet_server.login())
    second = await connect(quiet_server, await quiet_server.login())
    await first.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT"]})
    await second.call("subscribe:watchlist", {"symbols": ["MSFT"]})
    writes = realtime.engine.writes

    for n in range(2, 6):  # eight ticks in one loop turn
        realtime.fanout.publish(quote("AAPL", seq=n))
        realtime.fanout.publish(quote("MSFT", seq=n))

    updates = await first.wait_for("quote:update", count=8)
    assert [(u["symbol"], u["seq"]) for u in updates] == [
        (s, n) for n in range(2, 6) for s in ("AAPL", "MSFT")
    ]
    assert [u["seq"] for u in await second.wait_for("quote:update", count=4)] == [2, 3, 4, 5]
    assert realtime.engine.writes - writes == 2


async def test_long_polling_subscribers_get_quotes_in_order(
    quiet_server: LiveServer, connect: Connect
) -> None:
    client = await connect(quiet_server, await quiet_server.login(), transports=["polling"])
    await client.call("subscribe:watchlist", {"symbols": ["MSFT"]})

    await publish(quiet_server, quote("MSFT", seq=2), quote("MSFT", seq=3))

    updates = await client.wait_for("quote:update", count=2)
    assert [u["seq"] for u in updates] == [2, 3]


async def test_a_quote_never_overtakes_a_packet_queued_before_it(
    quiet_server: LiveServer, connect: Connect
) -> None:
    realtime = realtime_of(quiet_server)
    client = await connect(quiet_server, await quiet_server.login())
    await client.call("subscribe:watchlist", {"symbols": ["NVDA"]})

    realtime.sockets[client.sio.get_sid()].socket.emit("server:notice", {})
    realtime.fanout.publish(quote("NVDA", seq=2))

    await client.wait_for("quote:update")
    assert client.names().index("server:notice") < client.names().index("quote:update")


async def test_a_connection_that_is_not_writable_holds_up_nobody_and_gets_the_latest_quotes(
    quiet_server: LiveServer, connect: Connect
) -> None:
    """A client that reads slowly fills its connection's buffer: the transport then says stop
    (`pause_writing`). Its quotes are dropped, not queued, the others get theirs, and when it
    drains it gets the latest quote of each of its symbols once."""
    realtime = realtime_of(quiet_server)
    slow, other = [await connect(quiet_server, await quiet_server.login()) for _ in range(2)]
    for client in (slow, other):
        await client.call("subscribe:watchlist", {"symbols": ["AMZN", "META"]})
    socket = engine_socket_of(quiet_server, slow)
    dropped = realtime.engine.dropped
    socket.ws.pause_writing()  # what the transport does past its high-water mark
    try:
        await publish(quiet_server, *(quote(s, seq=n) for n in (2, 3, 4) for s in ("AMZN", "META")))
        received = await other.wait_for("quote:update", count=6)
        assert [u["seq"] for u in received] == [2, 2, 3, 3, 4, 4]
        assert slow.of("quote:update") == []
        assert socket.outbox == []
        assert realtime.engine.dropped - dropped == 6
    finally:
        socket.ws.resume_writing()  # ...and when it drains, the latest quotes go out
    late = await slow.wait_for("quote:update", count=2)
    assert sorted((u["symbol"], u["seq"]) for u in late) == [("AMZN", 4), ("META", 4)]
    await publish(quiet_server, quote("AMZN", seq=5))
    assert [u["seq"] for u in await slow.wait_for("quote:update", count=3)][-1] == 5


async def test_a_batching_socket_that_drains_gets_one_batch_of_the_latest_quotes(
    quiet_server: LiveServer, connect: Connect
) -> None:
    realtime = realtime_of(quiet_server)
    slow = await connect(quiet_server, await quiet_server.login())
    await slow.call("subscribe:watchlist", {"symbols": ["AMZN", "META"], "batch": True})
    socket = engine_socket_of(quiet_server, slow)
    socket.ws.pause_writing()
    try:
        await publish(quiet_server, quote("AMZN", seq=7), quote("META", seq=8))
        realtime.flush_batches()
        assert socket.outbox == [] and socket.dropped == 1
    finally:
        socket.ws.resume_writing()
    [batch] = await slow.wait_for("quotes:update")
    assert sorted((q["symbol"], q["seq"]) for q in batch["quotes"]) == [("AMZN", 7), ("META", 8)]


async def test_quotes_to_a_stalled_socket_are_dropped_past_the_backlog_and_its_user_events_kept(
    quiet_server: LiveServer, connect: Connect
) -> None:
    """Past `drop_backlog` queued bytes a socket's quotes are dropped even while its transport
    still takes writes (a long-polling client between two polls, say); user events queue."""
    realtime = realtime_of(quiet_server)
    client = await connect(quiet_server, await quiet_server.login())
    await client.call("subscribe:watchlist", {"symbols": ["TSLA"]})
    socket = engine_socket_of(quiet_server, client)
    user_id = realtime.sockets[client.sio.get_sid()].user_id
    notice = {"text": "x" * 1024}
    for _ in range(realtime.engine.config.drop_backlog // 1024 + 1):  # one loop turn: no flush
        realtime.sockets[client.sio.get_sid()].socket.emit("server:notice", notice)
    queued = len(socket.outbox)
    realtime.fanout.publish(quote("TSLA", seq=2))
    assert len(socket.outbox) == queued and socket.dropped == 1
    await realtime.emit_to_user(user_id, "server:notice", notice)
    assert len(await client.wait_for("server:notice", count=queued + 1)) == queued + 1


async def test_a_socket_that_stops_reading_is_disconnected_when_its_user_events_pass_the_bound(
    quiet_server: LiveServer, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    """User events are never dropped: a socket whose queue of them passes `max_buffer` bytes
    is closed with a logged reason (and recovers by reconnecting when it reads again)."""
    realtime = realtime_of(quiet_server)
    stalled, other = [await connect(quiet_server, await quiet_server.login()) for _ in range(2)]
    for client in (stalled, other):
        await client.call("subscribe:watchlist", {"symbols": ["TSLA"]})
    socket = engine_socket_of(quiet_server, stalled)
    socket.ws.pause_writing()
    state = realtime.sockets[stalled.sio.get_sid()]
    notice = {"text": "x" * 4096}

    with caplog.at_level(logging.WARNING, logger="tradewire.realtime"):
        for n in range(MAX_BUFFERED_BYTES // 4096 + 10):
            state.socket.emit("server:notice", notice)
            realtime.fanout.publish(quote("TSLA", seq=n + 2))
            assert socket.outbox_bytes <= MAX_BUFFERED_BYTES
            if n % 100 == 0:
                await asyncio.sleep(0)  # the loop turns: the reading client's writes go out
        assert socket.overflowed  # nothing more is queued for it; it closes on the next turn

    assert any(r.getMessage() == "send buffer full; socket closed" for r in caplog.records)
    await wait_until(
        lambda: stalled.sio.get_sid() not in realtime.sockets, timeout=WAIT, what="the cut-off"
    )
    updates = await other.wait_for("quote:update", count=100)
    assert updates[-1]["seq"] >= 101  # the reader kept getting its quotes


async def test_user_pushes_go_to_every_socket_of_the_user_and_no_other(
    quiet_server: LiveServer, connect: Connect
) -> None:
    realtime = realtime_of(quiet_server)
    session_id = await quiet_server.login()
    tabs = [await connect(quiet_server, session_id) for _ in range(3)]
    other = await connect(quiet_server, await quiet_server.register("eve"))
    user_id = realtime.sockets[tabs[0].sio.get_sid()].user_id

    await realtime.emit_to_user(user_id, "server:notice", {"n": 1})

    for tab in tabs:
        assert (await tab.wait_for("server:notice"))[0] == {"n": 1}
    assert other.of("server:notice") == []


@pytest.mark.parametrize("batch", [False, True], ids=["plain", "batch"])
async def test_unsubscribed_and_disconnected_sockets_leave_the_rooms(
    quiet_server: LiveServer, connect: Connect, batch: bool
) -> None:
    realtime = realtime_of(quiet_server)
    client: Client = await connect(quiet_server, await quiet_server.login())
    sid = client.sio.get_sid()
    await client.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT"], "batch": batch})
    fanout = realtime.fanout
    socket = realtime.sockets[sid].socket
    assert socket in fanout.subscribers("AAPL", batch=batch)
    assert socket in fanout.subscribers("MSFT", batch=batch)
    assert not fanout.subscribers("AAPL", batch=not batch)

    await client.call("unsubscribe:watchlist", {"symbols": ["AAPL"]})
    assert not fanout.subscribers("AAPL", batch=batch)
    await client.close()
    await wait_until(lambda: sid not in realtime.sockets, timeout=WAIT, what="the disconnect")
    rooms = realtime.rooms.members
    assert plain_room("MSFT") not in rooms
    assert all(batch_room(g, "MSFT") not in rooms for g in range(SOCKET_GROUPS))
    assert not socket.rooms


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 100_000])
def test_frames_are_what_a_websocket_client_parses(size: int) -> None:
    """Each length encoding (7, 16 and 64 bits) read back by the websockets library's parser."""
    text = "é" * (size // 2) + "x" * (size % 2)  # multi-byte UTF-8 too
    reader = StreamReader()
    reader.feed_data(Outgoing.text(text).frame)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:
        raise AssertionError("the frame was incomplete")
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert frame.data.decode() == text


async def test_batching_sockets_are_flushed_group_by_group(
    quiet_server: LiveServer, connect: Connect
) -> None:
    """Sockets spread over the batch groups; a group's flush writes to its own sockets only and
    clears only its own pending quotes, and in the flusher's round every socket gets its batch."""
    realtime = realtime_of(quiet_server)
    fanout = realtime.fanout
    session_id = await quiet_server.login()
    clients = [await connect(quiet_server, session_id) for _ in range(12)]
    for client in clients:
        await client.call("subscribe:watchlist", {"symbols": ["KO"], "batch": True})
    groups_of = {c: group_of(c.sio.get_sid()) for c in clients}
    groups = set(groups_of.values())
    assert len(groups) > 1  # 12 random sids in 8 groups: all in one has odds 8 ** -11

    first = min(groups)
    members = [c for c in clients if groups_of[c] == first]
    fanout.publish(quote("KO", seq=2))  # directly: no flush has run yet when this returns
    assert all(fanout.pending[g] == {"KO": encode_quote(quote("KO", seq=2))} for g in groups)
    written = fanout.flush(first)

    assert written == len(members)
    assert fanout.pending[first] == {}
    assert all(fanout.pending[g] for g in groups - {first})
    for client in clients:  # the flusher's round reaches every other group too
        [batch] = await client.wait_for("quotes:update")
        assert [q["seq"] for q in batch["quotes"]] == [2]


async def test_the_batch_flusher_waits_while_no_batch_is_pending(
    quiet_server: LiveServer, connect: Connect
) -> None:
    """No timer runs for batches while none is due (a 6 ms timer kept an idle server at 3 % of
    a core): a quote for plain subscribers leaves the flusher waiting; one for a batching
    socket wakes it, and once its round has flushed every group it waits again."""
    fanout = realtime_of(quiet_server).fanout
    plain = await connect(quiet_server, await quiet_server.login())
    batching = await connect(quiet_server, await quiet_server.login())
    await plain.call("subscribe:watchlist", {"symbols": ["AAPL"]})
    await batching.call("subscribe:watchlist", {"symbols": ["KO"], "batch": True})
    await wait_until(lambda: not fanout.has_pending.is_set(), timeout=WAIT, what="an idle flusher")

    fanout.publish(quote("AAPL", seq=2))
    assert not fanout.has_pending.is_set()
    assert [u["seq"] for u in await plain.wait_for("quote:update")] == [2]

    fanout.publish(quote("KO", seq=2))
    assert fanout.has_pending.is_set()
    [batch] = await batching.wait_for("quotes:update")
    assert [q["seq"] for q in batch["quotes"]] == [2]
    await wait_until(lambda: not fanout.has_pending.is_set(), timeout=WAIT, what="the flusher idle")
    assert not any(fanout.pending)


async def test_a_connected_socket_keeps_none_of_its_handshake(
    quiet_server: LiveServer, connect: Connect
) -> None:
    realtime = realtime_of(quiet_server)
    client = await connect(quiet_server, await quiet_server.login())
    state = realtime.sockets[client.sio.get_sid()]
    assert state.socket.connection.request is None
    assert (await client.call("subscribe:watchlist", {"symbols": ["AAPL"]}))["ok"]
