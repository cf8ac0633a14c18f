"""Activity domain functions on a Session: publish, join, leave, manage, check in, list.

Nothing here commits (the dispatcher or the job does). Seats follow RELIABILITY.md §4:
- join takes a seat with one conditional UPDATE (`seats_taken < seats`, rowcount 1) in the same
  transaction as the sign-up insert; UNIQUE(activity, person) (INSERT … ON CONFLICT DO NOTHING)
  makes double sign-ups impossible, and the seat is given back if that insert finds a row;
- when no seat is left, the joiner share-locks the activity row (PostgreSQL; SQLite transactions
  are already serialised by BEGIN IMMEDIATE) and re-checks before queueing. A cancellation takes
  the exclusive lock before it looks for someone to promote, so "a seat was freed" and "someone
  joined the waitlist" can never miss each other;
- leaving moves the seat to the first waitlisted person (conditional UPDATE on their row) or,
  with nobody waiting, gives it back to the counter.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from models.activity import Activity, ActivityStatus, Attendance, Signup, SignupStatus
from models.org import Person, Unit
from models.policy import can

__all__ = ["JoinResult", "LeaveResult", "create_activity", "audience_people", "join", "leave",
           "waitlist_position", "signup_of", "set_status", "roster", "checkin_by_code", "checkin_person",
           "open_activities_for", "my_signups", "signed_up_people", "attended_ids", "CHECKIN_EARLY"]

ACTIVE = (SignupStatus.CONFIRMED.value, SignupStatus.WAITLISTED.value)
CHECKIN_EARLY = timedelta(minutes=30)   # check-in opens this long before the start


@dataclass
class JoinResult:
    outcome: str            # confirmed | waitlisted | already_confirmed | already_waitlisted | full |
                            # closed | cancelled | deadline | not_audience | not_found
    activity: Activity | None = None
    position: int | None = None   # waitlist position (1 = next to get a seat)


@dataclass
class LeaveResult:
    outcome: str            # left | not_signed | started | not_found
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
                   status=ActivityStatus.OPEN.value, seats_taken=0)
    db.add(act)
    db.flush()
    return act


def audience_people(db: Session, act: Activity) -> list[Person]:
    """Active people whose unit is in the audience subtree, in a stable order."""
    prefix = act.audience_unit.path
    return list(db.scalars(select(Person).join(Unit, Person.unit_id == Unit.id)
                           .where(Unit.path.like(f"{prefix}%"), Person.active.is_(True))
                           .order_by(Person.id)).unique())


def signup_of(db: Session, activity_id: int, person_id: int) -> Signup | None:
    return db.scalars(select(Signup).where(Signup.activity_id == activity_id,
                                           Signup.person_id == person_id)).first()


def waitlist_position(db: Session, signup: Signup) -> int:
    return _position(db, signup.activity_id, signup.id)


def _position(db: Session, activity_id: int, signup_id: int) -> int:
    """1 + the number of people queued before this sign-up (the queue is in id order)."""
    return db.scalar(select(func.count()).select_from(Signup).where(
        Signup.activity_id == activity_id, Signup.status == SignupStatus.WAITLISTED.value,
        Signup.id <= signup_id)) or 0


def _take_seat(db: Session, activity_id: int) -> bool:
    """The one race-safe seat grab: conditional UPDATE, success iff it matched a row."""
    result = db.execute(
        update(Activity)
        .where(Activity.id == activity_id, Activity.status == ActivityStatus.OPEN.value,
               or_(Activity.seats.is_(None), Activity.seats_taken < Activity.seats))
        .values(seats_taken=Activity.seats_taken + 1)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _lock_activity(db: Session, activity_id: int, *, shared: bool = False) -> None:
    """Row lock on PostgreSQL (SQLite has no FOR UPDATE: its write transactions are serialised
    by BEGIN IMMEDIATE, which gives the same guarantee)."""
    if db.bind.dialect.name != "sqlite":
        db.execute(select(Activity.id).where(Activity.id == activity_id).with_for_update(read=shared))


def _insert_signup(db: Session, activity_id: int, person_id: int, status: str, now: datetime) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING on UNIQUE(activity, person): the new id, None if a row exists."""
    if db.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = (insert(Signup).values(activity_id=activity_id, person_id=person_id, status=status,
                                  created_at=now, updated_at=now).on_conflict_do_nothing()
            .returning(Signup.id))
    return db.execute(stmt).scalar()


def _refresh_counters(db: Session, act: Activity) -> None:
    db.expire(act, ["seats_taken", "status"])


def get_activity(db: Session, activity_id: int) -> Activity | None:
    """The activity with its audience and organiser, without the organiser's roles (hot path)."""
    return db.get(Activity, activity_id, options=[joinedload(Activity.organiser).lazyload(Person.roles)])


