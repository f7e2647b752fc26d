"""One wire contract: the pydantic models of `schemas.py`, the dashboard's TypeScript generated
from them, what a running server really sends, and the examples in docs/WEBSOCKET.md.

- the generated files in `dashboard/src/api/generated/` are what `make contract` writes now;
- every Socket.IO event of the server has its models (`CLIENT_EVENTS`, `SERVER_EVENTS`), and
  every ack error code has its model;
- a live server's acks and pushes are exactly those models (validated, and serialized back to
  the same JSON);
- every JSON example in docs/WEBSOCKET.md is exactly its event's model.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
from limits import parse
from pydantic import TypeAdapter

from tests.harness.waiting import wait_until
from tests.realtime.clients import Client
from tests.support import LiveServer
from tradewire.contract import events_openapi
from tradewire.realtime import fanout, limits, server
from tradewire.schemas import (
    CLIENT_EVENTS,
    SERVER_EVENTS,
    AckError,
    AckFailure,
    ConnectRefused,
    RateLimitedAckError,
    Schema,
    UnknownSymbolAckError,
    UserEventsPage,
)

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "scripts" / "generate-contract"
GENERATED = ROOT / "dashboard" / "src" / "api" / "generated"
GENERATED_FILES = ["openapi.json", "events.json", "rest.ts", "events.ts"]
# The JS SDK's copy of the TypeScript (clients/js cannot import from the dashboard).
SDK_GENERATED = ROOT / "clients" / "js" / "src" / "generated"
SDK_GENERATED_FILES = ["rest.ts", "events.ts"]
DOC = ROOT / "docs" / "WEBSOCKET.md"
SERVER_SOURCE = Path(server.__file__).read_text()
FIX = "run `make contract` and commit dashboard/src/api/generated/ and clients/js/src/generated/"


def exactly(model: Any, data: Any) -> None:
    """`data` validates as `model` (a model class or a union of them) and serializes back to
    the same JSON: no field missing, none extra, every value in its wire form."""
    value = TypeAdapter(model).validate_python(data)
    assert isinstance(value, Schema), value
    assert value.wire() == data, f"{type(value).__name__} does not round-trip"


def ack_of(event: str) -> Any:
    return CLIENT_EVENTS[event].ack | AckFailure


# ---------------------------------------------------------------- the generated files


def test_generated_files_are_what_make_contract_writes(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--out",
            str(tmp_path),
            "--sdk-out",
            str(tmp_path / "sdk"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"{GENERATOR.name} failed:\n{run.stderr}"
    stale = [
        name
        for name in GENERATED_FILES
        if not (GENERATED / name).exists()
        or (GENERATED / name).read_bytes() != (tmp_path / name).read_bytes()
    ] + [
        f"clients/js/src/generated/{name}"
        for name in SDK_GENERATED_FILES
        if not (SDK_GENERATED / name).exists()
        or (SDK_GENERATED / name).read_bytes() != (tmp_path / "sdk" / name).read_bytes()
    ]
    assert not stale, f"stale generated files {stale}: {FIX}"
    assert sorted(p.name for p in GENERATED.iterdir()) == sorted(GENERATED_FILES)
    assert sorted(p.name for p in SDK_GENERATED.iterdir()) == sorted(SDK_GENERATED_FILES)


def test_the_events_document_maps_every_event_to_its_schemas() -> None:
    schemas = events_openapi()["components"]["schemas"]
    assert set(schemas["ServerEvents"]["properties"]) == set(SERVER_EVENTS)
    assert set(schemas["ClientEventAcks"]["properties"]) == set(CLIENT_EVENTS)
    takes_payload = {name for name, e in CLIENT_EVENTS.items() if e.payload is not None}
    assert set(schemas["ClientEventPayloads"]["properties"]) == takes_payload
    refs = re.findall(r'"\$ref": "#/components/schemas/([A-Za-z]+)"', json.dumps(schemas))
    assert set(refs) <= set(schemas), "a reference to a schema that is not in the document"


# ---------------------------------------------------------------- every event has its models


def test_every_event_of_the_server_has_models() -> None:
    assert set(CLIENT_EVENTS) == set(limits.EVENT_LIMITS)  # one limit per handled event
    # to a socket, to a user, a user event
    emit = r'(?:_emit_to|emit_to_user|emit_user_event)\(\s*[\w.]+,\s*"([a-z_:]+)"'
    emitted = set(re.findall(emit, SERVER_SOURCE))
    emitted |= set(re.findall(r'\.call\(\s*"([a-z_:]+)"', SERVER_SOURCE))
    emitted |= {fanout.QUOTE_EVENT, fanout.BATCH_EVENT}
    assert set(SERVER_EVENTS) == emitted


def test_every_ack_error_code_has_a_model() -> None:
    codes = set(re.findall(r'fail\(\s*"([A-Z_]+)"', SERVER_SOURCE))
    modelled = [
        code
        for model in (AckError, RateLimitedAckError, UnknownSymbolAckError)
        for code in get_args(model.model_fields["code"].annotation)
    ]
    assert len(modelled) == len(set(modelled)), "a code modelled twice"
    assert codes == set(modelled)


# ---------------------------------------------------------------- a live server


async def test_a_live_servers_acks_and_pushes_are_the_models(server: LiveServer) -> None:
    admin = await server.login()  # demo: an administrator
    await server.place_order(admin, symbol="AAPL", side="buy", quantity=2)
    user = await register(server, "contract_user")
    async with Client() as client, Client() as batching, Client() as plain:
        await client.connect(server.url, admin)
        await batching.connect(server.url, admin)
        await plain.connect(server.url, user)

        good = {
            "subscribe:portfolio": None,
            "subscribe:trades": None,
            "subscribe:watchlist": {"symbols": ["AAPL", "MSFT"]},
            "unsubscribe:watchlist": {"symbols": ["MSFT"]},
            "subscribe:ops": None,
        }
        for event, payload in good.items():
            ack = await client.call(event, payload)
            assert ack["ok"] is True, (event, ack)
            exactly(CLIENT_EVENTS[event].ack, ack)
        assert (await client.call("subscribe:trades"))["trades"], "no trade in the snapshot"
        batched = await batching.call("subscribe:watchlist", {"symbols": ["AAPL"], "batch": True})
        exactly(CLIENT_EVENTS["subscribe:watchlist"].ack, batched)

        refusals = [
            (client, "subscribe:watchlist", {"symbols": []}, "VALIDATION_ERROR"),
            (client, "subscribe:watchlist", {"symbols": ["NOPE"]}, "UNKNOWN_SYMBOL"),
            (client, "no:such:event", None, "UNKNOWN_EVENT"),
            (plain, "subscribe:ops", None, "FORBIDDEN"),
        ]
        for socket, event, payload, code in refusals:
            ack = await socket.call(event, payload)
            assert ack["ok"] is False and ack["error"]["code"] == code, ack
            exactly(AckFailure, ack)
        for _ in range(parse(limits.EVENT_LIMITS["unsubscribe:ops"]).amount * 2):  # until refused
            ack = await plain.call("unsubscribe:ops")
            if ack["ok"] is False:
                break
            exactly(CLIENT_EVENTS["unsubscribe:ops"].ack, ack)
        assert ack["error"]["code"] == "RATE_LIMITED", ack
        exactly(AckFailure, ack)

        await server.place_order(admin, symbol="MSFT", side="buy", quantity=1)
        await server.place_order(admin, symbol="MSFT", side="sell", quantity=10**6)
        wanted = {"quote:update", "trade:executed", "portfolio:update", "trade:failed"}
        wanted |= {"ops:stats", "latency:ping"}
        await wait_until(
            lambda: wanted <= {s.name for s in client.seen},
            timeout=15,  # a latency probe goes out every 5 s
            what=f"{sorted(wanted)} on the admin's socket",
        )
        await batching.wait_for("quotes:update")
        await plain.wait_for("rate_limited")
        await server.stop()  # server:shutdown to every socket, then the disconnect
        await client.wait_for("server:shutdown")

        checked: set[str] = set()
        for socket in (client, batching, plain):
            for seen in socket.seen:
                if seen.name in SERVER_EVENTS:
                    exactly(SERVER_EVENTS[seen.name], seen.data)
                    checked.add(seen.name)
        # realtime:disabled ends every socket: test_the_rollout_push_and_refusal_are_the_models
        assert checked == set(SERVER_EVENTS) - {"realtime:disabled"}


async def test_the_rollout_push_and_refusal_are_the_models(server: LiveServer) -> None:
    admin = await server.login()
    async with Client() as client, Client() as later:
        await client.connect(server.url, admin)
        async with server.http(admin) as http:
            r = await http.put("/api/admin/realtime", json={"enabled": False, "percent": 100})
            assert r.status_code == 200, r.text
        [notice] = await client.wait_for("realtime:disabled")
        exactly(SERVER_EVENTS["realtime:disabled"], notice)
        assert notice == {"reason": "disabled"}
        exactly(ConnectRefused, await later.refused(server.url, admin))


async def register(server: LiveServer, username: str) -> str:
    async with server.http() as http:
        res = await http.post(
            "/api/auth/register", json={"username": username, "password": "password-1"}
        )
        assert res.status_code == 201, res.text
    return await server.login(username, "password-1")


async def test_a_refused_handshake_is_the_model(server: LiveServer) -> None:
    async with Client() as client:
        data = await client.refused(server.url, "not-a-session")
    exactly(ConnectRefused, data)


# ---------------------------------------------------------------- docs/WEBSOCKET.md


@dataclass(frozen=True)
class Example:
    """A ```json block of the doc and what it is an example of."""

    line: int
    section: str  # the `## ` heading it is under
    event: str | None  # the client event (`### ` heading) or push (paragraph) it illustrates
    data: Any


