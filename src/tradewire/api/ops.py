"""The ops view's figures over REST (for a dashboard that polls)."""

from __future__ import annotations

from fastapi import APIRouter

from tradewire.api.deps import ServicesDep, SessionDep
from tradewire.errors import Forbidden
from tradewire.schemas import ErrorResponse, OpsStats

router = APIRouter(prefix="/api", tags=["ops"])


@router.get(
    "/ops/stats",
    response_model=OpsStats,
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)
async def ops_stats(session: SessionDep, services: ServicesDep) -> OpsStats:
    """This instance's live figures (the `ops:stats` payload). Admins only."""
    if session.role != "admin":
        raise Forbidden("The ops view is for administrators.")
    return OpsStats.model_validate(services.realtime.ops_snapshot())
