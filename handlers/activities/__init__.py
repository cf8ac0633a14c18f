"""Activities by card: publish, join with a button, seats and waitlist, check-in, reminders."""
from __future__ import annotations

from bot.router import Router

from . import actions, commands, forms, pending

__all__ = ["router"]

router = Router("activities").include(actions.router, commands.router, forms.router, pending.router)
