"""Rooms: named sets of this instance's sockets, in one structure.

`user:{id}` holds every socket of a user (trade and portfolio pushes), `session:{key}` every
socket of one login session (disconnected together on logout), `quote:{symbol}` the sockets
that get that symbol's quotes one by one and `quotes:{symbol}` those that get them in batches.
A room exists while it has members. Only this instance's sockets are here; what has to reach
another instance's sockets goes through the instance bus (cluster/bus.py) first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar


class Member(Protocol):
    rooms: set[str]


M = TypeVar("M", bound=Member)


class Rooms(Generic[M]):
    def __init__(self) -> None:
        # members[room] = its sockets, in the order they joined (a dict as an ordered set)
        self.members: dict[str, dict[M, None]] = {}

    def join(self, member: M, room: str) -> None:
        self.members.setdefault(room, {})[member] = None
        member.rooms.add(room)

    def leave(self, member: M, room: str) -> None:
        member.rooms.discard(room)
        members = self.members.get(room)
        if members is not None:
            members.pop(member, None)
            if not members:
                del self.members[room]

    def leave_all(self, member: M) -> None:
        for room in list(member.rooms):
            self.leave(member, room)

    def of(self, room: str) -> Iterable[M]:
        """The room's members (a live view: copy it before changing the room meanwhile)."""
        return self.members.get(room, {}).keys()

    def count(self, room: str) -> int:
        return len(self.members.get(room, ()))