def introduced_event(line: str, previous: str) -> str | None:
    """The event a heading (`### \\`name\\``) or a paragraph's start (`\\`name\\`:`) names."""
    heading = re.match(r"### `([a-z_:]+)`", line)
    paragraph = re.match(r"`([a-z_:]+)`(?::| \()", line) if not previous else None
    found = heading or paragraph
    return found.group(1) if found else None


def doc_examples() -> list[Example]:
    """Client events have a `### \\`name\\`` heading each, and their acks as examples; a server
    event's example follows a paragraph that starts with the event's name in backticks and a
    colon or a parenthesis ("`trade:executed`:", "`rate_limited` (the event name...")."""
    examples: list[Example] = []
    section, event = "", None
    lines = DOC.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section, event = line[3:], None
        elif named := introduced_event(line, lines[i - 1]):
            event = named
        elif line == "```json":
            end = lines.index("```", i)
            block = "\n".join(lines[i + 1 : end])
            examples.append(Example(i + 1, section, event, json.loads(block)))
            i = end
        i += 1
    return examples


EXAMPLES = doc_examples()


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}" for e in EXAMPLES])
def test_every_json_example_of_the_doc_is_its_events_model(example: Example) -> None:
    where = f"docs/WEBSOCKET.md:{example.line}"
    if example.section == "Authentication":
        exactly(ConnectRefused, example.data)
    elif example.section.startswith("Client events"):
        assert example.event in CLIENT_EVENTS, f"{where}: not under a client event's heading"
        exactly(ack_of(example.event), example.data)
    elif example.section.startswith("Server events"):
        assert example.event in SERVER_EVENTS, f"{where}: no server event introduces it"
        exactly(SERVER_EVENTS[example.event], example.data)
    elif example.section == "Connection-state recovery":  # the GET /api/events answer
        exactly(UserEventsPage, example.data)
    else:
        pytest.fail(f"{where}: an example outside the event sections ({example.section})")


def test_the_doc_has_an_example_of_every_ack_and_push() -> None:
    shown = {e.event for e in EXAMPLES}
    assert set(CLIENT_EVENTS) <= shown
    # ops:stats is shown in the subscribe:ops answer, latency:ping ({"ts": ...}) in the table
    assert set(SERVER_EVENTS) - {"ops:stats", "latency:ping"} <= shown


def test_the_doc_examples_are_found() -> None:
    assert len(EXAMPLES) == len(re.findall(r"^```json$", DOC.read_text(), re.M))
    assert {e.section for e in EXAMPLES} >= {"Authentication"}
    shutdown = [e for e in EXAMPLES if e.event == "server:shutdown"]
    assert [e.data for e in shutdown] == [{"reconnectAfterMs": server.SHUTDOWN_RECONNECT_AFTER_MS}]
