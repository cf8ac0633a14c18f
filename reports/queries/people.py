"""Active users of a subtree (people who used the bot on at least one local day of a period) for chat, Excel and digest."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.activeday import PersonActiveDay
from models.org import Person, Unit

__all__ = ["active_users"]


def active_users(db: Session, unit: Unit, start: date, end: date) -> tuple[int, int]:
    """(people active at least once in [start, end] local days, active people in the subtree)."""
    people = db.scalar(select(func.count()).select_from(Person).join(Unit, Unit.id == Person.unit_id)
                       .where(Person.active.is_(True), Unit.path.like(f"{unit.path}%"))) or 0
    active = db.scalar(select(func.count(func.distinct(PersonActiveDay.person_id)))
                       .join(Person, Person.id == PersonActiveDay.person_id).join(Unit, Unit.id == Person.unit_id)
                       .where(Person.active.is_(True), Unit.path.like(f"{unit.path}%"),
                              PersonActiveDay.day >= start, PersonActiveDay.day <= end)) or 0
    return int(active), int(people)
