"""Administration over REST: the real-time rollout switch (administrators only)."""

from __future__ import annotations

from fastapi import APIRouter

from tradewire.api.deps import AdminDep, ServicesDep
from tradewire.rollout import RolloutState
from tradewire.schemas import ErrorResponse, RealtimeRolloutIn, RealtimeRolloutOut

router = APIRouter(
    prefix="/api/admin",
    tags=["admin"],
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)


def _out(state: RolloutState) -> RealtimeRolloutOut:
    return RealtimeRolloutOut(enabled=state.enabled, percent=state.percent)


@router.get("/realtime", response_model=RealtimeRolloutOut)
async def get_realtime(_: AdminDep, services: ServicesDep) -> RealtimeRolloutOut:
    """The rollout state this instance applies."""
    return _out(services.rollout.current)


@router.put(
    "/realtime",
    response_model=RealtimeRolloutOut,
    responses={422: {"model": ErrorResponse}},
)
async def put_realtime(
    body: RealtimeRolloutIn, session: AdminDep, services: ServicesDep
) -> RealtimeRolloutOut:
    """Turn real time on or off and set the share of users who get it, on every instance
    (through Redis in a cluster). Sockets of users now outside get `realtime:disabled` and
    are disconnected; users now inside connect when their dashboard next checks
    `GET /api/config`."""
    state = await services.rollout.set(RolloutState(body.enabled, body.percent))
    return _out(state)
