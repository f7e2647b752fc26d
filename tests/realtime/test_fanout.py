"""The quote fan-out's two paths (fanout.py): frames written straight to a WebSocket whose
writer is idle, and frames queued through Engine.IO otherwise (long polling, packets already
queued, a connection that is not writable). Either way a socket gets every frame, in order."""

from __future__ import annotations

import asyncio

import engineio.packet
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from tests.harness.waiting import wait_until
from tests.realtime.clients import WAIT, Client
from tests.realtime.conftest import Connect, publish
from tests.realtime.test_pushes import realtime_of
from tests.support import LiveServer
from tests.support import sample_quote as quote
from tradewire.realtime import fanout as fanout_module
from tradewire.realtime.fanout import (
    LeanQueue,
    QuoteFanout,
    encode_quote,
    event_message,
    text_frame,
)


async def test_websocket_subscribers_get_quotes_written_directly(
    quiet_server: LiveServer, connect: Connect
) -> None:
    fanout = realtime_of(quiet_server).fanout
    plain = await connect(quiet_server, await quiet_server.login())
    batching = await connect(quiet_server, await quiet_server.login())
    await plain.call("subscribe:watchlist", {"symbols": ["AAPL"]})
    await batching.call("subscribe:watchlist", {"symbols": ["AAPL"], "batch": True})
    direct, queued = fanout.frames_direct, fanout.frames_queued

    await publish(quiet_server, *(quote("AAPL", seq=n) for n in range(2, 7)))

    updates = await plain.wait_for("quote:update", count=5)
    assert [u["seq"] for u in updates] == [2, 3, 4, 5, 6]
    [batch] = await batching.wait_for("quotes:update")
    assert [q["seq"] for q in batch["quotes"]] == [6]  # conflated: the latest wins
    assert fanout.frames_direct - direct == 6
    assert fanout.frames_queued == queued


async def test_quotes_queued_together_reach_each_socket_in_one_write(
    quiet_server: LiveServer, connect: Connect
) -> None:
    """Quotes that queue up while the sender is busy share a write per socket (fewer system
    calls under load), still as one frame each, in feed order; one quote alone is one write."""
    fanout = realtime_of(quiet_server).fanout
    first = await connect(quiet_server, await quiet_server.login())
    second = await connect(quiet_server, await quiet_server.login())
    await first.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT"]})
    await second.call("subscribe:watchlist", {"symbols": ["MSFT"]})
    frames, writes = fanout.frames_direct, fanout.writes_direct

    for n in range(2, 6):  # four ticks in one loop turn: the sender sees them together
        fanout.publish(quote("AAPL", seq=n))
        fanout.publish(quote("MSFT", seq=n))

    updates = await first.wait_for("quote:update", count=8)
    assert [(u["symbol"], u["seq"]) for u in updates] == [
        (s, n) for n in range(2, 6) for s in ("AAPL", "MSFT")
    ]
    assert [u["seq"] for u in await second.wait_for("quote:update", count=4)] == [2, 3, 4, 5]
    assert fanout.frames_direct - frames == 12
    assert fanout.writes_direct - writes == 2

    fanout.publish(quote("MSFT", seq=6))
    await second.wait_for("quote:update", count=5)
    await first.wait_for("quote:update", count=9)
    assert fanout.writes_direct - writes == 4


async def test_long_polling_subscribers_get_quotes_through_engineio(
    quiet_server: LiveServer, connect: Connect
) -> None:
    fanout = realtime_of(quiet_server).fanout
    client = await connect(quiet_server, await quiet_server.login(), transports=["polling"])
    await client.call("subscribe:watchlist", {"symbols": ["MSFT"]})
    queued = fanout.frames_queued

    await publish(quiet_server, quote("MSFT", seq=2), quote("MSFT", seq=3))

    updates = await client.wait_for("quote:update", count=2)
    assert [u["seq"] for u in updates] == [2, 3]
    assert fanout.frames_queued - queued == 2


async def test_a_frame_never_overtakes_a_packet_already_queued(
    quiet_server: LiveServer, connect: Connect
) -> None:
    realtime = realtime_of(quiet_server)
    client = await connect(quiet_server, await quiet_server.login())
    await client.call("subscribe:watchlist", {"symbols": ["NVDA"]})
    sid = client.sio.get_sid()
    eio_sid = realtime.sockets[sid].eio_sid
    direct, queued = realtime.fanout.frames_direct, realtime.fanout.frames_queued

    # a packet queued through Engine.IO (as acks and pings are), and a quote right behind it
    socket = realtime.sio.eio.sockets[eio_sid]
    await socket.send(engineio.packet.Packet(engineio.packet.MESSAGE, '2["server:notice",{}]'))
    assert not socket.queue.writer_idle
    await publish(quiet_server, quote("NVDA", seq=2))

    await client.wait_for("quote:update")
    assert client.names().index("server:notice") < client.names().index("quote:update")
    assert realtime.fanout.frames_queued - queued == 1
    assert realtime.fanout.frames_direct == direct


