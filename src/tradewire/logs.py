"""Logging: readable text by default, one JSON object per line with `LOG_FORMAT=json`.

Context goes in `extra=` (user_id, sid, event, reason, ...) and is printed with the message;
`request_id` is added to every record logged while a REST request is handled (set by
`tradewire.api.request_id`).

Session tokens and passwords are never passed to a logger. `RedactSecrets` is the safety net
behind that rule, not the rule: it masks what looks like one if it slipped into a message, an
`extra=` value or a traceback anyway.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the REST request being handled in this context (None outside requests)."""

REDACTED = "[redacted]"

# Attributes every LogRecord has; anything else was passed through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}

# Loggers that print payloads at debug level (websockets logs every frame, the Socket.IO
# handshake with its session token included), or are just too chatty to be useful.
_QUIET = ("websockets", "aiosqlite", "sqlalchemy.engine")


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class RequestContext(logging.Filter):
    """Adds `request_id` to records logged while a request is handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


# Keys whose values are secrets whatever they hold (compared lower-case, without "_" or "-").
_SECRET_KEYS = ("password", "passwd", "secret", "token", "authorization", "cookie", "sessionid")
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    # key=value, key: value, "key": "value" for secret-sounding keys (JSON, query strings, reprs)
    (
        re.compile(
            r"(?i)([\"']?\b[\w-]*(?:password|passwd|secret|token|session_?id|authorization)"
            r"[\"']?\s*[:=]\s*[\"']?)(?!\[redacted\])[^\"'\s,;&}]+"
        ),
        rf"\1{REDACTED}",
    ),
    # the session cookie, or any cookie named like a session
    (re.compile(r"(?i)(\b\w*session\w*=)(?!\[redacted\])[^;\s\"',]+"), rf"\1{REDACTED}"),
    # a bare session token: `secrets.token_urlsafe(32)` is exactly 43 URL-safe characters
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"), REDACTED),
)


def redact(text: str) -> str:
    """`text` with anything that looks like a password, token or session cookie masked."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _is_secret_key(key: str) -> bool:
    normalized = key.lower().replace("_", "").replace("-", "")
    return any(word in normalized for word in _SECRET_KEYS)


def _scrub(key: str, value: Any, depth: int = 0) -> Any:
    if _is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if depth < 3 and isinstance(value, dict):
        return {k: _scrub(str(k), v, depth + 1) for k, v in value.items()}
    if depth < 3 and isinstance(value, list | tuple):
        return [_scrub(key, v, depth + 1) for v in value]
    return value


class RedactSecrets(logging.Filter):
    """Masks secrets in the message, the `extra=` values and the exception text of a record.

    The message is formatted here (args merged), so the handler prints the masked text."""

    _format_exception = logging.Formatter().formatException

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return True
        record.msg, record.args = redact(message), None
        for key, value in _context(record).items():
            setattr(record, key, _scrub(key, value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._format_exception(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = _context(record)
        if ctx:
            line += " " + " ".join(f"{k}={v}" for k, v in ctx.items())
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info or record.exc_text:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    # Handler filters see every record that reaches the handler, from any logger.
    handler.addFilter(RequestContext())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log repeats every request; our own logs carry the context that matters.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in _QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