def _share_lock_or_take(db: Session, act: Activity) -> bool:
    """PostgreSQL, activity full: hold a SHARE lock on it until commit (so a cancellation waits
    for us and then promotes us), unless a seat was freed while we waited for the lock. Then the
    share lock is dropped (savepoint rollback releases it) before the seat UPDATE: two joiners
    upgrading their share locks at the same time would deadlock."""
    for _ in range(5):
        savepoint = db.begin_nested()
        _lock_activity(db, act.id, shared=True)
        db.expire(act, ["seats_taken", "status"])
        if act.status != ActivityStatus.OPEN.value or (act.seats is not None and act.seats_taken >= act.seats):
            savepoint.commit()       # still full: keep the share lock
            return False
        savepoint.rollback()
        if _take_seat(db, act.id):
            return True
    return False


def join(db: Session, activity_id: int, person: Person, now: datetime) -> JoinResult:
    """Give `person` a seat, or a waitlist place; repeated joins change nothing.

    PostgreSQL: the seat UPDATE locks the activity row only while seats remain. Once full, a
    joiner takes a SHARE lock before queueing: joiners do not block each other, but a
    cancellation (which takes FOR UPDATE before promoting) waits for them and then sees them,
    and a joiner arriving during a cancellation waits and then sees the freed seat.
    """
    act = get_activity(db, activity_id)
    if act is None:
        return JoinResult("not_found")
    existing = db.execute(select(Signup.id, Signup.status).where(   # plain row: hot path, no ORM load
        Signup.activity_id == act.id, Signup.person_id == person.id)).first()
    if existing is not None and existing.status == SignupStatus.CONFIRMED.value:
        return JoinResult("already_confirmed", act)
    if existing is not None and existing.status == SignupStatus.WAITLISTED.value:
        return JoinResult("already_waitlisted", act, _position(db, act.id, existing.id))
    if not can(person, "activity.join", act):
        return JoinResult("not_audience", act)
    if act.status == ActivityStatus.CANCELLED.value:
        return JoinResult("cancelled", act)
    if act.status == ActivityStatus.CLOSED.value:
        return JoinResult("closed", act)
    if now > act.deadline or now >= act.starts_at:
        return JoinResult("deadline", act)
    if existing is not None:  # a cancelled sign-up: re-join at the back of the queue
        db.execute(delete(Signup).where(Signup.id == existing.id, Signup.status == SignupStatus.CANCELLED.value)
                   .execution_options(synchronize_session="fetch"))
    took = _take_seat(db, act.id)
    if not took and db.bind.dialect.name != "sqlite":
        took = _share_lock_or_take(db, act)
    if not took:
        db.expire(act, ["seats_taken", "status"])
        if act.status != ActivityStatus.OPEN.value:
            return JoinResult("cancelled" if act.status == ActivityStatus.CANCELLED.value else "closed", act)
        if not act.waitlist:
            return JoinResult("full", act)
    status = SignupStatus.CONFIRMED if took else SignupStatus.WAITLISTED
    signup_id = _insert_signup(db, act.id, person.id, status.value, now)
    if signup_id is None:
        # the same person joined at the same moment through another channel: that one counts
        if took:
            db.execute(update(Activity).where(Activity.id == act.id, Activity.seats_taken > 0)
                       .values(seats_taken=Activity.seats_taken - 1).execution_options(synchronize_session=False))
        again = signup_of(db, act.id, person.id)
        if again is not None and again.status == SignupStatus.WAITLISTED.value:
            return JoinResult("already_waitlisted", act, waitlist_position(db, again))
        return JoinResult("already_confirmed", act)
    if took:
        db.expire(act, ["seats_taken"])
        return JoinResult("confirmed", act)
    if act.seats is not None:
        set_committed_value(act, "seats_taken", act.seats)   # full: no need to read it back
    return JoinResult("waitlisted", act, _position(db, act.id, signup_id))


def leave(db: Session, activity_id: int, person: Person, now: datetime) -> LeaveResult:
    """Cancel `person`'s sign-up; a freed seat goes to the first waitlisted person at once."""
    act = get_activity(db, activity_id)
    if act is None:
        return LeaveResult("not_found")
    signup = db.scalars(select(Signup).where(Signup.activity_id == act.id, Signup.person_id == person.id,
                                             Signup.status.in_(ACTIVE))).first()
    if signup is None:
        return LeaveResult("not_signed", act)
    if now >= act.starts_at and act.status != ActivityStatus.CANCELLED.value:
        return LeaveResult("started", act)
    was = signup.status
    if was == SignupStatus.CONFIRMED.value:
        _lock_activity(db, act.id)  # same lock order as join: activity row first, then sign-ups
    changed = db.execute(update(Signup).where(Signup.id == signup.id, Signup.status == was)
                         .values(status=SignupStatus.CANCELLED.value, updated_at=now)
                         .execution_options(synchronize_session=False)).rowcount
    db.expire(signup)
    if changed != 1:
        return LeaveResult("not_signed", act)
    promoted = None
    if was == SignupStatus.CONFIRMED.value:
        promoted = _promote_or_free(db, act, now)
    _refresh_counters(db, act)
    return LeaveResult("left", act, was=was, promoted=promoted)


