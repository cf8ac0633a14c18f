"""Statistics: the ONE query module behind chat (`统计`), the dashboard, the Excel report and the digest.

Every function takes a session, a scope unit (its whole subtree counts) and a period, and
returns plain dataclasses / dicts: no formatting, no access control (callers ask
models.policy first). Queries are set-based: a fixed number of statements per call, whatever
the size of the subtree.

Talk coverage comes from models.coverage (the talks module's one coverage query); this module
only groups its per-team counts by branch / committee.

Active users: a person counts as active on a day when they sent the bot anything that day
(any platform). The dispatcher records it in `person_active_day` (one row per person and
local day, written with INSERT … ON CONFLICT DO NOTHING), which keeps history per quarter;
ProcessedDelivery could not be used because it does not record who sent a delivery.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, ForeignKey, UniqueConstraint, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from .base import Base
from .enums import UnitKind
from .org import Person, Unit

__all__ = [
    "LEVEL_KINDS",
    "CoverageRow",
    "LearningRow",
    "PersonActiveDay",
    "ScopeSummary",
    "UnitRow",
    "active_users",
    "coverage",
    "coverage_total",
    "flag_trend",
    "flags_by_category",
    "learning_completion",
    "mark_active",
    "material_completion",
    "quarter_range",
    "recent_quarters",
    "scope_summary",
    "units_in",
]


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


def mark_active(db: Session, person_id: int, moment: datetime, tz: str = "Asia/Shanghai") -> None:
    """Record that `person_id` was active on the local day of `moment` (idempotent, no read).

    INSERT … ON CONFLICT DO NOTHING cannot fail on a repeat, so the dispatcher runs it inside a
    writing turn's transaction, or in a short one of its own after a read-only turn. The
    statement is built once: it runs on the first message of every person's day."""
    stmt = _MARK_ACTIVE.get(db.get_bind().dialect.name)
    if stmt is not None:   # other databases are not supported by lianxin
        db.execute(stmt, {"person": person_id, "day": moment.astimezone(ZoneInfo(tz)).date()})


# --- periods ----------------------------------------------------------------------------------

def quarter_range(quarter: str, tz: str = "Asia/Shanghai") -> tuple[datetime, datetime]:
    """[start, end) of a quarter in UTC (local midnight boundaries)."""
    from .coverage import quarter_bounds

    return quarter_bounds(quarter, tz)


def recent_quarters(last: str, n: int) -> list[str]:
    """The n quarters ending with `last`, oldest first: recent_quarters("2026Q2", 3) → 2025Q4, 2026Q1, 2026Q2."""
    from .coverage import previous_quarter

    out = [last]
    while len(out) < n:
        out.append(previous_quarter(out[-1]))
    return out[::-1]


# --- units ------------------------------------------------------------------------------------

# a "level" groups teams by their nearest ancestor of these kinds
LEVEL_KINDS = {
    "team": (UnitKind.TEAM.value,),
    "branch": (UnitKind.BRANCH.value,),
    "general_branch": (UnitKind.GENERAL_BRANCH.value,),
    "committee": (UnitKind.COMMITTEE.value,),
}


@dataclass(frozen=True)
class UnitRow:
    id: int
    name: str
    full_name: str
    path: str
    kind: str
    path_ids: tuple[int, ...] = ()


def _path_ids(path: str) -> tuple[int, ...]:
    return tuple(int(x) for x in path.strip("/").split("/") if x)


def units_in(db: Session, unit: Unit) -> dict[int, UnitRow]:
    """Every active unit of `unit`'s subtree (one statement, Core rows: thousands of units are cheap)."""
    rows = db.connection().execute(select(Unit.id, Unit.name, Unit.full_name, Unit.path, Unit.kind)
                                   .where(Unit.path.like(f"{unit.path}%"), Unit.active.is_(True)))
    return {r[0]: UnitRow(r[0], r[1], r[2], r[3], r[4], _path_ids(r[3])) for r in rows}


