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

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, ForeignKey, UniqueConstraint, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base
from .enums import UnitKind
from .org import Person, Unit

log = logging.getLogger("lianxin.stats")

__all__ = [
    "PersonActiveDay", "mark_active", "UnitRow", "CoverageRow", "coverage", "coverage_total",
    "flags_by_category", "flag_trend", "LearningRow", "learning_completion", "material_completion",
    "active_users", "ScopeSummary", "scope_summary", "quarter_range", "recent_quarters",
    "units_in", "LEVEL_KINDS",
]


class PersonActiveDay(Base):
    """One row per person and local day on which they sent the bot a message or clicked a card."""

    __tablename__ = "person_active_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date, index=True)

    __table_args__ = (UniqueConstraint("person_id", "day"),)


def mark_active(db: Session, person_id: int, moment: datetime, tz: str = "Asia/Shanghai") -> None:
    """Record that `person_id` was active on the local day of `moment` (idempotent, no read)."""
    day = moment.astimezone(ZoneInfo(tz)).date()
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - other databases are not supported by lianxin
        return
    stmt = insert(PersonActiveDay).values(person_id=person_id, day=day).on_conflict_do_nothing(
        index_elements=["person_id", "day"])
    try:
        with db.begin_nested():  # a statistics write must never fail the user's message
            db.execute(stmt)
    except DBAPIError:
        log.warning("stats.mark_active_failed", exc_info=True)


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

    @property
    def path_ids(self) -> list[int]:
        return [int(x) for x in self.path.strip("/").split("/") if x]


def units_in(db: Session, unit: Unit) -> dict[int, UnitRow]:
    """Every active unit of `unit`'s subtree (one statement)."""
    rows = db.execute(select(Unit.id, Unit.name, Unit.full_name, Unit.path, Unit.kind)
                      .where(Unit.path.like(f"{unit.path}%"), Unit.active.is_(True)))
    return {r.id: UnitRow(r.id, r.name, r.full_name, r.path, r.kind) for r in rows}


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
    for _mid, audience_path in mats:
        for uid, n in people.items():
            u = units.get(uid)
            if u is None or not u.path.startswith(audience_path):
                continue
            total.assigned += n
            g = group_of.get(uid)
            if g is not None:
                groups[g.id].assigned += n
    mat_paths = {mid: path for mid, path in mats}
    reads = db.execute(
        select(MaterialRead.material_id, Person.unit_id, func.count(), func.count(MaterialRead.studied_at))
        .join(Person, Person.id == MaterialRead.person_id).join(Unit, Unit.id == Person.unit_id)
        .where(MaterialRead.material_id.in_(list(mat_paths)), Person.active.is_(True),
               Unit.path.like(f"{unit.path}%"))
        .group_by(MaterialRead.material_id, Person.unit_id))
    for mid, uid, opened, studied in reads:
        u = units.get(uid)
        if u is None or not u.path.startswith(mat_paths[mid]):
            continue  # moved out of the audience since: not assigned, not counted
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
    for uid, opened, studied in reads:
        total.opened += opened
        total.studied += studied
        g = group_of.get(uid)
        if g is not None:
            groups[g.id].opened += opened
            groups[g.id].studied += studied
    return total, sorted(groups.values(), key=lambda r: r.full_name)


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


def scope_summary(db: Session, unit: Unit, quarter: str, tz: str = "Asia/Shanghai") -> ScopeSummary:
    level = breakdown_level(unit)
    first, last = quarter_days(quarter, tz)
    learning, _ = learning_completion(db, unit, quarter, level)
    summary = ScopeSummary(
        unit_id=unit.id, unit_name=unit.full_name, quarter=quarter,
        coverage=coverage_total(db, unit, quarter), coverage_rows=coverage(db, unit, quarter, level),
        flags=flags_by_category(db, unit, quarter), learning=learning,
        active=active_users(db, unit, first, last))
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


def dashboard(db: Session, unit: Unit, quarter: str, trend_quarters: int = 4) -> DashboardData:
    """Everything the dashboard page draws for `unit` and `quarter` (each part one query module call)."""
    level = breakdown_level(unit)
    learning, learning_rows = learning_completion(db, unit, quarter, level)
    data = DashboardData(
        unit_id=unit.id, unit_name=unit.full_name, quarter=quarter, level=level,
        coverage=coverage_total(db, unit, quarter), coverage_rows=coverage(db, unit, quarter, level),
        trend=flag_trend(db, unit, recent_quarters(quarter, trend_quarters)),
        flags=flags_by_category(db, unit, quarter), learning=learning, learning_rows=learning_rows)
    return data
