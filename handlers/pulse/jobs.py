"""Scheduler entry point: 共性问题 alerts to the branch secretaries (config `scheduler.jobs.pulse_alerts`)."""
from __future__ import annotations

import logging

from handlers.cases.service import secretaries_for
from models.db import session_scope
from models.outbox import Priority
from scheduler.context import JobContext

from .cards import alert_card, alert_text
from .service import due_alerts

log = logging.getLogger("lianxin.pulse")

__all__ = ["pulse_alerts"]


def pulse_alerts(job: JobContext) -> int:
    """Fire each new alert once (PulseAlert rows are the idempotency: a re-run finds them and sends
    nothing); the card names the team and the category only. Returns alerts fired."""
    days = job.config.get("pulse.alert_days", int)
    fired = 0
    with session_scope(job.session_factory) as db:
        for f in due_alerts(db, job.config, job.now()):
            people = secretaries_for(db, f.alert.team)
            card = alert_card(f.alert, alert_text(f.alert, days=days, shares=f.shares))
            # a warning about a trend, not an emergency: it waits out quiet hours and 免打扰
            job.notify(db, people, card, ref=card.card_id, idem_key=f"pulse-alert:{f.alert.id}",
                       priority=Priority.NORMAL)
            fired += 1
            log.info("pulse.alert", extra={"team": f.alert.team_id, "category": f.alert.category, "n": len(people)})
    return fired
