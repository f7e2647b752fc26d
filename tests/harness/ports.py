"""Free TCP ports on loopback for servers the tests start."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now.

    The OS picks it (bind to port 0), so parallel test runs do not collide on a fixed number.
    Another process could still take it before the caller binds it; the servers started by the
    harness fail fast in that case, with their log in the error.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
