"""Activity domain functions on a Session: publish, manage, check in, list (join/leave: seats.py).

Nothing here commits (the dispatcher or the job does). Seats follow RELIABILITY.md §4:
- join takes a seat with one conditional UPDATE (`seats_taken < seats`, RETURNING the new count)
  in the same transaction as the sign-up insert; UNIQUE(activity, person) (INSERT … ON CONFLICT
  DO NOTHING) makes double sign-ups impossible, and the seat is given back if that insert finds a row;
- when no seat is left (or the join's first read already shows none), the joiner share-locks the
  activity row (PostgreSQL; SQLite transactions are already serialised by BEGIN IMMEDIATE) and
  re-checks before queueing. A cancellation takes the exclusive lock before it looks for someone
  to promote, so "a seat was freed" and "someone joined the waitlist" can never miss each other;
- leaving moves the seat to the first waitlisted person (conditional UPDATE on their row) or,
  with nobody waiting, gives it back to the counter.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from models.activity import PARTY_ONLY_KINDS, Activity, ActivityStatus, Attendance, Signup, SignupStatus
from models.db import rowcount
from models.org import Person, Unit

if TYPE_CHECKING:
    from .seats import ActivityView

__all__ = [
    "CHECKIN_EARLY",
    "CheckinOutcome",
    "JoinOutcome",
    "JoinResult",
    "LeaveOutcome",
    "LeaveResult",
    "attended_ids",
    "audience_people",
    "checkin_by_code",
    "checkin_person",
    "create_activity",
    "my_signups",
    "open_activities_for",
    "roster",
    "set_status",
    "signed_up_people",
    "signup_of",
    "waitlist_position",
]

ACTIVE = (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED)
CHECKIN_EARLY = timedelta(minutes=30)   # check-in opens this long before the start


JoinOutcome = Literal["confirmed", "waitlisted", "already_confirmed", "already_waitlisted", "full", "closed",
                      "cancelled", "deadline", "not_audience", "not_found"]
LeaveOutcome = Literal["left", "not_signed", "started", "checked_in", "stale", "not_found"]
CheckinOutcome = Literal["ok", "again", "not_now", "not_signed", "bad_code"]


@dataclass
class JoinResult:
    outcome: JoinOutcome
    activity: ActivityView | None = None   # what the answer shows (a plain view, not ORM)
    position: int | None = None   # waitlist position (1 = next to get a seat)


@dataclass
class LeaveResult:
    outcome: LeaveOutcome
    activity: Activity | None = None
    was: str | None = None          # the status the sign-up had
    promoted: Person | None = None  # who got the freed seat


def new_checkin_code() -> str:
    return f"{secrets.randbelow(900000) + 100000}"


def create_activity(db: Session, *, creator: Person, organiser: Person, title: str, kind: str,
                    starts_at: datetime, ends_at: datetime, place: str, seats: int | None,
                    deadline: datetime, audience: Unit, description: str = "", waitlist: bool = True) -> Activity:
    act = Activity(title=title, kind=kind, starts_at=starts_at, ends_at=ends_at, place=place, seats=seats,
                   deadline=deadline, audience_unit_id=audience.id, audience_unit=audience,
                   organiser_id=organiser.id, organiser=organiser, created_by_id=creator.id,
                   description=description, waitlist=waitlist, checkin_code=new_checkin_code(),
                   status=ActivityStatus.OPEN, seats_taken=0)
    db.add(act)
    db.flush()
    return act


def audience_people(db: Session, act: Activity) -> list[Person]:
    """Active people whose unit is in the audience subtree (its Party members for a Party activity), in a stable order."""
    prefix = act.audience_unit.path
    stmt = select(Person).join(Unit, Person.unit_id == Unit.id).where(Unit.path.like(f"{prefix}%"),
                                                                       Person.active.is_(True))
    if act.party_only:
        stmt = stmt.where(Person.is_party_member.is_(True))
    return list(db.scalars(stmt.order_by(Person.id)).unique())


def audience_count(db: Session, unit: Unit) -> int:
    """How many people a card to `unit`'s subtree reaches (the consequence a publish confirmation states)."""
    return db.scalar(select(func.count()).select_from(Person).join(Unit, Person.unit_id == Unit.id)
                     .where(Unit.path.like(f"{unit.path}%"), Person.active.is_(True))) or 0


