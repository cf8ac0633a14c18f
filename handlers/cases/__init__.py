"""Escalation and care requests: flag → secretary card → care request → committee decision →
one-to-one helper → progress → closed, with SLA reminders and escalation (see DESIGN.md §3.2–3.3).

Modules: cards (card builders, CaseAction), service (who gets what), flows (the operations),
actions (buttons), commands (chat commands), forms (the small forms), events (talk.flagged),
sla (overdue rules), jobs (the scheduler entry point).
"""
from __future__ import annotations

from bot.router import Router

from . import actions, commands, events, forms, pending

__all__ = ["router"]

router = Router("cases").include(commands.router, forms.router, actions.router, events.router, pending.router)
