"""Property-based fuzzing of every REST operation in the OpenAPI spec (schemathesis + hypothesis)
against a real server process: whatever a client sends, the answer is never a 500 and every
error is the documented `{"error": {"code", "message"}}`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import make_settings
from tests.harness.process import ServiceProcess
from tradewire.app import create_app


def _spec() -> dict[str, object]:
    app = create_app(make_settings(Path("/nonexistent")))
    return app.state.fastapi.openapi()  # type: ignore[no-any-return]


SCHEMA = schemathesis.openapi.from_dict(_spec())
# Logout would end the session every other case uses; tests/test_accounts.py covers it.
OPERATIONS = [op.ok() for op in SCHEMA.get_all_operations() if op.ok().path != "/api/auth/logout"]


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    with ServiceProcess(
        {"AUTH_RATE_LIMIT": "100000/minute", "MARKET_SEED": "1"}, log_level="warning"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def session_id(service: ServiceProcess) -> str:
    r = httpx.post(
        f"{service.url}/api/auth/login",
        json={"username": "demo", "password": "demo-password"},
        timeout=10,
    )
    return str(r.json()["sessionId"])


@pytest.mark.slow
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_input_produces_a_server_error(
    operation: schemathesis.APIOperation, service: ServiceProcess, session_id: str
) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case: schemathesis.Case) -> None:
        response = case.call(
            base_url=service.url, timeout=10, headers={"Authorization": f"Bearer {session_id}"}
        )
        assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:300]}"
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body

    check()
    assert "Traceback" not in service.log_text()
