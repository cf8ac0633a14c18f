"""Activities held and participation of a subtree in a period, per level unit, for chat, dashboard, Excel and KPI."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models.activity import KPI_PARTY_KINDS, Activity, Attendance, Signup
from models.org import Person, Unit

from .units import LEVEL_KINDS, groups_of, people_per_unit, units_in

__all__ = ["ActivityRow", "PartyLifeRow", "activity_stats", "party_life"]


@dataclass
class ActivityRow:
    unit_id: int
    name: str
    full_name: str
    held: int = 0           # activities for this unit's subtree that took place in the period
    signups: int = 0        # confirmed sign-ups of the unit's people to activities held in the period
    attended: int = 0       # check-ins of the unit's people at activities held in the period
    participants: int = 0   # distinct people of the unit who checked in at least once
    people: int = 0         # active people of the unit

    @property
    def rate(self) -> float:
        """participants / people: the share of the unit's people who took part at least once."""
        return self.participants / self.people if self.people else 0.0


def activity_stats(db: Session, unit: Unit, start: datetime, end: datetime, now: datetime,
                   level: str = "branch") -> tuple[ActivityRow, list[ActivityRow]]:
    """Activities held and participation in [start, end), for the subtree and per `level` unit.

    *Held*: not cancelled, starts_at in the period and before now, audience unit inside the
    subtree (a committee-wide activity counts for the committee, not for each branch).
    *Participation*: people of the subtree who checked in (Attendance) at an activity held in the
    period, whoever organised it; rate = distinct participants / active people.
    """
    units = units_in(db, unit)
    group_of = groups_of(units, level)
    total = ActivityRow(unit.id, unit.name, unit.full_name)
    groups = {u.id: ActivityRow(u.id, u.name, u.full_name) for u in units.values() if u.kind in LEVEL_KINDS[level]}
    held_cond = (Activity.status != "cancelled", Activity.starts_at >= start, Activity.starts_at < end,
                 Activity.starts_at <= now)
    for audience_id, n in db.execute(select(Activity.audience_unit_id, func.count()).where(*held_cond)
                                     .join(Unit, Unit.id == Activity.audience_unit_id)
                                     .where(Unit.path.like(f"{unit.path}%")).group_by(Activity.audience_unit_id)):
        total.held += n
        g = group_of.get(audience_id)
        if g is not None:
            groups[g.id].held += n
    for uid, n in people_per_unit(db, unit).items():
        total.people += n
        g = group_of.get(uid)
        if g is not None:
            groups[g.id].people += n
    held_ids = select(Activity.id).where(*held_cond).scalar_subquery()
    people_in = (Person.active.is_(True), Unit.path.like(f"{unit.path}%"))
    for uid, n in db.execute(select(Person.unit_id, func.count()).select_from(Signup)
                             .join(Person, Person.id == Signup.person_id).join(Unit, Unit.id == Person.unit_id)
                             .where(*people_in, Signup.status == "confirmed", Signup.activity_id.in_(held_ids))
                             .group_by(Person.unit_id)):
        total.signups += n
        g = group_of.get(uid)
        if g is not None:
            groups[g.id].signups += n
    for uid, n, distinct in db.execute(
            select(Person.unit_id, func.count(), func.count(func.distinct(Attendance.person_id))).select_from(Attendance)
            .join(Person, Person.id == Attendance.person_id).join(Unit, Unit.id == Person.unit_id)
            .where(*people_in, Attendance.activity_id.in_(held_ids)).group_by(Person.unit_id)):
        total.attended += n
        total.participants += distinct
        g = group_of.get(uid)
        if g is not None:
            groups[g.id].attended += n
            groups[g.id].participants += distinct
    return total, sorted(groups.values(), key=lambda r: r.full_name)


@dataclass
class PartyLifeRow:
    unit_id: int
    name: str
    full_name: str
    attended: int = 0       # check-ins of the unit's Party members at 主题党日 / 党课 held for them
    expected: int = 0       # Σ over those activities of the unit's Party members in the activity's audience

    @property
    def rate(self) -> float:
        return self.attended / self.expected if self.expected else 0.0


def party_life(db: Session, unit: Unit, start: datetime, end: datetime, now: datetime,
               level: str = "branch") -> tuple[PartyLifeRow, list[PartyLifeRow]]:
    """Attendance of 主题党日 and 党课 (KPI_PARTY_KINDS) held in [start, end), for the subtree and per `level` unit.

    *Held*: not cancelled, starts_at in the period and before now, audience inside the subtree or
    above it (a committee-wide 党课 is expected of every Party member below). *Expected*: for each
    such activity, the active Party members of the subtree inside its audience. *Attended*: their
    check-ins (Attendance) at those activities. Rate = attended / expected.
    """
    units = units_in(db, unit)
    group_of = groups_of(units, level)
    total = PartyLifeRow(unit.id, unit.name, unit.full_name)
    groups = {u.id: PartyLifeRow(u.id, u.name, u.full_name) for u in units.values() if u.kind in LEVEL_KINDS[level]}
    ancestors = [int(x) for x in unit.path.strip("/").split("/") if x]
    held = (Activity.status != "cancelled", Activity.starts_at >= start, Activity.starts_at < end,
            Activity.starts_at <= now, Activity.kind.in_(KPI_PARTY_KINDS))
    per_audience = dict(db.execute(select(Activity.audience_unit_id, func.count())
                                   .join(Unit, Unit.id == Activity.audience_unit_id)
                                   .where(*held, or_(Unit.path.like(f"{unit.path}%"), Unit.id.in_(ancestors)))
                                   .group_by(Activity.audience_unit_id)).all())
    if not per_audience:
        return total, sorted(groups.values(), key=lambda r: r.full_name)
    members = db.execute(select(Person.unit_id, func.count()).join(Unit, Unit.id == Person.unit_id)
                         .where(Person.active.is_(True), Person.is_party_member.is_(True),
                                Unit.path.like(f"{unit.path}%")).group_by(Person.unit_id))
    for uid, n in members:
        u = units.get(uid)
        if u is None:
            continue
        # activities whose audience is this unit or any unit above it (inside or above the scope)
        expected = n * sum(per_audience.get(aid, 0) for aid in set(u.path_ids) | set(ancestors))
        total.expected += expected
        g = group_of.get(uid)
        if g is not None:
            groups[g.id].expected += expected
    audience = Unit.__table__.alias("audience")
    for uid, n in db.execute(
            select(Person.unit_id, func.count()).select_from(Attendance)
            .join(Activity, Activity.id == Attendance.activity_id).join(audience, audience.c.id == Activity.audience_unit_id)
            .join(Person, Person.id == Attendance.person_id).join(Unit, Unit.id == Person.unit_id)
            .where(*held, Person.active.is_(True), Person.is_party_member.is_(True), Unit.path.like(f"{unit.path}%"),
                   Unit.path.like(audience.c.path + "%"))
            .group_by(Person.unit_id)):
        total.attended += n
        g = group_of.get(uid)
        if g is not None:
            groups[g.id].attended += n
    return total, sorted(groups.values(), key=lambda r: r.full_name)