async def test_a_connection_that_is_not_writable_gets_its_frames_queued(
    quiet_server: LiveServer, connect: Connect
) -> None:
    """A client that reads slowly fills its connection's buffer: uvicorn then holds writes
    back, and its frames wait in Engine.IO's queue instead of holding up the fan-out."""
    realtime = realtime_of(quiet_server)
    slow, other = [await connect(quiet_server, await quiet_server.login()) for _ in range(2)]
    for client in (slow, other):
        await client.call("subscribe:watchlist", {"symbols": ["AMZN"]})
    ws = realtime.fanout.websockets[realtime.sockets[slow.sio.get_sid()].eio_sid]
    writable = ws._protocol.writable
    writable.clear()  # what uvicorn does when the write buffer passes its high-water mark
    try:
        await asyncio.wait_for(publish(quiet_server, quote("AMZN", seq=2)), timeout=5)
        [received] = await other.wait_for("quote:update")  # the others are not held up
        assert received["seq"] == 2
        assert slow.of("quote:update") == []
    finally:
        writable.set()  # ...and when it drains
    [late] = await slow.wait_for("quote:update")
    assert late["seq"] == 2


async def test_a_socket_gone_meanwhile_is_skipped(
    quiet_server: LiveServer, connect: Connect
) -> None:
    fanout = realtime_of(quiet_server).fanout
    assert fanout.write("no-such-socket", event_message("quote:update", b"{}")) == 0


async def test_pushes_to_a_room_are_written_once_per_socket_without_tasks(
    quiet_server: LiveServer, connect: Connect
) -> None:
    """python-socketio emits (an order's pushes to a user's sockets) go through the same writer:
    every socket of the room gets the event, written directly; an emit that asks for acks keeps
    python-socketio's own path."""
    realtime = realtime_of(quiet_server)
    session_id = await quiet_server.login()
    tabs = [await connect(quiet_server, session_id) for _ in range(3)]
    other = await connect(quiet_server, await quiet_server.register("eve"))
    direct = realtime.fanout.frames_direct

    user_id = realtime.sockets[tabs[0].sio.get_sid()].user_id
    await realtime.sio.emit("server:notice", {"n": 1}, room=f"user:{user_id}")
    for tab in tabs:
        assert (await tab.wait_for("server:notice"))[0] == {"n": 1}
    assert realtime.fanout.frames_direct - direct == 3
    assert other.of("server:notice") == []

    acked: list[object] = []
    await realtime.sio.emit(
        "server:notice", {"n": 2}, to=other.sio.get_sid(), callback=lambda *a: acked.append(a)
    )
    assert (await other.wait_for("server:notice"))[0] == {"n": 2}
    assert realtime.fanout.frames_direct - direct == 3


def test_each_server_gets_its_own_driver_copy() -> None:
    """python-engineio's driver table is shared by every server in the process."""
    import engineio

    first, second = engineio.AsyncServer(async_mode="asgi"), engineio.AsyncServer(async_mode="asgi")
    QuoteFanout(first)
    assert isinstance(first.create_queue(), LeanQueue)
    assert first._async["websocket"] is not second._async["websocket"]
    assert type(second.create_queue()) is asyncio.Queue


@pytest.mark.parametrize("batch", [False, True], ids=["plain", "batch"])
async def test_unsubscribed_and_disconnected_sockets_leave_the_indexes(
    quiet_server: LiveServer, connect: Connect, batch: bool
) -> None:
    realtime = realtime_of(quiet_server)
    client: Client = await connect(quiet_server, await quiet_server.login())
    sid = client.sio.get_sid()
    await client.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT"], "batch": batch})
    fanout = realtime.fanout
    indexes = [g.batched if batch else g.plain for g in fanout.groups]
    assert sid in fanout.subscribers("AAPL", batch=batch)
    assert sid in fanout.subscribers("MSFT", batch=batch)
    assert not fanout.subscribers("AAPL", batch=not batch)

    await client.call("unsubscribe:watchlist", {"symbols": ["AAPL"]})
    assert all("AAPL" not in index for index in indexes)
    await client.close()
    await wait_until(lambda: sid not in realtime.sockets, timeout=WAIT, what="the disconnect")
    assert all("MSFT" not in index for index in indexes)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 100_000])
