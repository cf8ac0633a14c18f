"""Scheduler entry point: one daily digest per person on workdays (config `scheduler.jobs.daily_digest`)."""
from __future__ import annotations

import logging
from datetime import UTC

from sqlalchemy import select

from bot.context import delivery_platforms
from bot.messages import Text
from bot.outbox import enqueue
from bot.quiet import quiet_rules
from models.db import session_scope
from models.notice import Mute, release_at
from models.org import Person

from .service import digest_text, digests

log = logging.getLogger("lianxin.digest")

__all__ = ["daily_digest"]


def daily_digest(job) -> int:
    """Queue each person's digest once per local day; nothing owed, muted, or a day off: nothing sent."""
    now = job.now()
    local = now.astimezone(job.tz)
    rules = quiet_rules(job.config)
    if rules.day_off(local.date()):
        return 0
    hold = release_at(local, rules)           # a digest time set inside quiet hours waits for the morning
    at = hold.astimezone(UTC) if hold else None
    key_prefix = f"digest:{local:%Y%m%d}:"
    added = 0
    with session_scope(job.session_factory) as db:
        owed = digests(db, job.config, now)
        if not owed:
            return 0
        muted = set(db.scalars(select(Mute.person_id).where(Mute.until > now)))
        queued = job.queued_keys(db, key_prefix)
        ids = {pid: (wecom, ding) for pid, wecom, ding in
               db.execute(select(Person.id, Person.wecom_userid, Person.dingtalk_userid)
                          .where(Person.active.is_(True)))}
        for pid, lines in owed.items():
            if pid in muted or pid not in ids:
                continue
            message = Text(digest_text(lines, now, job.config.timezone))
            for platform in delivery_platforms(job.config):
                recipient = ids[pid][1] if platform == "dingtalk" else ids[pid][0]
                key = f"{key_prefix}{pid}@{platform}"
                if not recipient or f"{key}#0" in queued:
                    continue
                for row in enqueue(db, platform=platform, recipients=[recipient], reply=message, idem_key=key):
                    if at is not None:
                        row.next_attempt_at = at
                    added += 1
    log.info("digest.queued", extra={"n": added})
    return added
