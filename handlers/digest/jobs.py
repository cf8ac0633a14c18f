"""Scheduler entry point: one daily digest per person on workdays (config `scheduler.jobs.daily_digest`).

It is the one non-urgent message of a workday: on Mondays it also carries each secretary's weekly
summary (formerly the weekly_digest job), and the talks still due replace the quarterly talk
reminders (both jobs are off in config.yaml; they stay for deployments without the digest)."""
from __future__ import annotations

import logging

from sqlalchemy import select

from bot.messages import Text
from bot.quiet import quiet_rules
from models.db import session_scope
from models.notice import Mute
from models.org import Person
from scheduler.context import JobContext
from scheduler.jobs.digest import weekly_lines

from .service import digest_text, digests

log = logging.getLogger("lianxin.digest")

__all__ = ["daily_digest"]


def daily_digest(job: JobContext) -> int:
    """Queue each person's digest once per local day; nothing owed, muted, or a day off: nothing sent."""
    now = job.now()
    local = now.astimezone(job.tz)
    if quiet_rules(job.config).day_off(local.date()):
        return 0
    key_prefix = f"digest:{local:%Y%m%d}:"
    added = 0
    with session_scope(job.session_factory) as db:
        owed = digests(db, job.config, now)
        weekly = weekly_lines(db, now, job.config.timezone) if local.weekday() == 0 else {}
        if not owed and not weekly:
            return 0
        muted = set(db.scalars(select(Mute.person_id).where(Mute.until > now)))
        queued = job.queued_keys(db, key_prefix)
        ids = set(owed) | set(weekly)
        people = {p.id: p for p in db.scalars(select(Person).where(Person.id.in_(list(ids)), Person.active.is_(True)))}
        for pid in sorted(ids):
            if pid in muted or pid not in people:
                continue
            text = digest_text(owed.get(pid, []), now, job.config.timezone, weekly=weekly.get(pid, []))
            # non-urgent: a digest time set inside someone's quiet hours waits for their morning
            added += job.notify(db, [people[pid]], Text(text), idem_key=f"{key_prefix}{pid}", queued=queued)
    log.info("digest.queued", extra={"n": added})
    return added
