"""Logging for ``chainwatch run``: one line per event, as text or as JSON lines.

Structured fields travel in ``extra={"fields": {...}}`` so the JSON form keeps them as keys
(``{"time": ..., "level": ..., "message": ..., "watcher": "btc-main", ...}``) and the text form
appends them as ``key=value``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

LOGGER = "chainwatch.run"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _time(record: logging.LogRecord) -> str:
    return (
        dt.datetime.fromtimestamp(record.created, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        line.update(_fields(record))
        return json.dumps(line, default=str, sort_keys=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        text = f"{_time(record)} {record.levelname.lower():7} {record.getMessage()}"
        return f"{text} {extra}" if extra else text


def setup(fmt: str) -> logging.Logger:
    """The run logger, writing to stderr in ``fmt`` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger = logging.getLogger(LOGGER)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger
