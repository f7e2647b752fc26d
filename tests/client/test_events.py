"""The Python client reads every push the contract (`tradewire.schemas.SERVER_EVENTS`) names,
with the contract's model: a new event or a changed payload cannot be missed here."""

from __future__ import annotations

from tradewire import schemas
from tradewire.client.events import SERVER_EVENTS


def test_the_client_knows_every_server_event_with_its_contract_model() -> None:
    assert {name: event.model for name, event in SERVER_EVENTS.items()} == schemas.SERVER_EVENTS