def _group_of(row: UnitRow, units: dict[int, UnitRow], level: str) -> UnitRow | None:
    """The nearest unit of `level` at or above `row` inside the subtree."""
    kinds = LEVEL_KINDS[level]
    for uid in reversed(row.path_ids):
        u = units.get(uid)
        if u is not None and u.kind in kinds:
            return u
    return None


# --- talk coverage ----------------------------------------------------------------------------

@dataclass
class CoverageRow:
    unit_id: int
    name: str
    full_name: str
    members: int = 0
    talked: int = 0

    @property
    def missing(self) -> int:
        return self.members - self.talked

    @property
    def rate(self) -> float:
        """talked / members (0.0 for a unit without members: nothing to show, nothing achieved)."""
        return self.talked / self.members if self.members else 0.0


def coverage(db: Session, unit: Unit, quarter: str, level: str = "branch") -> list[CoverageRow]:
    """Talk coverage in `quarter` of every `level` unit (team, branch, general_branch, committee) in the subtree.

    Definition (models.coverage): members are the active people of active teams except each
    team's own leaders; a member is covered when at least one talk with them has
    Talk.quarter == quarter. A group's numbers are the sums over its teams. Groups without any
    team member are listed with 0/0.
    """
    from .coverage import team_counts

    if level not in LEVEL_KINDS:
        raise ValueError(f"unknown level {level!r}")
    units = units_in(db, unit)
    counts = team_counts(db, quarter, unit)
    rows: dict[int, CoverageRow] = {u.id: CoverageRow(u.id, u.name, u.full_name)
                                    for u in units.values() if u.kind in LEVEL_KINDS[level]}
    for team_id, (members, talked) in counts.items():
        team = units.get(team_id)
        group = _group_of(team, units, level) if team else None
        if group is None:
            continue
        row = rows[group.id]
        row.members += members
        row.talked += talked
    return sorted(rows.values(), key=lambda r: r.full_name)


def coverage_total(db: Session, unit: Unit, quarter: str) -> CoverageRow:
    """The whole subtree's coverage in `quarter` as one row."""
    from .coverage import team_counts

    total = CoverageRow(unit.id, unit.name, unit.full_name)
    for members, talked in team_counts(db, quarter, unit).values():
        total.members += members
        total.talked += talked
    return total


# --- flags ------------------------------------------------------------------------------------

def _talks_in(unit: Unit):
    from .talk import Talk

    return (select(Talk).join(Person, Person.id == Talk.subject_id).join(Unit, Unit.id == Person.unit_id)
            .where(Unit.path.like(f"{unit.path}%")))


def flags_by_category(db: Session, unit: Unit, quarter: str) -> dict[str, dict[str, int]]:
    """category → {flag level → number of flagged talks} for talks in `quarter` about people in the subtree.

    A flagged talk is a talk with flag "watch" (关注) or "urgent" (紧急); its category is the
    talk's category ("other" when missing). Counted by Talk.quarter.
    """
    from .talk import Flag, Talk

    stmt = (select(func.coalesce(Talk.category, "other"), Talk.flag, func.count())
            .join(Person, Person.id == Talk.subject_id).join(Unit, Unit.id == Person.unit_id)
            .where(Unit.path.like(f"{unit.path}%"), Talk.quarter == quarter, Talk.flag != Flag.NONE.value)
            .group_by(func.coalesce(Talk.category, "other"), Talk.flag))
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for cat, flag, n in db.execute(stmt):
        out[cat][flag] = int(n)
    return dict(out)


def flag_trend(db: Session, unit: Unit, quarters: list[str]) -> dict[str, dict[str, int]]:
    """quarter → {"watch": n, "urgent": n} of flagged talks in the subtree, for each quarter asked."""
    from .talk import Flag, Talk

    out = {q: {Flag.WATCH.value: 0, Flag.URGENT.value: 0} for q in quarters}
    stmt = (select(Talk.quarter, Talk.flag, func.count())
            .join(Person, Person.id == Talk.subject_id).join(Unit, Unit.id == Person.unit_id)
            .where(Unit.path.like(f"{unit.path}%"), Talk.quarter.in_(quarters), Talk.flag != Flag.NONE.value)
            .group_by(Talk.quarter, Talk.flag))
    for q, flag, n in db.execute(stmt):
        out[q][flag] = int(n)
    return out


