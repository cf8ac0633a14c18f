"""The cases router (one per domain module; handlers/__init__.py lists handlers.cases)."""
from __future__ import annotations

from bot.router import Router

router = Router("cases")
