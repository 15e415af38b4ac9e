"""Logs: one JSON object per line (or text for a terminal), the same for uvicorn's own lines.

Every line made while a request is handled carries its request id (the
client's `X-Request-ID` when it sends a sensible one, else a new one; see
`graph.core.observability.RequestIds`). Nothing here logs keys, passwords,
query texts, variables or stored documents: uvicorn's access lines lose their
query string, which may hold a GET request's query and variables.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

from graph.core.settings import Settings

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class StripQueryString(logging.Filter):
    """uvicorn's access line without the query string (it may carry a query and its variables)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def log_format(settings: Settings) -> str:
    """JSON unless asked for text, or unset with a terminal on stdout."""
    if settings.log_format is not None:
        return settings.log_format
    return "text" if sys.stdout.isatty() else "json"


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the application and uvicorn (passed to uvicorn too)."""
    level = settings.log_level.upper()
    formatter: dict[str, Any]
    if log_format(settings) == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            # ISO 8601 in UTC.
            "timestamp": "time",
            # uvicorn adds an ANSI-coloured copy of some messages: not for JSON.
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
        }
    else:
        formatter = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    filters = ["request_id"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "strip_query": {"()": StripQueryString},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": filters,
            },
            "access": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": [*filters, "strip_query"],
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["default"], "level": level},
    }
