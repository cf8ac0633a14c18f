"""Activities by card: publish, join with a button, seats and waitlist, check-in, reminders.

`router` is created first; the submodules attach their commands, buttons and the publish
dialog to it when imported here.
"""
from __future__ import annotations

from bot.router import Router

router = Router("activities")

from . import actions, commands, form  # noqa: E402,F401  (register on the router)

__all__ = ["router"]
