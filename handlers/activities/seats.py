"""Join and leave: the hot path of a sign-up storm (seats, waitlist, promotion), see RELIABILITY.md §4."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Row, Table, and_, bindparam, delete, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from models.activity import PARTY_ONLY_KINDS, Activity, ActivityStatus, Attendance, Signup, SignupStatus
from models.db import rowcount
from models.org import Person, Unit
from models.policy import can

from .service import (
    ACTIVE,
    JoinResult,
    LeaveResult,
    _lock_activity,
    _position,
    _refresh_counters,
    get_activity,
    signup_of,
    waitlist_position,
)

__all__ = ["ActivityView", "join", "leave"]


# --- join: the hot path of a sign-up storm --------------------------------------------------------
# Every click runs it, so it is Core statements on the tables (no ORM load, no unit of work, no
# expire-and-reload), built once here: one read, then the seat UPDATE … RETURNING or the share
# lock, then one INSERT … RETURNING that also counts the queue position.

_A, _U, _P, _S = (cast(Table, m.__table__) for m in (Activity, Unit, Person, Signup))   # Core tables of the mapped classes
_OPEN, _CONFIRMED = ActivityStatus.OPEN, SignupStatus.CONFIRMED
_WAITLISTED, _CANCELLED = SignupStatus.WAITLISTED, SignupStatus.CANCELLED


@dataclass(slots=True)
class UnitRef:
    """The audience unit as the policy and the card read it."""
    id: int
    name: str
    path: str
    contains = Unit.contains   # the same path-prefix test as the ORM unit


@dataclass(slots=True)
class PersonRef:
    id: int
    name: str


@dataclass(slots=True)
class ActivityView:
    """What a join answer shows about the activity (the reply and the card), read in the join's
    one SELECT; seats_taken and status are the values the join itself saw last."""
    id: int
    title: str
    description: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    place: str
    seats: int | None
    seats_taken: int
    waitlist: bool
    deadline: datetime
    status: str
    audience_unit: UnitRef
    organiser: PersonRef

    @property
    def scope_unit(self) -> UnitRef:
        return self.audience_unit

    @property
    def organiser_id(self) -> int:
        return self.organiser.id

    @property
    def party_only(self) -> bool:
        return self.kind in PARTY_ONLY_KINDS


_READ = (select(_A.c.id, _A.c.title, _A.c.description, _A.c.kind, _A.c.starts_at, _A.c.ends_at, _A.c.place,
                _A.c.seats, _A.c.seats_taken, _A.c.waitlist, _A.c.deadline, _A.c.status, _A.c.organiser_id,
                _U.c.id.label("unit_id"), _U.c.name.label("unit_name"), _U.c.path.label("unit_path"),
                _P.c.name.label("organiser_name"), _S.c.id.label("signup_id"), _S.c.status.label("signup_status"))
         .select_from(_A.join(_U, _U.c.id == _A.c.audience_unit_id).join(_P, _P.c.id == _A.c.organiser_id)
                      .outerjoin(_S, and_(_S.c.activity_id == _A.c.id, _S.c.person_id == bindparam("person"))))
         .where(_A.c.id == bindparam("activity")))

_TAKE = (update(_A).where(_A.c.id == bindparam("activity"), _A.c.status == _OPEN,
                          or_(_A.c.seats.is_(None), _A.c.seats_taken < _A.c.seats))
         .values(seats_taken=_A.c.seats_taken + 1).returning(_A.c.seats_taken))

_GIVE_BACK = (update(_A).where(_A.c.id == bindparam("activity"), _A.c.seats_taken > 0)
              .values(seats_taken=_A.c.seats_taken - 1))

_SHARE = (select(_A.c.seats, _A.c.seats_taken, _A.c.status).where(_A.c.id == bindparam("activity"))
          .with_for_update(read=True))

_REJOIN = delete(_S).where(_S.c.id == bindparam("signup"), _S.c.status == _CANCELLED)


# The queue position of the new row, counted in its RETURNING clause: 1 + the waitlisted rows
# before it (the subquery does not see the new row on either backend, hence `<` and + 1). Literal
# SQL because SQLAlchemy does not correlate a subquery with the INSERT target in RETURNING.
_POSITION = literal_column(
    f"(SELECT count(*) FROM signup AS ahead WHERE ahead.activity_id = signup.activity_id "
    f"AND ahead.status = '{_WAITLISTED}' AND ahead.id < signup.id) + 1", Integer).label("position")


def _insert_stmt(insert: Callable[[Table], postgresql.Insert | sqlite.Insert]) -> ReturningInsert[tuple[int, int]]:
    """INSERT … ON CONFLICT DO NOTHING on UNIQUE(activity, person) RETURNING (id, position)."""
    return (insert(_S).values(activity_id=bindparam("activity"), person_id=bindparam("person"),
                              status=bindparam("st"), created_at=bindparam("now"), updated_at=bindparam("now"))
            .on_conflict_do_nothing().returning(_S.c.id, _POSITION))


_INSERT = {"postgresql": _insert_stmt(pg_insert), "sqlite": _insert_stmt(sqlite_insert)}


def _take_seat(db: Session, activity_id: int) -> int | None:
    """The one race-safe seat grab: conditional UPDATE; the new seats_taken, None if no seat."""
    return db.execute(_TAKE, {"activity": activity_id}).scalar()


def _share_lock_or_take(db: Session, activity_id: int) -> tuple[int | None, Row[Any, Any, Any]]:
    """PostgreSQL, activity full: hold a SHARE lock on it until commit (so a cancellation waits
    for us and then promotes us), unless a seat was freed while we waited for the lock. Then the
    share lock is dropped (rollback to the savepoint releases it) before the seat UPDATE: two
    joiners upgrading their share locks at the same time would deadlock.

    Returns (new seats_taken or None, the activity's seats/seats_taken/status under the lock).
    The savepoint is plain SQL, not Session.begin_nested(): only Core statements run inside it
    (they never flush the session, so rolling back to it cannot undo ORM state), and the one
    kept is released by the commit, which saves two round trips per queued joiner."""
    conn = db.connection()
    conn.exec_driver_sql("SAVEPOINT lianxin_join")
    for _ in range(5):
        cur = db.execute(_SHARE, {"activity": activity_id}).one()
        if cur.status != _OPEN or (cur.seats is not None and cur.seats_taken >= cur.seats):
            return None, cur         # still full: keep the share lock
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT lianxin_join")
        taken = _take_seat(db, activity_id)
        if taken is not None:
            return taken, cur
    return None, cur


def join(db: Session, activity_id: int, person: Person, now: datetime) -> JoinResult:
    """Give `person` a seat, or a waitlist place; repeated joins change nothing.

    PostgreSQL: the seat UPDATE locks the activity row only while seats remain. Once full, a
    joiner takes a SHARE lock before queueing: joiners do not block each other, but a
    cancellation (which takes FOR UPDATE before promoting) waits for them and then sees them,
    and a joiner arriving during a cancellation waits and then sees the freed seat. The first
    read is a plain snapshot: when it shows the activity full, the seat UPDATE is skipped and
    the share-locked re-read decides. SQLite: the transaction holds the write lock from its
    BEGIN IMMEDIATE, so that first read is already the truth.
    """
    row = db.execute(_READ, {"activity": activity_id, "person": person.id}).first()
    if row is None:
        return JoinResult("not_found")
    act = ActivityView(row.id, row.title, row.description, row.kind, row.starts_at, row.ends_at, row.place,
                       row.seats, row.seats_taken, row.waitlist, row.deadline, row.status,
                       UnitRef(row.unit_id, row.unit_name, row.unit_path), PersonRef(row.organiser_id, row.organiser_name))
    if row.signup_status == _CONFIRMED:
        return JoinResult("already_confirmed", act)
    if row.signup_status == _WAITLISTED:
        return JoinResult("already_waitlisted", act, _position(db, act.id, row.signup_id))
    if not can(person, "activity.join", act):
        return JoinResult("not_audience", act)
    if act.status == ActivityStatus.CANCELLED:
        return JoinResult("cancelled", act)
    if act.status == ActivityStatus.CLOSED:
        return JoinResult("closed", act)
    if now > act.deadline or now >= act.starts_at:
        return JoinResult("deadline", act)
    if row.signup_id is not None:  # a cancelled sign-up: re-join at the back of the queue
        db.execute(_REJOIN, {"signup": row.signup_id})
    taken = None
    if act.seats is None or act.seats_taken < act.seats:
        taken = _take_seat(db, act.id)
    if taken is None and db.get_bind().dialect.name != "sqlite":
        taken, locked = _share_lock_or_take(db, act.id)
        act.status, act.seats_taken = locked.status, locked.seats_taken
    if taken is not None:
        act.seats_taken = taken
    elif act.status != _OPEN:
        return JoinResult("cancelled" if act.status == ActivityStatus.CANCELLED else "closed", act)
    elif not act.waitlist:
        return JoinResult("full", act)
    inserted = db.execute(_INSERT[db.get_bind().dialect.name], {
        "activity": act.id, "person": person.id, "st": _WAITLISTED if taken is None else _CONFIRMED,
        "now": now}).first()
    if inserted is None:
        # the same person joined at the same moment through another channel: that one counts
        if taken is not None:
            db.execute(_GIVE_BACK, {"activity": act.id})
            act.seats_taken -= 1
        again = signup_of(db, act.id, person.id)
        if again is not None and again.status == _WAITLISTED:
            return JoinResult("already_waitlisted", act, waitlist_position(db, again))
        return JoinResult("already_confirmed", act)
    if taken is not None:
        return JoinResult("confirmed", act)
    return JoinResult("waitlisted", act, inserted.position)


def leave(db: Session, activity_id: int, person: Person, now: datetime, *, expect: str | None = None) -> LeaveResult:
    """Cancel `person`'s sign-up; a freed seat goes to the first waitlisted person at once.

    `expect`: the status the sender's card showed ("取消候补" → waitlisted); another status now
    (promoted meanwhile) is "stale" and nothing changes. After check-in nothing can be cancelled."""
    act = get_activity(db, activity_id)
    if act is None:
        return LeaveResult("not_found")
    signup = db.scalars(select(Signup).where(Signup.activity_id == act.id, Signup.person_id == person.id,
                                             Signup.status.in_(ACTIVE))).first()
    if signup is None:
        return LeaveResult("not_signed", act)
    if now >= act.starts_at and act.status != ActivityStatus.CANCELLED:
        return LeaveResult("started", act)
    if expect is not None and signup.status != expect:
        return LeaveResult("stale", act, was=signup.status)
    if db.scalar(select(Attendance.id).where(Attendance.activity_id == act.id, Attendance.person_id == person.id)):
        return LeaveResult("checked_in", act, was=signup.status)
    was = signup.status
    if was == SignupStatus.CONFIRMED:
        _lock_activity(db, act.id)  # same lock order as join: activity row first, then sign-ups
    changed = db.execute(update(Signup).where(Signup.id == signup.id, Signup.status == was)
                         .values(status=SignupStatus.CANCELLED, updated_at=now)
                         .execution_options(synchronize_session=False))
    db.expire(signup)
    if rowcount(changed) != 1:
        return LeaveResult("not_signed", act)
    promoted = None
    if was == SignupStatus.CONFIRMED:
        promoted = _promote_or_free(db, act, now)
    _refresh_counters(db, act)
    return LeaveResult("left", act, was=was, promoted=promoted)


def _promote_or_free(db: Session, act: Activity, now: datetime) -> Person | None:
    """Hand the seat just freed to the first waitlisted person, else return it to the counter."""
    if act.status != ActivityStatus.CANCELLED:
        for _ in range(20):
            first = db.scalars(select(Signup).where(Signup.activity_id == act.id,
                                                    Signup.status == SignupStatus.WAITLISTED)
                               .order_by(Signup.id).limit(1)).first()
            if first is None:
                break
            moved = db.execute(update(Signup).where(Signup.id == first.id,
                                                    Signup.status == SignupStatus.WAITLISTED)
                               .values(status=SignupStatus.CONFIRMED, updated_at=now)
                               .execution_options(synchronize_session=False))
            db.expire(first)
            if rowcount(moved) == 1:
                return first.person
    db.execute(update(Activity).where(Activity.id == act.id, Activity.seats_taken > 0)
               .values(seats_taken=Activity.seats_taken - 1).execution_options(synchronize_session=False))
    return None