# --- learning ---------------------------------------------------------------------------------

@dataclass
class LearningRow:
    unit_id: int
    name: str
    full_name: str
    assigned: int = 0     # (person, material) pairs: material published in the period to an audience containing the person
    opened: int = 0
    studied: int = 0

    @property
    def rate(self) -> float:
        """studied / assigned (0.0 when nothing was assigned)."""
        return self.studied / self.assigned if self.assigned else 0.0


def _people_per_unit(db: Session, unit: Unit) -> dict[int, int]:
    stmt = (select(Person.unit_id, func.count()).join(Unit, Unit.id == Person.unit_id)
            .where(Person.active.is_(True), Unit.path.like(f"{unit.path}%")).group_by(Person.unit_id))
    return {uid: int(n) for uid, n in db.execute(stmt)}


def learning_completion(db: Session, unit: Unit, quarter: str, level: str = "branch") -> tuple[LearningRow, list[LearningRow]]:
    """Learning completion of the subtree for materials published in `quarter`: (total, rows per `level` unit).

    Definition: every material published in the quarter (local time) is assigned to each active
    person of its audience subtree. Restricted to `unit`'s subtree, *assigned* counts those
    (person, material) pairs, *opened* the pairs with a read record, *studied* the pairs marked
    studied (at any time up to now). Completion rate = studied / assigned. People are counted in
    the unit they belong to now.
    """
    from .learning import Material, MaterialRead

    start, end = quarter_range(quarter)
    units = units_in(db, unit)
    ancestors = [int(x) for x in unit.path.strip("/").split("/") if x]
    mats = db.execute(select(Material.id, Unit.path).join(Unit, Unit.id == Material.audience_unit_id)
                      .where(Material.published_at >= start, Material.published_at < end,
                             (Unit.path.like(f"{unit.path}%")) | Unit.id.in_(ancestors))).all()
    total = LearningRow(unit.id, unit.name, unit.full_name)
    groups: dict[int, LearningRow] = {u.id: LearningRow(u.id, u.name, u.full_name)
                                      for u in units.values() if u.kind in LEVEL_KINDS[level]}
    if not mats:
        return total, sorted(groups.values(), key=lambda r: r.full_name)
    people = _people_per_unit(db, unit)
    group_of = {uid: _group_of(u, units, level) for uid, u in units.items()}
    # people per subtree (each unit's count added to itself and its ancestors inside the scope)
    subtree: dict[int, int] = defaultdict(int)
    for uid, n in people.items():
        u = units.get(uid)
        for aid in (u.path_ids if u else ()):
            if aid in units:
                subtree[aid] += n
    in_scope = subtree.get(unit.id, 0)
    for _mid, audience_path in mats:
        audience_id = int(audience_path.strip("/").split("/")[-1])
        if unit.path.startswith(audience_path):      # published above (or to) the scope: everybody
            total.assigned += in_scope
            for g in groups.values():
                groups[g.unit_id].assigned += subtree.get(g.unit_id, 0)
            continue
        total.assigned += subtree.get(audience_id, 0)
        audience = units.get(audience_id)
        for g in groups.values():
            g_path = units[g.unit_id].path
            if g_path.startswith(audience_path):       # group inside the audience
                g.assigned += subtree.get(g.unit_id, 0)
            elif audience is not None and audience_path.startswith(g_path):   # audience inside the group
                g.assigned += subtree.get(audience_id, 0)
    # reads by the people still inside each material's audience, grouped by their unit
    audience_unit = aliased(Unit)
    reads = db.execute(
        select(Person.unit_id, func.count(), func.count(MaterialRead.studied_at))
        .select_from(MaterialRead)
        .join(Material, Material.id == MaterialRead.material_id)
        .join(audience_unit, audience_unit.id == Material.audience_unit_id)
        .join(Person, Person.id == MaterialRead.person_id).join(Unit, Unit.id == Person.unit_id)
        .where(Material.published_at >= start, Material.published_at < end, Person.active.is_(True),
               Unit.path.like(f"{unit.path}%"), Unit.path.like(audience_unit.path + "%"))
        .group_by(Person.unit_id))
    return _add_reads(total, groups, group_of, reads)