def signup_of(db: Session, activity_id: int, person_id: int) -> Signup | None:
    return db.scalars(select(Signup).where(Signup.activity_id == activity_id,
                                           Signup.person_id == person_id)).first()


def waitlist_position(db: Session, signup: Signup) -> int:
    return _position(db, signup.activity_id, signup.id)


def _position(db: Session, activity_id: int, signup_id: int) -> int:
    """1 + the number of people queued before this sign-up (the queue is in id order)."""
    return db.scalar(select(func.count()).select_from(Signup).where(
        Signup.activity_id == activity_id, Signup.status == SignupStatus.WAITLISTED,
        Signup.id <= signup_id)) or 0


def _lock_activity(db: Session, activity_id: int, *, shared: bool = False) -> None:
    """Row lock on PostgreSQL (SQLite has no FOR UPDATE: its write transactions are serialised
    by BEGIN IMMEDIATE, which gives the same guarantee)."""
    if db.get_bind().dialect.name != "sqlite":
        db.execute(select(Activity.id).where(Activity.id == activity_id).with_for_update(read=shared))


def _refresh_counters(db: Session, act: Activity) -> None:
    db.expire(act, ["seats_taken", "status"])


def get_activity(db: Session, activity_id: int) -> Activity | None:
    """The activity with its audience and organiser, without the organiser's roles."""
    return db.get(Activity, activity_id, options=[joinedload(Activity.organiser).lazyload(Person.roles)])


def set_status(db: Session, act: Activity, new: ActivityStatus) -> bool:
    """close / reopen / cancel; a conditional UPDATE so two organisers cannot both "win"."""
    allowed_from = {
        ActivityStatus.CLOSED: (ActivityStatus.OPEN,),
        ActivityStatus.OPEN: (ActivityStatus.CLOSED,),
        ActivityStatus.CANCELLED: (ActivityStatus.OPEN, ActivityStatus.CLOSED),
    }[new]
    changed = db.execute(update(Activity).where(Activity.id == act.id, Activity.status.in_(allowed_from))
                         .values(status=new).execution_options(synchronize_session=False))
    _refresh_counters(db, act)
    return rowcount(changed) == 1


def roster(db: Session, act: Activity) -> tuple[list[Signup], list[Signup]]:
    """(confirmed, waitlisted), each in sign-up order."""
    rows = db.scalars(select(Signup).where(Signup.activity_id == act.id, Signup.status.in_(ACTIVE))
                      .order_by(Signup.id)).all()
    confirmed = [s for s in rows if s.status == SignupStatus.CONFIRMED]
    waitlisted = [s for s in rows if s.status == SignupStatus.WAITLISTED]
    return confirmed, waitlisted


def signed_up_people(db: Session, act: Activity) -> list[Person]:
    confirmed, waitlisted = roster(db, act)
    return [s.person for s in confirmed + waitlisted]


def attended_ids(db: Session, act: Activity) -> set[int]:
    return set(db.scalars(select(Attendance.person_id).where(Attendance.activity_id == act.id)))


def attendance(db: Session, act: Activity) -> dict[int, Attendance]:
    """person id → their check-in (when, how), for the exported list."""
    return {a.person_id: a for a in db.scalars(select(Attendance).where(Attendance.activity_id == act.id))}


def roster_xlsx(db: Session, act: Activity, tz: str) -> tuple[bytes, int, int, int]:
    """The sign-up and attendance list as .xlsx bytes, with (confirmed, waitlisted, checked in)."""
    from reports.render.signups_excel import signups_workbook_bytes

    confirmed, waitlisted = roster(db, act)
    came = attendance(db, act)
    return signups_workbook_bytes(act, confirmed, waitlisted, came, tz), len(confirmed), len(waitlisted), len(came)


