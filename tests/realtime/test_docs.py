"""docs/WEBSOCKET.md against the code: every event, error code and limit the server has is
documented with the number the code uses. Its JSON examples are checked against their events'
models in tests/test_contract.py."""

from __future__ import annotations

import re
from pathlib import Path

from limits import parse

from tradewire.realtime import fanout, limits, server

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "WEBSOCKET.md").read_text()
SERVER_SOURCE = Path(server.__file__).read_text()


def per_minute(limit: str) -> str:
    item = parse(limit)
    assert item.GRANULARITY.name == "minute" and item.multiples == 1, limit
    return f"{item.amount} a minute per user"


def table_row(first_cell: str) -> str:
    for line in DOC.splitlines():
        if line.startswith(f"| {first_cell} |"):
            return line
    raise AssertionError(f"docs/WEBSOCKET.md has no table row for {first_cell}")


def test_every_client_event_is_documented_with_its_rate_limit() -> None:
    handlers = set(re.findall(r'"((?:un)?subscribe:[a-z]+)": self\._', SERVER_SOURCE))
    assert handlers, "no handlers found in server.py"
    for event in handlers:
        assert f"### `{event}`" in DOC, f"{event} has no section"
        assert per_minute(limits.EVENT_LIMITS[event]) in table_row(f"`{event}`"), event
    assert set(limits.EVENT_LIMITS) == handlers
    assert per_minute(limits.DEFAULT_EVENT_LIMIT) in table_row(
        "every other event, unknown ones included"
    )


def test_every_server_event_is_documented() -> None:
    # to a socket, to a user, a user event
    emit = r'(?:_emit_to|emit_to_user|emit_user_event)\(\s*[\w.]+,\s*"([a-z_:]+)"'
    emitted = set(re.findall(emit, SERVER_SOURCE))
    emitted |= set(re.findall(r'\.call\(\s*"([a-z_:]+)"', SERVER_SOURCE))
    emitted |= {fanout.QUOTE_EVENT, fanout.BATCH_EVENT}
    assert {"trade:executed", "server:shutdown", "latency:ping"} <= emitted
    for event in emitted:
        assert f"| `{event}` |" in DOC, f"{event} is not in the server events table"


def test_every_error_code_is_documented() -> None:
    codes = set(re.findall(r'fail\(\s*"([A-Z_]+)"', SERVER_SOURCE))
    codes |= set(
        re.findall(r'ConnectRefused\(\s*"[a-z_]+",\s*\{"code": "([A-Z_]+)"', SERVER_SOURCE)
    )
    assert {"VALIDATION_ERROR", "UNAUTHORIZED", "RATE_LIMITED"} <= codes
    for code in codes:
        assert f"`{code}`" in DOC, code


def test_the_limits_table_states_the_numbers_of_the_code() -> None:
    assert (
        f"{limits.ABUSE_MAX_REJECTED} refused events within "
        f"{limits.ABUSE_WINDOW_SECONDS:g} s on one socket" in table_row("flood")
    )
    assert f"| {server.MAX_SYMBOLS_PER_SOCKET} |" in table_row("symbols per socket")
    assert (
        f"{server.MAX_MESSAGE_BYTES // 1024} KiB ({server.MAX_MESSAGE_BYTES:,} bytes)"
        in table_row("message size")
    )
    assert f"| {server.MAX_PACKETS_PER_POST} |" in table_row("packets per long-polling request")
    assert f"every {server.QUOTE_BATCH_INTERVAL * 1000:g} ms" in table_row("quote batches")
    assert f'{{"reconnectAfterMs": {server.SHUTDOWN_RECONNECT_AFTER_MS}}}' in DOC
    assert f"cut to {limits.MAX_TRACKED_EVENT_NAME} characters" in DOC
