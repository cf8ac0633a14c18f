"""Scheduler entry points of the cases module (the scheduler calls these by name)."""
from __future__ import annotations

import logging

from models.db import session_scope
from models.outbox import Priority
from scheduler.context import JobContext

from .sla import run_sla

log = logging.getLogger("lianxin.cases")

__all__ = ["sla_escalation"]


def sla_escalation(job: JobContext) -> int:
    """Every 15 minutes: reminders and escalations for overdue cases, through the outbox."""
    with session_scope(job.session_factory) as db:
        n = run_sla(db, job.config, job.now(),
                    lambda people, msg, ref, idem: job.notify(db, people, msg, ref=ref, idem_key=idem,
                                                              priority=Priority.URGENT))
    if n:
        log.info("cases.sla_steps", extra={"n": n})
    return n
