"""Who used the bot on which day, kept in Redis on the hot path and written to the database in batches.

The turn gate's begin script (bot.turn) adds "platform:user id" to the set `active:{local day}`
in the round trip it makes anyway, and the day to `active:days`. The scheduler job
`active_days_flush` (scheduler.jobs.active_days) moves each day's set into `person_active_day`
(models.stats, one row per person and local day, the table every statistic reads): it renames the
set to a flushing key first, so that members added meanwhile go into a fresh set, and deletes the
flushing key only after the rows committed. A flusher that dies leaves the flushing key; the next
run merges it back and writes it again (the INSERT ignores rows that exist). Statistics are the
same as when each turn wrote its row, up to one flush interval late.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date

import redis
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from models.activeday import PersonActiveDay
from models.org import Person

__all__ = ["ACTIVE_DAYS_KEY", "ACTIVE_PREFIX", "ACTIVE_TTL_SECONDS", "flush_active_days"]

log = logging.getLogger("lianxin.stats")

ACTIVE_PREFIX = "active:"
ACTIVE_DAYS_KEY = "active:days"
ACTIVE_TTL_SECONDS = 8 * 86400     # a week of scheduler outage before marks are lost
_FLUSHING = ":flushing"

_INSERT = {name: ins(PersonActiveDay).values(person_id=bindparam("person"), day=bindparam("day"))
           .on_conflict_do_nothing(index_elements=["person_id", "day"])
           for name, ins in (("postgresql", pg_insert), ("sqlite", sqlite_insert))}


def flush_active_days(r: redis.Redis, session_factory: sessionmaker[Session], today: date | None = None) -> int:
    """Write every day's set of active users to person_active_day; returns the rows offered."""
    written = 0
    for raw in sorted(r.smembers(ACTIVE_DAYS_KEY)):
        day = raw.decode()
        key, flushing = f"{ACTIVE_PREFIX}{day}", f"{ACTIVE_PREFIX}{day}{_FLUSHING}"
        if r.exists(key):
            # a leftover flushing set (its flusher died) absorbs the new members and is written again
            r.sunionstore(flushing, [flushing, key])
            r.delete(key)
        members = r.smembers(flushing)
        if members:
            written += _write(session_factory, date.fromisoformat(day), [m.decode() for m in members])
        r.delete(flushing)
        if today is not None and date.fromisoformat(day) < today and not r.exists(key):
            r.srem(ACTIVE_DAYS_KEY, raw)
    return written


def _write(session_factory: sessionmaker[Session], day: date, members: list[str]) -> int:
    by_platform: dict[str, set[str]] = defaultdict(set)
    for m in members:
        platform, _, uid = m.partition(":")
        by_platform["dingtalk" if platform == "dingtalk" else "wecom"].add(uid)
    with session_factory() as db:
        ids: set[int] = set()
        for platform, uids in by_platform.items():
            col = Person.dingtalk_userid if platform == "dingtalk" else Person.wecom_userid
            found: dict[str, int] = {}
            for chunk in _chunks(sorted(uids)):
                found.update(db.execute(select(col, Person.id).where(col.in_(chunk), Person.active.is_(True))).all())
            ids.update(found.values())
            missing = sorted({u.lower() for u in uids - found.keys()})
            if platform == "wecom":   # WeCom sometimes lower-cases ids (bot.identity)
                for chunk in _chunks(missing):
                    ids.update(db.scalars(select(Person.id).where(func.lower(Person.wecom_userid).in_(chunk),
                                                                  Person.active.is_(True))))
        stmt = _INSERT.get(db.get_bind().dialect.name)
        if ids and stmt is not None:
            db.execute(stmt, [{"person": i, "day": day} for i in sorted(ids)])
        db.commit()
    log.info("stats.active_flushed", extra={"day": day.isoformat(), "people": len(ids)})
    return len(ids)


def _chunks(items: list[str], size: int = 1000):
    for i in range(0, len(items), size):
        yield items[i:i + size]