def _add_reads(total, groups: dict, group_of: dict, reads) -> tuple:
    """Add (unit id, opened, studied) counts to the total and to each unit's group row."""
    for uid, opened, studied in reads:
        total.opened += opened
        total.studied += studied
        g = group_of.get(uid)
        if g is not None:
            groups[g.id].opened += opened
            groups[g.id].studied += studied
    return total, sorted(groups.values(), key=lambda r: r.full_name)


def material_completion(db: Session, material, level: str = "branch") -> tuple[LearningRow, list[LearningRow]]:
    """One material's completion over its audience: (total, rows per `level` unit inside the audience)."""
    from .learning import MaterialRead

    unit = material.audience_unit
    units = units_in(db, unit)
    people = _people_per_unit(db, unit)
    total = LearningRow(unit.id, unit.name, unit.full_name)
    groups: dict[int, LearningRow] = {u.id: LearningRow(u.id, u.name, u.full_name)
                                      for u in units.values() if u.kind in LEVEL_KINDS[level]}
    group_of = {uid: _group_of(u, units, level) for uid, u in units.items()}
    for uid, n in people.items():
        total.assigned += n
        g = group_of.get(uid)
        if g is not None:
            groups[g.id].assigned += n
    reads = db.execute(
        select(Person.unit_id, func.count(), func.count(MaterialRead.studied_at))
        .join(Person, Person.id == MaterialRead.person_id).join(Unit, Unit.id == Person.unit_id)
        .where(MaterialRead.material_id == material.id, Person.active.is_(True), Unit.path.like(f"{unit.path}%"))
        .group_by(Person.unit_id))
    return _add_reads(total, groups, group_of, reads)


# --- active users -----------------------------------------------------------------------------

def active_users(db: Session, unit: Unit, start: date, end: date) -> tuple[int, int]:
    """(people active at least once in [start, end] local days, active people in the subtree)."""
    people = db.scalar(select(func.count()).select_from(Person).join(Unit, Unit.id == Person.unit_id)
                       .where(Person.active.is_(True), Unit.path.like(f"{unit.path}%"))) or 0
    active = db.scalar(select(func.count(func.distinct(PersonActiveDay.person_id)))
                       .join(Person, Person.id == PersonActiveDay.person_id).join(Unit, Unit.id == Person.unit_id)
                       .where(Person.active.is_(True), Unit.path.like(f"{unit.path}%"),
                              PersonActiveDay.day >= start, PersonActiveDay.day <= end)) or 0
    return int(active), int(people)


def quarter_days(quarter: str, tz: str = "Asia/Shanghai") -> tuple[date, date]:
    """First and last local day of a quarter."""
    start, end = quarter_range(quarter, tz)
    zone = ZoneInfo(tz)
    return start.astimezone(zone).date(), (end.astimezone(zone) - timedelta(days=1)).date()


# --- the summary used by chat and the weekly digest --------------------------------------------

@dataclass
class ScopeSummary:
    unit_id: int
    unit_name: str
    quarter: str
    coverage: CoverageRow
    coverage_rows: list[CoverageRow] = field(default_factory=list)   # per branch (or per team for a branch)
    flags: dict[str, dict[str, int]] = field(default_factory=dict)
    learning: LearningRow | None = None
    active: tuple[int, int] = (0, 0)
    extra: dict[str, object] = field(default_factory=dict)             # cases / activities when available

    @property
    def flag_total(self) -> int:
        return sum(sum(v.values()) for v in self.flags.values())


def breakdown_level(unit: Unit) -> str:
    """Rows under a branch are its teams; under anything bigger, its branches."""
    return "team" if unit.kind in (UnitKind.BRANCH.value, UnitKind.TEAM.value) else "branch"