def _promote_or_free(db: Session, act: Activity, now: datetime) -> Person | None:
    """Hand the seat just freed to the first waitlisted person, else return it to the counter."""
    if act.status != ActivityStatus.CANCELLED.value:
        for _ in range(20):
            first = db.scalars(select(Signup).where(Signup.activity_id == act.id,
                                                    Signup.status == SignupStatus.WAITLISTED.value)
                               .order_by(Signup.id).limit(1)).first()
            if first is None:
                break
            moved = db.execute(update(Signup).where(Signup.id == first.id,
                                                    Signup.status == SignupStatus.WAITLISTED.value)
                               .values(status=SignupStatus.CONFIRMED.value, updated_at=now)
                               .execution_options(synchronize_session=False)).rowcount
            db.expire(first)
            if moved == 1:
                return first.person
    db.execute(update(Activity).where(Activity.id == act.id, Activity.seats_taken > 0)
               .values(seats_taken=Activity.seats_taken - 1).execution_options(synchronize_session=False))
    return None


def set_status(db: Session, act: Activity, new: ActivityStatus) -> bool:
    """close / reopen / cancel; a conditional UPDATE so two organisers cannot both "win"."""
    allowed_from = {
        ActivityStatus.CLOSED: (ActivityStatus.OPEN.value,),
        ActivityStatus.OPEN: (ActivityStatus.CLOSED.value,),
        ActivityStatus.CANCELLED: (ActivityStatus.OPEN.value, ActivityStatus.CLOSED.value),
    }[new]
    changed = db.execute(update(Activity).where(Activity.id == act.id, Activity.status.in_(allowed_from))
                         .values(status=new.value).execution_options(synchronize_session=False)).rowcount
    _refresh_counters(db, act)
    return changed == 1


def roster(db: Session, act: Activity) -> tuple[list[Signup], list[Signup]]:
    """(confirmed, waitlisted), each in sign-up order."""
    rows = db.scalars(select(Signup).where(Signup.activity_id == act.id, Signup.status.in_(ACTIVE))
                      .order_by(Signup.id)).all()
    confirmed = [s for s in rows if s.status == SignupStatus.CONFIRMED.value]
    waitlisted = [s for s in rows if s.status == SignupStatus.WAITLISTED.value]
    return confirmed, waitlisted


def signed_up_people(db: Session, act: Activity) -> list[Person]:
    confirmed, waitlisted = roster(db, act)
    return [s.person for s in confirmed + waitlisted]


def attended_ids(db: Session, act: Activity) -> set[int]:
    return set(db.scalars(select(Attendance.person_id).where(Attendance.activity_id == act.id)))


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


def checkin_by_code(db: Session, person: Person, code: str, now: datetime) -> tuple[str, Activity | None]:
    """Participant check-in: (outcome, activity); outcome ok | again | not_now | not_signed | bad_code."""
    acts = db.scalars(select(Activity).where(Activity.checkin_code == code.strip(),
                                             Activity.status != ActivityStatus.CANCELLED.value)
                      .order_by(Activity.starts_at.desc())).all()
    if not acts:
        return "bad_code", None
    mine = [a for a in acts if (s := signup_of(db, a.id, person.id)) is not None
            and s.status == SignupStatus.CONFIRMED.value]
    if not mine:
        return "not_signed", acts[0]
    current = [a for a in mine if a.starts_at - CHECKIN_EARLY <= now <= a.ends_at]
    if not current:
        return "not_now", mine[0]
    act = current[0]
    ok = checkin_person(db, act, person, method="code", by=person, now=now)
    return ("ok" if ok else "again"), act


def open_activities_for(db: Session, person: Person, now: datetime, limit: int = 20) -> list[Activity]:
    """Activities I may join (my unit in the audience) that have not ended, soonest first."""
    if person.unit is None:
        return []
    # the audience unit is an ancestor of (or equal to) my unit: its path is a prefix of mine
    ancestor_ids = [int(x) for x in person.unit.path.strip("/").split("/") if x]
    return list(db.scalars(select(Activity).where(Activity.audience_unit_id.in_(ancestor_ids),
                                                  Activity.status != ActivityStatus.CANCELLED.value,
                                                  Activity.ends_at > now)
                           .order_by(Activity.starts_at).limit(limit)).unique())


def my_signups(db: Session, person: Person, now: datetime, limit: int = 20) -> list[tuple[Signup, Activity]]:
    rows = db.execute(select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
                      .where(Signup.person_id == person.id, Signup.status.in_(ACTIVE),
                             Activity.ends_at > now - timedelta(days=1))
                      .order_by(Activity.starts_at).limit(limit)).unique().all()
    return [(s, a) for s, a in rows]
