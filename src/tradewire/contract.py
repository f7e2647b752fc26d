"""The wire contract as documents: the REST API's OpenAPI document, and the Socket.IO events as
the `components.schemas` of a second OpenAPI document (no paths), both made from the pydantic
models of `schemas.py`.

`scripts/generate-contract` (`make contract`) writes them to `dashboard/src/api/generated/` and
turns each into TypeScript with openapi-typescript; `tests/test_contract.py` fails when the
committed files are not what it writes.

The events document holds every payload and ack model, plus three maps by event name:
`ServerEvents` (push -> payload), `ClientEventPayloads` (client event -> payload, for the events
that take one) and `ClientEventAcks` (client event -> its successful ack or `AckFailure`).
"""

from __future__ import annotations

import json
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from tradewire.schemas import (
    CLIENT_EVENTS,
    SERVER_EVENTS,
    AckFailure,
    ConnectRefused,
    TradeFailed,
)

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"


def rest_openapi() -> dict[str, Any]:
    """What the service serves at `/openapi.json`, with default settings."""
    from tradewire.app import create_app  # the app pulls in every service; only load it here
    from tradewire.settings import Settings

    with tempfile.TemporaryDirectory() as data_dir:  # the app makes its data folder
        app = create_app(Settings(_env_file=None, data_dir=Path(data_dir)))
        document: dict[str, Any] = app.state.fastapi.openapi()
    return document


def events_openapi() -> dict[str, Any]:
    """Every Socket.IO payload and ack as JSON Schema, and the event name maps."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = []

    def add(model: type[BaseModel], mode: JsonSchemaMode) -> None:
        if (model, mode) not in models:
            models.append((model, mode))

    # what the server sends is described as serialized; what it accepts as validated
    for model in SERVER_EVENTS.values():
        add(model, "serialization")
    for event in CLIENT_EVENTS.values():
        if event.payload is not None:
            add(event.payload, "validation")
        add(event.ack, "serialization")
    add(AckFailure, "serialization")
    add(ConnectRefused, "serialization")
    add(TradeFailed, "serialization")  # a rejection without its seq (clients make their own)
    keys, top = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(keys[(model, mode)])

    schemas["ServerEvents"] = _event_map(
        "Every server push by event name, and its payload.",
        {name: ref(model, "serialization") for name, model in SERVER_EVENTS.items()},
    )
    schemas["ClientEventPayloads"] = _event_map(
        "The payload of each client event that takes one (the others take none).",
        {
            name: ref(event.payload, "validation")
            for name, event in CLIENT_EVENTS.items()
            if event.payload is not None
        },
    )
    failure = ref(AckFailure, "serialization")
    schemas["ClientEventAcks"] = _event_map(
        "The ack of each client event: its answer, or AckFailure.",
        {
            name: {"oneOf": [ref(event.ack, "serialization"), failure]}
            for name, event in CLIENT_EVENTS.items()
        },
    )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "tradewire Socket.IO events",
            "version": version("tradewire"),
            "description": "Payloads and acks of the Socket.IO events (docs/WEBSOCKET.md).",
        },
        "paths": {},
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _event_map(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def dumps(document: dict[str, Any]) -> str:
    """The committed form of a document: indented, key order kept, one final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
