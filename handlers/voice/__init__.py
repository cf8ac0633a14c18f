"""心声 / voice: an employee's own concern to their branch, named or sealed-anonymous.

`router` is created first; the submodules attach their commands, buttons and dialogs to it.
"""
from __future__ import annotations

from bot.router import Router

router = Router("voice")

from . import actions, commands, forms, pending  # noqa: E402,F401  (register on the router)

__all__ = ["router"]
