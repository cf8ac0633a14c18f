"""What every scheduled job receives: settings, a session factory, the clock and the outbox."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.context import Clock, delivery_platforms
from bot.messages import Reply, Text
from bot.outbox import enqueue
from bot.pacing import spread_time
from bot.quiet import group_key, hold_groups
from models.notice import Mute
from models.org import Person
from models.outbox import OutboxMessage, Priority

__all__ = ["JobContext"]


@dataclass
class JobContext:
    config: Config
    session_factory: sessionmaker[Session]
    clock: Clock
    redis: Any = None
    metrics: Any = None
    scheduled_for: datetime | None = None   # the occurrence being run (for idempotency keys)
    job_id: str = ""
    outbox_dispatcher: Any = None           # bot.relay.OutboxRelay, for the dispatch job

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    def occurrence(self) -> datetime:
        """The time this run stands for: the scheduled occurrence, or now for a manual run."""
        return self.scheduled_for or self.now()

    def local_occurrence(self) -> datetime:
        return self.occurrence().astimezone(self.tz)

    def queued_keys(self, db: Session, prefix: str) -> set[str]:
        """Outbox idem keys starting with `prefix` (one query; pass to notify(queued=) in big loops)."""
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return set(db.scalars(select(OutboxMessage.idem_key).where(OutboxMessage.idem_key.like(like, escape="\\"))))

    def notify(self, db: Session, people: Sequence[Person], message: Reply | str, *, ref: str = "",
               idem_key: str | None = None, queued: set[str] | None = None, priority: int = Priority.BULK) -> int:
        """Enqueue in the job's transaction; returns the outbox rows added.

        With `idem_key`, a platform that already has a row for the key is skipped, so re-running
        the same occurrence (catch-up, `lianxin run-job`, a retaken claim) sends nothing twice.
        `queued` (from queued_keys) replaces the per-call lookup when a job notifies thousands.
        The UNIQUE(idem_key) constraint on the outbox stays the last line of defence.
        Non-urgent rows wait out each recipient's quiet hours and 免打扰 (bot.quiet); bulk rows (the
        default: reminders, digests) are then spread over `outbox.spread_window_seconds`, off :00 and
        :30, instead of all leaving at 09:00 sharp; urgent ones leave now.
        """
        people = [p for p in people if p is not None and p.active]
        message = Text(message) if isinstance(message, str) else message
        if priority == Priority.URGENT:
            return self._notify(db, people, message, ref=ref, idem_key=idem_key, queued=queued, priority=priority,
                                at=None)
        groups = hold_groups(db, self.config, people, self.now(), self._active_mutes(db))
        return sum(self._notify(db, group, message, ref=ref, at=at, queued=queued, priority=priority,
                                idem_key=group_key(idem_key, n, len(groups)))
                   for n, (at, group) in enumerate(groups))

    def _active_mutes(self, db: Session) -> dict[int, datetime]:
        """Everyone's 免打扰 at the job's now, read once per session: a job that notifies thousands
        one by one (the daily digest) must not query the mutes for each."""
        cached = self.__dict__.get("_mutes")
        if cached is None or cached[0] is not db:
            rows = db.execute(select(Mute.person_id, Mute.until).where(Mute.until > self.now())).all()
            cached = (db, {pid: until for pid, until in rows})
            self.__dict__["_mutes"] = cached
        return cached[1]

    def _notify(self, db: Session, people: Sequence[Person], message: Reply, *, ref: str, idem_key: str | None,
                queued: set[str] | None, priority: int, at: datetime | None) -> int:
        added = 0
        for platform in delivery_platforms(self.config):
            ids = [i for i in (p.platform_id(platform) for p in people) if i]
            if not ids:
                continue
            key = f"{idem_key}@{platform}" if idem_key else None
            if key and queued is not None:
                if f"{key}#0" in queued:
                    continue
            elif key:
                with db.no_autoflush:   # let the rows of this run be inserted in one batch at commit
                    if db.scalar(select(OutboxMessage.id).where(OutboxMessage.idem_key == f"{key}#0")):
                        continue
            not_before = at
            window = self.config.get("outbox.spread_window_seconds", float)
            if priority == Priority.BULK and window > 0:
                not_before = spread_time(at or self.now(), f"{key or ref}:{ids[0]}", window)
            added += len(enqueue(db, platform=platform, recipients=ids, reply=message, ref=ref, idem_key=key,
                                 priority=priority, not_before=not_before))
        return added
