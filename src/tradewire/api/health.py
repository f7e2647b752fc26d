"""Liveness, readiness and client configuration."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tradewire.api.deps import OptionalSessionDep, ServicesDep
from tradewire.schemas import ConfigOut

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ready to take traffic: the database answers (and, in cluster mode, Redis pub/sub flows)."""
    checks = await services.readiness()
    ready = all(checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": checks,
        "feedLeader": services.lease.is_leader,
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/api/config", response_model=ConfigOut, tags=["accounts"])
async def config(services: ServicesDep, session: OptionalSessionDep) -> ConfigOut:
    """What a client needs before it connects: whether real time is on for this user (the
    rollout, changed at run time; without a session: whether it is on for every user), and
    where. A polling client asks again now and then, and connects once it says yes."""
    state = services.rollout.current
    if session is None:
        enabled = state.enabled and state.percent == 100
    else:
        enabled = state.admits(session.user_id)
    return ConfigOut(realtime_enabled=enabled)
