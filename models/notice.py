"""When a person may be sent a non-urgent message: quiet hours, weekends, holidays, and 免打扰.

`release_at` is a pure function of the local time and the rules, so the enqueuing code can
stamp a not-before time on an outbox row at once (the dispatcher already skips rows whose
next_attempt_at lies ahead); nothing is re-scheduled later and nothing is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ForeignKey, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base

__all__ = ["Mute", "QuietRules", "muted_until", "release_at"]


class Mute(Base):
    """免打扰: this person's non-urgent messages wait until `until`."""

    __tablename__ = "mute"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    until: Mapped[datetime] = mapped_column()


@dataclass(frozen=True)
class QuietRules:
    start: time = time(21, 0)              # quiet from …
    end: time = time(8, 0)                 # … until (next morning when end <= start)
    weekends: bool = False                 # Saturday and Sunday quiet all day
    holidays: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, hours: str, weekends: bool, holidays: list[str]) -> QuietRules:
        """From config: hours "21:00-08:00" ("" or "off": none), holidays as ISO dates."""
        hours = (hours or "").strip()
        if hours.lower() in ("", "off"):
            start = end = time(0, 0)
        else:
            a, _, b = hours.replace("–", "-").partition("-")
            start, end = time.fromisoformat(a.strip()), time.fromisoformat(b.strip())
        return cls(start, end, weekends, frozenset(date.fromisoformat(str(d)) for d in holidays or ()))

    def day_off(self, day: date) -> bool:
        return day in self.holidays or (self.weekends and day.weekday() >= 5)

    def quiet(self, local: datetime) -> bool:
        if self.day_off(local.date()):
            return True
        t = local.time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


def release_at(local_now: datetime, rules: QuietRules, mute_until: datetime | None = None) -> datetime | None:
    """The first moment a non-urgent message may go, or None if it may go now."""
    moment = local_now
    if mute_until is not None and mute_until > moment:
        moment = mute_until.astimezone(local_now.tzinfo)
    for _ in range(60):                    # at most two months of days off in a row
        if not rules.quiet(moment):
            return None if moment == local_now else moment
        day = moment.date()
        if rules.day_off(day) or (rules.start > rules.end and moment.time() >= rules.start):
            day += timedelta(days=1)       # the quiet stretch ends on a later morning
        moment = datetime.combine(day, rules.end if rules.start != rules.end else time(0, 0), local_now.tzinfo)
    return moment


def muted_until(db: Session, person_ids: list[int], now: datetime) -> dict[int, datetime]:
    """person id → end of their 免打扰, for those muted at `now` (one query)."""
    if not person_ids:
        return {}
    rows = db.execute(select(Mute.person_id, Mute.until).where(Mute.until > now)
                      .where(Mute.person_id.in_(person_ids) if len(person_ids) <= 1000 else Mute.person_id > 0))
    wanted = set(person_ids)
    return {pid: until for pid, until in rows if pid in wanted}
