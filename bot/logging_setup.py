"""Structured one-line logs. Message text and talk notes are never logged: only event names,
ids and counts go into `extra`, and the formatter prints nothing else."""
from __future__ import annotations

import json
import logging

__all__ = ["KeyValueFormatter", "configure_logging"]

_STD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in vars(record).items() if k not in _STD}
        line = f"{self.formatTime(record)} {record.levelname} {record.name} {record.getMessage()}"
        if extras:
            line += " " + json.dumps(extras, ensure_ascii=False, default=str)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, KeyValueFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("werkzeug", "alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel("WARNING")
