"""共性问题 / common problems: the alert job finds a team's shared problem (K flags of one category
in a window, or 波动+严重 rising two quarters in a row); the branch secretary gets one card naming
the team and the category, and may turn it into an item followed like a flag.

`router` is created first; the submodules attach their commands and buttons to it.
"""
from __future__ import annotations

from bot.router import Router

router = Router("pulse")

from . import actions, commands  # noqa: E402,F401  (register on the router)

__all__ = ["router"]