def scope_summary(db: Session, unit: Unit, quarter: str, tz: str = "Asia/Shanghai", *, now: datetime | None = None,
                  config=None) -> ScopeSummary:
    """The quarter's summary of `unit` (chat 统计, weekly digest, report overview)."""
    level = breakdown_level(unit)
    first, last = quarter_days(quarter, tz)
    learning, _ = learning_completion(db, unit, quarter, level)
    summary = ScopeSummary(
        unit_id=unit.id, unit_name=unit.full_name, quarter=quarter,
        coverage=coverage_total(db, unit, quarter), coverage_rows=coverage(db, unit, quarter, level),
        flags=flags_by_category(db, unit, quarter), learning=learning,
        active=active_users(db, unit, first, last))
    summary.extra.update(cases_and_activities(db, unit, quarter, now, config, tz))
    return summary


# --- the dashboard's data set -------------------------------------------------------------------

@dataclass
class DashboardData:
    unit_id: int
    unit_name: str
    quarter: str
    level: str
    coverage: CoverageRow
    coverage_rows: list[CoverageRow]
    trend: dict[str, dict[str, int]]
    flags: dict[str, dict[str, int]]
    learning: LearningRow
    learning_rows: list[LearningRow]
    funnel: list[tuple[str, int]] = field(default_factory=list)          # case stages, in flow order
    participation: list[tuple[str, int, int]] = field(default_factory=list)  # (label, participants, members/seats)
    extra: dict[str, object] = field(default_factory=dict)


def dashboard(db: Session, unit: Unit, quarter: str, trend_quarters: int = 4, *, now: datetime | None = None,
              config=None) -> DashboardData:
    """Everything the dashboard page draws for `unit` and `quarter` (each part one query module call)."""
    level = breakdown_level(unit)
    learning, learning_rows = learning_completion(db, unit, quarter, level)
    data = DashboardData(
        unit_id=unit.id, unit_name=unit.full_name, quarter=quarter, level=level,
        coverage=coverage_total(db, unit, quarter), coverage_rows=coverage(db, unit, quarter, level),
        trend=flag_trend(db, unit, recent_quarters(quarter, trend_quarters)),
        flags=flags_by_category(db, unit, quarter), learning=learning, learning_rows=learning_rows)
    extra = cases_and_activities(db, unit, quarter, now, config)
    data.funnel = extra["funnel"]
    data.participation = [(r.name, r.participants, r.people) for r in extra["activity_rows"]]
    data.extra.update(extra)
    return data


# --- cases (models.case) ------------------------------------------------------------------------

# funnel stages in flow order: (label, the states whose reaching counts for the stage)
FUNNEL_STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("上报", ()),                                       # every case opened
    ("已处理", ("acknowledged", "follow_up", "care_requested", "closed")),   # left "reported"
    ("关爱申请", ("care_requested",)),
    ("已同意", ("approved",)),
    ("已指派帮扶人", ("helper_assigned",)),
    ("已结案", ("closed",)),
]
AGE_BUCKETS = [(7, "7天内"), (30, "7–30天"), (90, "30–90天"), (None, "90天以上")]


def _cases_in(unit: Unit):
    from .case import Case

    return Case.unit_id.in_(select(Unit.id).where(Unit.path.like(f"{unit.path}%")).scalar_subquery())


