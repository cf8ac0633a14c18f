"""Who used the bot on which local day: the record behind the active-user figures, written by the dispatcher.

A person counts as active on a day when they sent the bot anything that day (any platform).
One row per person and local day, written with INSERT … ON CONFLICT DO NOTHING, which keeps
history per quarter; ProcessedDelivery could not be used because it does not record who sent
a delivery.
"""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Date, ForeignKey, UniqueConstraint, bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import DEFAULT_TZ, Base

__all__ = ["PersonActiveDay", "mark_active"]


class PersonActiveDay(Base):
    """One row per person and local day on which they sent the bot a message or clicked a card."""

    __tablename__ = "person_active_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date, index=True)

    __table_args__ = (UniqueConstraint("person_id", "day"),)


def _mark_active_stmt(insert):
    return (insert(PersonActiveDay).values(person_id=bindparam("person"), day=bindparam("day"))
            .on_conflict_do_nothing(index_elements=["person_id", "day"]))


_MARK_ACTIVE = {"postgresql": _mark_active_stmt(pg_insert), "sqlite": _mark_active_stmt(sqlite_insert)}


def mark_active(db: Session, person_id: int, moment: datetime, tz: str = DEFAULT_TZ) -> None:
    """Record that `person_id` was active on the local day of `moment` (idempotent, no read).

    INSERT … ON CONFLICT DO NOTHING cannot fail on a repeat, so the dispatcher runs it inside a
    writing turn's transaction, or in a short one of its own after a read-only turn. The
    statement is built once: it runs on the first message of every person's day."""
    stmt = _MARK_ACTIVE.get(db.get_bind().dialect.name)
    if stmt is not None:   # other databases are not supported by lianxin
        db.execute(stmt, {"person": person_id, "day": moment.astimezone(ZoneInfo(tz)).date()})
