"""每日待办 / digest: one non-urgent message per workday with what each person owes, quiet
hours, and 免打扰 / mute. `router` first; the submodules attach their commands to it."""
from __future__ import annotations

from bot.router import Router

router = Router("digest")

from . import commands  # noqa: E402,F401  (register on the router)

__all__ = ["router"]
