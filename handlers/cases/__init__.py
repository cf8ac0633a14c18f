"""Escalation and care requests: flag → secretary card → care request → committee decision →
one-to-one helper → progress → closed, with SLA reminders and escalation (see DESIGN.md §3.2–3.3).

Modules: cards (card builders, CaseAction), service (who gets what, card updates), flows (the
operations), actions (buttons), commands (chat commands and forms), events (talk.flagged),
sla (overdue rules), jobs (the scheduler entry point).
"""
from __future__ import annotations

from . import actions, commands, events  # noqa: F401  (register handlers on the router)
from .routing import router

__all__ = ["router"]