def checkin_person(db: Session, act: Activity, person: Person, *, method: str, by: Person | None,
                   now: datetime) -> bool:
    """Record attendance once; False if already checked in."""
    if db.scalars(select(Attendance.id).where(Attendance.activity_id == act.id,
                                              Attendance.person_id == person.id)).first():
        return False
    try:
        with db.begin_nested():
            db.add(Attendance(activity_id=act.id, person_id=person.id, person=person, method=method,
                              recorded_by_id=by.id if by else None, checked_in_at=now))
            db.flush()
    except IntegrityError:
        return False
    return True


def checkin_by_code(db: Session, person: Person, code: str, now: datetime) -> tuple[CheckinOutcome, Activity | None]:
    """Participant check-in: (outcome, activity); outcome ok | again | not_now | not_signed | bad_code."""
    acts = db.scalars(select(Activity).where(Activity.checkin_code == code.strip(),
                                             Activity.status != ActivityStatus.CANCELLED)
                      .order_by(Activity.starts_at.desc())).all()
    if not acts:
        return "bad_code", None
    mine = [a for a in acts if (s := signup_of(db, a.id, person.id)) is not None
            and s.status == SignupStatus.CONFIRMED]
    if not mine:
        return "not_signed", acts[0]
    current = [a for a in mine if a.starts_at - CHECKIN_EARLY <= now <= a.ends_at]
    if not current:
        return "not_now", mine[0]
    act = current[0]
    ok = checkin_person(db, act, person, method="code", by=person, now=now)
    return ("ok" if ok else "again"), act


def open_activities_for(db: Session, person: Person, now: datetime, limit: int = 20) -> list[Activity]:
    """Activities I may join (my unit in the audience; Party activities for Party members) that have not ended, soonest first."""
    if person.unit is None:
        return []
    # the audience unit is an ancestor of (or equal to) my unit: its path is a prefix of mine
    ancestor_ids = [int(x) for x in person.unit.path.strip("/").split("/") if x]
    stmt = select(Activity).where(Activity.audience_unit_id.in_(ancestor_ids),
                                  Activity.status != ActivityStatus.CANCELLED, Activity.ends_at > now)
    if not person.is_party_member:
        stmt = stmt.where(Activity.kind.not_in(PARTY_ONLY_KINDS))
    return list(db.scalars(stmt.order_by(Activity.starts_at).limit(limit)).unique())


def organised_by(db: Session, person: Person, now: datetime, limit: int = 20) -> list[Activity]:
    """Activities `person` organises that have not ended (cancelled ones too: they show as such)."""
    return list(db.scalars(select(Activity).where(Activity.organiser_id == person.id, Activity.ends_at > now)
                           .order_by(Activity.starts_at).limit(limit)).unique())


def my_signups(db: Session, person: Person, now: datetime, limit: int = 20) -> list[tuple[Signup, Activity]]:
    rows = db.execute(select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
                      .where(Signup.person_id == person.id, Signup.status.in_(ACTIVE),
                             Activity.ends_at > now - timedelta(days=1))
                      .order_by(Activity.starts_at).limit(limit)).unique().all()
    return [(s, a) for s, a in rows]


def digest_lines(db: Session, unit: Unit, since: datetime, until: datetime, *, tz: tzinfo) -> list[str]:
    """Weekly digest section (scheduler.jobs.digest.SECTIONS): the week's activities of the unit's subtree
    with their attendance, dates in `tz`. The coming week's are the digest's own list (each shown once)."""
    acts = db.scalars(select(Activity).join(Unit, Unit.id == Activity.audience_unit_id)
                      .where(Unit.path.like(f"{unit.path}%"), Activity.starts_at >= since, Activity.starts_at < until)
                      .order_by(Activity.starts_at)).unique().all()
    if not acts:
        return []
    lines = ["本周活动："]
    for act in acts[:10]:
        confirmed, waitlisted = roster(db, act)
        came = len(attended_ids(db, act))
        state = "已取消" if act.status == ActivityStatus.CANCELLED else (
            f"签到 {came}/{len(confirmed)}" if act.starts_at < until else
            f"报名 {len(confirmed)}{'' if act.seats is None else '/' + str(act.seats)}"
            + (f"，候补 {len(waitlisted)}" if waitlisted else ""))
        lines.append(f"· {act.title}（{act.starts_at.astimezone(tz):%m-%d}）{state}")
    return lines
