"""抽查回访 / sampled confirmation: a share of saved talks is confirmed by the employee by chat.

`router` first; the submodules attach their commands, buttons and the talk.saved subscriber.
"""
from __future__ import annotations

from bot.router import Router

router = Router("sampling")

from . import actions, commands, events  # noqa: E402,F401  (register on the router)

__all__ = ["router"]