def test_frames_are_what_a_websocket_client_parses(size: int) -> None:
    """Each length encoding (7, 16 and 64 bits) read back by the websockets library's parser."""
    text = "é" * (size // 2) + "x" * (size % 2)  # multi-byte UTF-8 too
    reader = StreamReader()
    reader.feed_data(text_frame(text.encode()))
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:
        raise AssertionError("the frame was incomplete")
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert frame.data.decode() == text


async def test_a_fan_out_that_yields_between_writes_keeps_each_sockets_order(
    quiet_server: LiveServer, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the event loop let in after every frame (instead of every 256), each socket still
    gets every tick of its symbols in `seq` order, and each batch once."""
    monkeypatch.setattr(fanout_module, "WRITES_PER_TURN", 1)
    session_id = await quiet_server.login()
    plain = [await connect(quiet_server, session_id) for _ in range(3)]
    batching = [await connect(quiet_server, session_id) for _ in range(3)]
    for client in plain:
        await client.call("subscribe:watchlist", {"symbols": ["META", "JPM"]})
    for client in batching:
        await client.call("subscribe:watchlist", {"symbols": ["META", "JPM"], "batch": True})

    await publish(quiet_server, *(quote(s, seq=n) for n in range(2, 6) for s in ("META", "JPM")))

    for client in plain:
        updates = await client.wait_for("quote:update", count=8)
        for symbol in ("META", "JPM"):
            assert [u["seq"] for u in updates if u["symbol"] == symbol] == [2, 3, 4, 5]
    for client in batching:
        [batch] = await client.wait_for("quotes:update")
        assert sorted((q["symbol"], q["seq"]) for q in batch["quotes"]) == [("JPM", 5), ("META", 5)]


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
    group_of = {c: fanout.groups.index(fanout.group_of(c.sio.get_sid())) for c in clients}
    groups = set(group_of.values())
    assert len(groups) > 1  # 12 random sids in 8 groups: all in one has odds 8 ** -11

    first = min(groups)
    members = [c for c in clients if group_of[c] == first]
    fanout.publish(quote("KO", seq=2))  # directly: no flush has run yet when this returns
    assert all(fanout.groups[g].pending == {"KO": encode_quote(quote("KO", seq=2))} for g in groups)
    written = await fanout.flush(first)

    assert written == len(members)
    assert fanout.groups[first].pending == {}
    assert all(fanout.groups[g].pending for g in groups - {first})
    for client in clients:  # the flusher's round reaches every other group too
        [batch] = await client.wait_for("quotes:update")
        assert [q["seq"] for q in batch["quotes"]] == [2]


async def test_lean_queue_behaves_as_asyncio_queue_does() -> None:
    """What python-engineio and uvicorn rely on: FIFO order, a waiting `get`, a `get` cancelled
    by a timeout that neither loses an item nor a wake-up, `task_done`/`join`, and the errors."""
    queue = LeanQueue()
    assert queue.empty() and queue.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()

    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert queue.writer_idle  # someone waits and nothing is queued
    await queue.put("a")
    queue.put_nowait("b")
    assert not queue.writer_idle
    assert await waiting == "a" and queue.get_nowait() == "b"

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), timeout=0.01)
    first, second = asyncio.ensure_future(queue.get()), asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("c")
    first.cancel()  # woken, then cancelled before it ran: the wake-up passes to the next getter
    await asyncio.sleep(0)
    assert await asyncio.wait_for(second, timeout=1) == "c"

    joined = asyncio.ensure_future(queue.join())
    await asyncio.sleep(0)
    assert not joined.done()  # three items were put, none marked done
    for _ in range(3):
        queue.task_done()
    await asyncio.wait_for(joined, timeout=1)
    with pytest.raises(ValueError, match="too many"):
        queue.task_done()
    await queue.join()  # nothing unfinished: returns at once


async def test_tradewire_serve_runs_uvicorns_websocket_protocol_with_a_lean_queue(
    quiet_server: LiveServer, connect: Connect
) -> None:
    """...which, like the socket's environ, keeps none of the handshake's headers once the
    socket is connected."""
    realtime = realtime_of(quiet_server)
    client = await connect(quiet_server, await quiet_server.login())
    sid = client.sio.get_sid()
    ws = realtime.fanout.websockets[realtime.sockets[sid].eio_sid]
    assert isinstance(ws._protocol, fanout_module.LeanWebSocketProtocol)
    assert isinstance(ws._protocol.queue, LeanQueue)
    assert ws._protocol.request is None and ws._protocol.response is None
    environ = realtime.sio.get_environ(sid)
    assert not [key for key in environ if key.startswith("HTTP_")]
    assert environ["asgi.scope"]["headers"] == []
    assert (await client.call("subscribe:watchlist", {"symbols": ["AAPL"]}))["ok"]
