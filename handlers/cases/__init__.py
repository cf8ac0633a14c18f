"""Care items (关爱事项): flag → secretary card → care request → approval chain (configured per
organisation) → one-to-one helper → progress → closed, with SLA reminders and escalation (DESIGN.md §3.2–3.3).

Modules: cards (card builders, CaseAction), service (who gets what), chain (the approval-chain
table from config), flows (the secretary and helper operations), approvals (submit, decide per
level, withdraw, remind), actions (buttons), commands (their text equivalents and the other acting
commands), reading (待办, 事项 N, 卡片 N, pending_items), forms, events (talk.flagged,
talk.flag_changed), sla (overdue rules), jobs (the scheduler entry point).
"""
from __future__ import annotations

from bot.router import Router

from . import actions, commands, events, forms, pending, reading

__all__ = ["router"]

router = Router("cases").include(reading.router, commands.router, forms.router, actions.router, events.router,
                                 pending.router)
