"""Test harness: real servers (PostgreSQL, Redis, the tradewire service itself) started on free
loopback ports and torn down after, plus explicit waiting with named timeouts.

pytest fixtures live in `tests.harness.fixtures` (load it as a plugin).
"""

from tests.harness.binaries import ServiceUnavailable
from tests.harness.ports import free_port
from tests.harness.postgres import PostgresServer
from tests.harness.process import LoggedProcess, ProcessExited, ServiceProcess
from tests.harness.redis import RedisServer
from tests.harness.waiting import clear_of_a_minute_edge, wait_until, wait_until_sync

__all__ = [
    "LoggedProcess",
    "PostgresServer",
    "ProcessExited",
    "RedisServer",
    "ServiceProcess",
    "ServiceUnavailable",
    "clear_of_a_minute_edge",
    "free_port",
    "wait_until",
    "wait_until_sync",
]
