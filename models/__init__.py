"""SQLAlchemy 2.x models. Importing this package registers every table on Base.metadata."""
from __future__ import annotations

import importlib

from .base import Base

MODEL_MODULES = [
    "models.org",
    "models.audit",
    "models.outbox",
    "models.talk",
    "models.case",
    "models.activity",
    "models.jobrun",
    "models.learning",
    "models.activeday",
    "models.voice",
    "models.notice",
    "models.sampling",
    "models.websession",
    "models.pulse_alert",
    "models.export_file",
]

for _name in MODEL_MODULES:
    importlib.import_module(_name)

__all__ = ["MODEL_MODULES", "Base"]
