"""Talks and home visits (谈心谈话/走访): dialog, one-line form, edits, coverage, audited reading."""
from __future__ import annotations

from bot.router import Router

from . import actions, commands, forms, pending

__all__ = ["router"]

router = Router("talks").include(forms.router, commands.router, actions.router, pending.router)