def case_funnel(db: Session, unit: Unit, start: datetime, end: datetime) -> list[tuple[str, int]]:
    """Cases opened in [start, end) in the subtree, counted per funnel stage they have reached.

    "上报" counts every case opened; each later stage counts the cases with at least one
    transition into one of the stage's states (CaseEvent history), whatever their state now.
    """
    from .case import Case, CaseEvent

    in_period = (_cases_in(unit), Case.created_at >= start, Case.created_at < end)
    total = db.scalar(select(func.count()).select_from(Case).where(*in_period)) or 0
    reached = dict(db.execute(
        select(CaseEvent.to_state, func.count(func.distinct(CaseEvent.case_id)))
        .join(Case, Case.id == CaseEvent.case_id)
        .where(*in_period, CaseEvent.kind == "transition").group_by(CaseEvent.to_state)).all())
    out = [(FUNNEL_STAGES[0][0], int(total))]
    for label, states in FUNNEL_STAGES[1:]:
        if states == FUNNEL_STAGES[1][1]:   # 已处理: any transition out of "reported"
            n = db.scalar(select(func.count(func.distinct(CaseEvent.case_id))).join(Case, Case.id == CaseEvent.case_id)
                          .where(*in_period, CaseEvent.kind == "transition", CaseEvent.from_state == "reported"))
        else:
            n = reached.get(states[0], 0)
        out.append((label, int(n or 0)))
    return out


def cases_by_state(db: Session, unit: Unit) -> dict[str, int]:
    """state → number of cases in the subtree now (all time)."""
    from .case import Case

    return {s: int(n) for s, n in db.execute(select(Case.state, func.count()).where(_cases_in(unit))
                                              .group_by(Case.state))}


def open_case_ages(db: Session, unit: Unit, now: datetime) -> list[tuple[str, int]]:
    """Open (not closed) cases of the subtree by age since opened: 7天内, 7–30天, 30–90天, 90天以上."""
    from .case import Case

    created = db.scalars(select(Case.created_at).where(_cases_in(unit), Case.state != "closed")).all()
    counts = [0] * len(AGE_BUCKETS)
    for c in created:
        age = (now - c).total_seconds() / 86400
        for i, (limit, _label) in enumerate(AGE_BUCKETS):
            if limit is None or age < limit:
                counts[i] += 1
                break
    return [(label, counts[i]) for i, (_l, label) in enumerate(AGE_BUCKETS)]


def overdue_cases(db: Session, unit: Unit, now: datetime, config) -> int:
    """Open cases whose current step has run past its SLA (handlers.cases.sla.allowed_hours, config sla.*)."""
    from types import SimpleNamespace

    from handlers.cases.sla import allowed_hours

    from .case import Case

    n = 0
    for state, flag, since in db.execute(select(Case.state, Case.flag, Case.sla_since)
                                         .where(_cases_in(unit), Case.state != "closed")):
        hours = allowed_hours(config, SimpleNamespace(state=state, flag=flag))
        if hours is not None and (now - since).total_seconds() > hours * 3600:
            n += 1
    return n


# --- activities (models.activity) ----------------------------------------------------------------

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
    from .activity import Activity, Attendance, Signup

    units = units_in(db, unit)
    group_of = {uid: _group_of(u, units, level) for uid, u in units.items()}
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
    for uid, n in _people_per_unit(db, unit).items():
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


# --- KPI for the secretaries' annual review (述职评议) ---------------------------------------------

@dataclass
class Indicator:
    key: str
    label: str
    numerator: int
    denominator: int
    definition: str

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


def year_quarters(year: int, now: datetime, tz: str = "Asia/Shanghai") -> list[str]:
    """The quarters of `year` that have started by `now` (local time)."""
    from .talk import quarter_of

    current = quarter_of(now, tz)
    return [q for q in (f"{year}Q{i}" for i in range(1, 5)) if q <= current]


def kpi(db: Session, unit: Unit, year: int, now: datetime, config) -> list[Indicator]:
    """The review indicators of `unit` (normally a branch) for `year`; definitions in docs/KPI.md.

    1. coverage: Σ over the year's started quarters of members talked to in the quarter /
       Σ members (models.coverage definitions; membership as of now).
    2. flags_ack_sla: flagged-talk cases opened in the year that left "reported" within the
       acknowledgement SLA (sla.ack_urgent_hours / sla.ack_watch_hours) / such cases that were
       either acknowledged or are past the SLA (cases still within their SLA are not judged yet).
    3. care_closed: care requests (cases that reached care_requested) opened in the year that are
       closed now / all such care requests.
    4. activities: activities held in the year for the subtree (numerator; denominator is the
       number of started quarters, so the rate reads "per quarter").
    5. participation: distinct people of the subtree who checked in at an activity held in the
       year / active people.
    6. learning: studied / assigned (person, material) pairs for materials published in the year.
    """
    total, _groups = _kpi_sets(db, unit, year, now, config, level=None)
    return total


