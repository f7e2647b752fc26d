"""Domain errors with a stable machine-readable code.

REST turns them into `{"error": {"code", "message"}}` with `status`; the real-time layer into an
ack `{"ok": false, "error": {"code", "message"}}`. Messages are written for users and never carry
internals.
"""

from __future__ import annotations


class AppError(Exception):
    status: int = 400
    code: str = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class Unauthorized(AppError):
    status, code = 401, "UNAUTHORIZED"


class Forbidden(AppError):
    status, code = 403, "FORBIDDEN"


class NotFound(AppError):
    status, code = 404, "NOT_FOUND"


class Conflict(AppError):
    status, code = 409, "CONFLICT"


class ValidationFailed(AppError):
    status, code = 422, "VALIDATION_ERROR"


class UnknownSymbol(AppError):
    status, code = 422, "UNKNOWN_SYMBOL"


class IdempotencyKeyReused(AppError):
    """An `Idempotency-Key` already names an order with a different body."""

    status, code = 422, "IDEMPOTENCY_KEY_REUSED"


class RateLimited(AppError):
    status, code = 429, "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_ms: int):
        super().__init__(message)
        self.retry_after_ms = retry_after_ms
