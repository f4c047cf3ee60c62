"""Logging for every process, configured once: JSON lines (or text for people), with context.

Each record carries the request's correlation id and order id when there is one (set by the
HTTP middleware in context variables). Messages never carry personal data: the access log
names the route template and the query's parameter names, not their values, and the
application logs ids, never names, e-mail addresses, addresses or note text.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
order_id: ContextVar[str | None] = ContextVar("order_id", default=None)

QUIET_LIBRARIES = ("elastic_transport", "elasticsearch", "urllib3", "grpc", "httpx", "asyncio")


class RequestContext(logging.Filter):
    """Adds the current request's ids to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)  # uvicorn's terminal colours
        record.correlation_id = correlation_id.get()
        current_order = order_id.get()
        if current_order is not None and not hasattr(record, "order_id"):
            record.order_id = current_order
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = getattr(record, "correlation_id", None)
        record.context = f" [{ids}]" if ids else ""
        return super().format(record)


def configure(level: str = "info", fmt: str = "auto", *, verbose_libraries: bool = False) -> None:
    """Route every logger (ours, uvicorn's, the engines' clients) through one handler."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    formatter: dict[str, Any] = (
        {
            "()": JsonFormatter,
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        }
        if fmt == "json"
        else {"()": TextFormatter}
    )
    library_level = level.upper() if verbose_libraries else "WARNING"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": RequestContext}},
            "formatters": {"default": formatter},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "stream": sys.stderr,
                    "formatter": "default",
                    "filters": ["context"],
                }
            },
            "root": {"handlers": ["stderr"], "level": level.upper()},
            "loggers": {
                # uvicorn's own access log prints query strings verbatim: ours replaces it.
                "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
                "uvicorn": {"handlers": [], "propagate": True},
                "uvicorn.error": {"handlers": [], "propagate": True},
                **{name: {"level": library_level} for name in QUIET_LIBRARIES},
            },
        }
    )