def kpi_by_branch(db: Session, unit: Unit, year: int, now: datetime, config) -> list[tuple[UnitRow, list[Indicator]]]:
    """KPI of every branch in the subtree (a committee's view of its secretaries), set-based:
    the same number of statements for 1 or 100 branches."""
    _total, groups = _kpi_sets(db, unit, year, now, config, level="branch")
    return groups


def _kpi_sets(db: Session, unit: Unit, year: int, now: datetime, config, level: str | None):
    """(indicators of the whole subtree, [(group unit, indicators)] per `level` unit) in one pass."""

    from .case import Case, CaseEvent
    from .coverage import team_counts

    tz = config.timezone if config is not None else "Asia/Shanghai"
    quarters = year_quarters(year, now, tz)
    start = datetime(year, 1, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    units = units_in(db, unit)
    grp_level = level or "branch"
    group_of = {uid: _group_of(u, units, grp_level) for uid, u in units.items()}
    group_ids = sorted((u.id for u in units.values() if u.kind in LEVEL_KINDS[grp_level]),
                       key=lambda i: units[i].full_name)
    keys = ["coverage", "flags_ack_sla", "care_closed", "activities", "participation", "learning"]
    num = {k: defaultdict(int) for k in keys}   # group id (None = the whole subtree) → numerator
    den = {k: defaultdict(int) for k in keys}

    def add(key: str, unit_id: int | None, n: int, d: int) -> None:
        num[key][None] += n
        den[key][None] += d
        g = group_of.get(unit_id) if unit_id is not None else None
        if g is not None:
            num[key][g.id] += n
            den[key][g.id] += d

    for q in quarters:
        for team_id, (members, talked) in team_counts(db, q, unit).items():
            if team_id in units:
                add("coverage", team_id, talked, members)

    from bot.config import Config

    sla = config if config is not None else Config({})  # no config given: the shipped defaults
    urgent_h, watch_h = sla.get("sla.ack_urgent_hours", float), sla.get("sla.ack_watch_hours", float)
    first_ack = (select(CaseEvent.case_id, func.min(CaseEvent.at).label("at"))
                 .where(CaseEvent.kind == "transition", CaseEvent.from_state == "reported")
                 .group_by(CaseEvent.case_id).subquery())
    for unit_id, created, flag, acked in db.execute(
            select(Case.unit_id, Case.created_at, Case.flag, first_ack.c.at)
            .outerjoin(first_ack, first_ack.c.case_id == Case.id)
            .where(_cases_in(unit), Case.talk_id.is_not(None), Case.created_at >= start, Case.created_at < end)):
        limit = (urgent_h if flag == "urgent" else watch_h) * 3600
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        acked = acked if acked is None or acked.tzinfo else acked.replace(tzinfo=UTC)
        if acked is not None and (acked - created).total_seconds() <= limit:
            add("flags_ack_sla", unit_id, 1, 1)
        elif acked is not None or (now - created).total_seconds() > limit:
            add("flags_ack_sla", unit_id, 0, 1)

    care = select(CaseEvent.case_id).where(CaseEvent.to_state == "care_requested").scalar_subquery()
    for unit_id, state in db.execute(select(Case.unit_id, Case.state).where(
            _cases_in(unit), Case.id.in_(care), Case.created_at >= start, Case.created_at < end)):
        add("care_closed", unit_id, 1 if state == "closed" else 0, 1)

    act_total, act_rows = activity_stats(db, unit, start, end, now, grp_level)
    num["activities"][None], den["activities"][None] = act_total.held, len(quarters)
    num["participation"][None], den["participation"][None] = act_total.participants, act_total.people
    for r in act_rows:
        num["activities"][r.unit_id], den["activities"][r.unit_id] = r.held, len(quarters)
        num["participation"][r.unit_id], den["participation"][r.unit_id] = r.participants, r.people

    for q in quarters:
        l_total, l_rows = learning_completion(db, unit, q, grp_level)
        num["learning"][None] += l_total.studied
        den["learning"][None] += l_total.assigned
        for r in l_rows:
            num["learning"][r.unit_id] += r.studied
            den["learning"][r.unit_id] += r.assigned

    defs = {
        "coverage": ("谈心谈话覆盖率", "各季度已谈话人数之和 / 各季度应谈话人数之和（本年已开始的季度）"),
        "flags_ack_sla": ("预警按时确认率", f"本年预警谈话生成的个案中在时限内（紧急 {urgent_h:g} 小时、关注 {watch_h:g} 小时）被确认的个数 / "
                                     "已确认或已超时的个数"),
        "care_closed": ("关爱帮扶结案率", "本年发起的关爱申请中已结案的个数 / 本年发起的关爱申请数"),
        "activities": ("开展活动数（每季度）", "本年已举办（未取消、已开始）的面向本单位的活动数 / 已开始的季度数"),
        "participation": ("活动参与率", "本年至少签到参加过一次活动的人数 / 在册人数"),
        "learning": ("学习完成率", "本年发布的学习材料的已学完人次 / 应学人次"),
    }

    def indicators(gid: int | None) -> list[Indicator]:
        return [Indicator(k, defs[k][0], int(num[k].get(gid, 0)), int(den[k].get(gid, 0)), defs[k][1]) for k in keys]

    groups = [(units[g], indicators(g)) for g in group_ids] if level else []
    return indicators(None), groups


def cases_and_activities(db: Session, unit: Unit, quarter: str, now: datetime | None, config,
                         tz: str = "Asia/Shanghai") -> dict[str, object]:
    """Case and activity figures for the summary text, the dashboard tiles and the report sheets."""
    now = now or datetime.now(ZoneInfo("UTC"))
    start, end = quarter_range(quarter, tz)
    level = breakdown_level(unit)
    states = cases_by_state(db, unit)
    open_n = sum(n for s, n in states.items() if s != "closed")
    overdue = overdue_cases(db, unit, now, config) if config is not None else 0
    funnel = case_funnel(db, unit, start, end)
    ages = open_case_ages(db, unit, now)
    act, rows = activity_stats(db, unit, start, end, now, level)
    from .case import STATE_LABELS, CaseState

    state_rows = [(STATE_LABELS[CaseState(s)], states.get(s.value, 0)) for s in CaseState]
    return {
        "lines": [f"关爱帮扶个案：本季度新增 {funnel[0][1]}，在办 {open_n}，超时 {overdue}",
                  f"活动：本季度已举办 {act.held} 场，签到 {act.attended} 人次，参与 {act.participants}/{act.people} 人"],
        "tiles": [("cases", f"在办个案（超时 {overdue}）", open_n),
                  ("activities", f"本季度活动 · 参与 {act.participants}/{act.people} 人", act.held)],
        "overview": [("本季度新增个案", funnel[0][1], None), ("在办个案", open_n, None), ("超时个案", overdue, None),
                     ("本季度举办活动", act.held, None), ("活动签到人次", act.attended, None),
                     ("活动参与人数", act.participants, None),
                     ("活动参与率", act.rate, "pct")],
        "sheets": [
            ("关爱帮扶-流程", ["环节", "个案数"], funnel, []),
            ("关爱帮扶-状态", ["状态", "个案数"], state_rows, []),
            ("关爱帮扶-在办时长", ["已开启时长", "个案数"], ages, []),
            ("活动参与", ["单位", "举办活动", "报名人次", "签到人次", "参与人数", "在册人数", "参与率"],
             [(r.name, r.held, r.signups, r.attended, r.participants, r.people, r.rate) for r in rows]
             + [("合计", act.held, act.signups, act.attended, act.participants, act.people, act.rate)], [6]),
        ],
        "funnel": funnel, "overdue": overdue, "open": open_n, "activities": act, "activity_rows": rows,
    }
