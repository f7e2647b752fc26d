"""Every way a tradewire call can fail, as an exception a program can catch by type.

The codes are those of docs/WEBSOCKET.md ("Errors") and of the REST API's
`{"error": {"code", "message"}}` bodies; each exception keeps the server's `code` and `message`.
"""

from __future__ import annotations

from typing import Any

import pydantic

from tradewire.schemas import AckFailure, ConnectRefused, RateLimitedAckError, UnknownSymbolAckError


class TradewireError(Exception):
    """Base of everything this client raises on purpose."""


# ---------------------------------------------------------------- REST


class ApiError(TradewireError):
    """A REST call answered with an error status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AuthenticationFailed(ApiError):
    """401: wrong username or password, or a session that is over. Log in again."""


def api_error(status: int, body: Any) -> ApiError:
    """The exception of an error answer; `body` is its decoded JSON (or anything else)."""
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code", "HTTP_ERROR")) if isinstance(error, dict) else "HTTP_ERROR"
    message = str(error.get("message", "")) if isinstance(error, dict) else str(body)[:200]
    cls = AuthenticationFailed if status == 401 else ApiError
    return cls(status, code, message)


# ---------------------------------------------------------------- connecting


class ConnectionRefused(TradewireError):
    """The server refused the Socket.IO connection (`connect_error`)."""

    code = "CONNECT_ERROR"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(f"{code or self.code}: {message}")
        if code is not None:
            self.code = code
        self.message = message


class Unauthorized(ConnectionRefused):
    """No valid session: logged out, expired, or never valid. Not retried: log in again."""

    code = "UNAUTHORIZED"


class ShuttingDown(ConnectionRefused):
    """The instance is stopping. Retried with back-off by the reconnecting client."""

    code = "SHUTTING_DOWN"


class TooManyConnections(ConnectionRefused):
    """The session (100) or user (200) holds too many sockets on this instance."""

    code = "TOO_MANY_CONNECTIONS"


class RealtimeDisabled(ConnectionRefused):
    """Real time is off for this user: an administrator turned it off or left the user outside
    the rollout (a refused handshake, or a `realtime:disabled` push before a disconnect). Not
    retried: use the REST API, and ask `GET /api/config` (`client.rest.config()`) again later."""

    code = "REALTIME_DISABLED"


_REFUSALS: dict[str, type[ConnectionRefused]] = {
    cls.code: cls for cls in (Unauthorized, ShuttingDown, TooManyConnections, RealtimeDisabled)
}


def connection_refused(data: Any) -> ConnectionRefused:
    """The exception of a CONNECT_ERROR packet's payload."""
    try:
        refused = ConnectRefused.model_validate(data)
    except pydantic.ValidationError:
        message = data.get("message") if isinstance(data, dict) else data
        return ConnectionRefused(str(message))
    refusal = _REFUSALS.get(refused.data.code)
    if refusal is None:  # a code newer than this client
        return ConnectionRefused(refused.message, refused.data.code)
    return refusal(refused.message)


class ConnectionLost(TradewireError):
    """The connection ended before the call was answered (or it was never open)."""


class NotConnected(ConnectionLost):
    """A socket call made while the client is not connected (not yet, or reconnecting)."""


class AckTimeout(TradewireError, TimeoutError):
    """The server did not answer an event within the timeout."""


# ---------------------------------------------------------------- acks


class EventRefused(TradewireError):
    """A client event answered `{"ok": false, "error": {...}}`."""

    code = "EVENT_REFUSED"

    def __init__(self, event: str, message: str, code: str | None = None) -> None:
        super().__init__(f"{event}: {code or self.code}: {message}")
        if code is not None:
            self.code = code
        self.event = event
        self.message = message


class InvalidPayload(EventRefused):
    """`VALIDATION_ERROR`: the payload is not what the event takes; `message` names the field."""

    code = "VALIDATION_ERROR"


class UnknownSymbol(EventRefused):
    """`UNKNOWN_SYMBOL`: `symbols` are not traded here; nothing was subscribed."""

    code = "UNKNOWN_SYMBOL"

    def __init__(self, event: str, message: str, symbols: list[str]) -> None:
        super().__init__(event, message)
        self.symbols = symbols


class LimitExceeded(EventRefused):
    """`LIMIT_EXCEEDED`: the socket would watch more than 50 symbols."""

    code = "LIMIT_EXCEEDED"


class UnknownEvent(EventRefused):
    """`UNKNOWN_EVENT`: the server has no such event."""

    code = "UNKNOWN_EVENT"


class RateLimited(EventRefused):
    """`RATE_LIMITED`: too many events of this kind; send it again after `retry_after_ms`.

    Also raised without asking the server when the server already said the event kind is
    refused until later (its `rate_limited` push or an earlier refusal)."""

    code = "RATE_LIMITED"

    def __init__(self, event: str, message: str, retry_after_ms: int) -> None:
        super().__init__(event, message)
        self.retry_after_ms = retry_after_ms


class Forbidden(EventRefused):
    """`FORBIDDEN`: `subscribe:ops` by a user who is not an administrator."""

    code = "FORBIDDEN"


class ServerError(EventRefused):
    """`INTERNAL`: a failure on the server's side; try again."""

    code = "INTERNAL"


_ACK_ERRORS: dict[str, type[EventRefused]] = {
    cls.code: cls for cls in (InvalidPayload, LimitExceeded, UnknownEvent, Forbidden, ServerError)
}


def event_refused(event: str, ack: Any) -> EventRefused:
    """The exception of a failed ack (`{"ok": false, "error": {...}}`)."""
    try:
        error = AckFailure.model_validate(ack).error
    except pydantic.ValidationError:
        return EventRefused(event, f"unexpected answer {str(ack)[:200]}")
    if isinstance(error, RateLimitedAckError):
        return RateLimited(event, error.message, error.retry_after_ms)
    if isinstance(error, UnknownSymbolAckError):
        return UnknownSymbol(event, error.message, error.symbols)
    return _ACK_ERRORS[error.code](event, error.message)
