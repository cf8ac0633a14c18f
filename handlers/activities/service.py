"""Activity domain functions on a Session: publish, join, leave, manage, check in, list.

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

from sqlalchemy import Integer, and_, bindparam, delete, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from models.activity import Activity, ActivityStatus, Attendance, Signup, SignupStatus
from models.org import Person, Unit
from models.policy import can

__all__ = [
    "CHECKIN_EARLY",
    "JoinResult",
    "LeaveResult",
    "attended_ids",
    "audience_people",
    "checkin_by_code",
    "checkin_person",
    "create_activity",
    "join",
    "leave",
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


@dataclass
class JoinResult:
    outcome: str            # confirmed | waitlisted | already_confirmed | already_waitlisted | full |
                            # closed | cancelled | deadline | not_audience | not_found
    activity: ActivityView | None = None   # what the answer shows (a plain view, not ORM)
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
                   status=ActivityStatus.OPEN, seats_taken=0)
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
        Signup.activity_id == activity_id, Signup.status == SignupStatus.WAITLISTED,
        Signup.id <= signup_id)) or 0


def _lock_activity(db: Session, activity_id: int, *, shared: bool = False) -> None:
    """Row lock on PostgreSQL (SQLite has no FOR UPDATE: its write transactions are serialised
    by BEGIN IMMEDIATE, which gives the same guarantee)."""
    if db.bind.dialect.name != "sqlite":
        db.execute(select(Activity.id).where(Activity.id == activity_id).with_for_update(read=shared))


def _refresh_counters(db: Session, act: Activity) -> None:
    db.expire(act, ["seats_taken", "status"])


def get_activity(db: Session, activity_id: int) -> Activity | None:
    """The activity with its audience and organiser, without the organiser's roles."""
    return db.get(Activity, activity_id, options=[joinedload(Activity.organiser).lazyload(Person.roles)])


# --- join: the hot path of a sign-up storm --------------------------------------------------------
# Every click runs it, so it is Core statements on the tables (no ORM load, no unit of work, no
# expire-and-reload), built once here: one read, then the seat UPDATE … RETURNING or the share
# lock, then one INSERT … RETURNING that also counts the queue position.

_A, _U, _P, _S = Activity.__table__, Unit.__table__, Person.__table__, Signup.__table__
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


def _insert_stmt(insert):
    """INSERT … ON CONFLICT DO NOTHING on UNIQUE(activity, person) RETURNING (id, position)."""
    return (insert(_S).values(activity_id=bindparam("activity"), person_id=bindparam("person"),
                              status=bindparam("st"), created_at=bindparam("now"), updated_at=bindparam("now"))
            .on_conflict_do_nothing().returning(_S.c.id, _POSITION))


_INSERT = {"postgresql": _insert_stmt(pg_insert), "sqlite": _insert_stmt(sqlite_insert)}


def _take_seat(db: Session, activity_id: int) -> int | None:
    """The one race-safe seat grab: conditional UPDATE; the new seats_taken, None if no seat."""
    return db.execute(_TAKE, {"activity": activity_id}).scalar()


def _share_lock_or_take(db: Session, activity_id: int):
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
    if taken is None and db.bind.dialect.name != "sqlite":
        taken, locked = _share_lock_or_take(db, act.id)
        act.status, act.seats_taken = locked.status, locked.seats_taken
    if taken is not None:
        act.seats_taken = taken
    elif act.status != _OPEN:
        return JoinResult("cancelled" if act.status == ActivityStatus.CANCELLED else "closed", act)
    elif not act.waitlist:
        return JoinResult("full", act)
    inserted = db.execute(_INSERT[db.bind.dialect.name], {
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


def leave(db: Session, activity_id: int, person: Person, now: datetime) -> LeaveResult:
    """Cancel `person`'s sign-up; a freed seat goes to the first waitlisted person at once."""
    act = get_activity(db, activity_id)
    if act is None:
        return LeaveResult("not_found")
    signup = db.scalars(select(Signup).where(Signup.activity_id == act.id, Signup.person_id == person.id,
                                             Signup.status.in_(ACTIVE))).first()
    if signup is None:
        return LeaveResult("not_signed", act)
    if now >= act.starts_at and act.status != ActivityStatus.CANCELLED:
        return LeaveResult("started", act)
    was = signup.status
    if was == SignupStatus.CONFIRMED:
        _lock_activity(db, act.id)  # same lock order as join: activity row first, then sign-ups
    changed = db.execute(update(Signup).where(Signup.id == signup.id, Signup.status == was)
                         .values(status=SignupStatus.CANCELLED, updated_at=now)
                         .execution_options(synchronize_session=False)).rowcount
    db.expire(signup)
    if changed != 1:
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
        ActivityStatus.CLOSED: (ActivityStatus.OPEN,),
        ActivityStatus.OPEN: (ActivityStatus.CLOSED,),
        ActivityStatus.CANCELLED: (ActivityStatus.OPEN, ActivityStatus.CLOSED),
    }[new]
    changed = db.execute(update(Activity).where(Activity.id == act.id, Activity.status.in_(allowed_from))
                         .values(status=new).execution_options(synchronize_session=False)).rowcount
    _refresh_counters(db, act)
    return changed == 1


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
    """Activities I may join (my unit in the audience) that have not ended, soonest first."""
    if person.unit is None:
        return []
    # the audience unit is an ancestor of (or equal to) my unit: its path is a prefix of mine
    ancestor_ids = [int(x) for x in person.unit.path.strip("/").split("/") if x]
    return list(db.scalars(select(Activity).where(Activity.audience_unit_id.in_(ancestor_ids),
                                                  Activity.status != ActivityStatus.CANCELLED,
                                                  Activity.ends_at > now)
                           .order_by(Activity.starts_at).limit(limit)).unique())


def my_signups(db: Session, person: Person, now: datetime, limit: int = 20) -> list[tuple[Signup, Activity]]:
    rows = db.execute(select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
                      .where(Signup.person_id == person.id, Signup.status.in_(ACTIVE),
                             Activity.ends_at > now - timedelta(days=1))
                      .order_by(Activity.starts_at).limit(limit)).unique().all()
    return [(s, a) for s, a in rows]


def digest_lines(db: Session, unit: Unit, since: datetime, until: datetime, *, tz: tzinfo) -> list[str]:
    """Weekly digest section (scheduler.jobs.digest.SECTIONS): activities of the unit's subtree, dates in `tz`."""
    acts = db.scalars(select(Activity).join(Unit, Unit.id == Activity.audience_unit_id)
                      .where(Unit.path.like(f"{unit.path}%"), Activity.starts_at >= since,
                             Activity.starts_at < until + timedelta(days=7))
                      .order_by(Activity.starts_at)).unique().all()
    if not acts:
        return []
    lines = ["活动："]
    for act in acts[:10]:
        confirmed, waitlisted = roster(db, act)
        came = len(attended_ids(db, act))
        state = "已取消" if act.status == ActivityStatus.CANCELLED else (
            f"签到 {came}/{len(confirmed)}" if act.starts_at < until else
            f"报名 {len(confirmed)}{'' if act.seats is None else '/' + str(act.seats)}"
            + (f"，候补 {len(waitlisted)}" if waitlisted else ""))
        lines.append(f"· {act.title}（{act.starts_at.astimezone(tz):%m-%d}）{state}")
    return lines
