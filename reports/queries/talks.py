"""Talk figures of a subtree (coverage grouped by level, flagged talks by category and quarter) for chat, dashboard and Excel.

Coverage comes from reports.queries.coverage (the one coverage definition); this module only
groups its per-team counts by branch / committee.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.org import Person, Unit
from models.quarters import quarter_bounds
from models.talk import Flag, Talk

from .coverage import team_counts
from .units import LEVEL_KINDS, group_of, units_in

__all__ = ["BUNCH_DAYS", "CoverageRow", "Timeliness", "coverage", "coverage_total", "flag_trend", "flags_by_category",
           "timeliness", "timeliness_by_team"]

BUNCH_DAYS = 7      # "entered at quarter end": in the last 7 days of the talk's quarter


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

    Definition (reports.queries.coverage): members are the active people of active teams except
    each team's own leaders; a member is covered when at least one talk with them has
    Talk.quarter == quarter. A group's numbers are the sums over its teams. Groups without any
    team member are listed with 0/0.
    """
    if level not in LEVEL_KINDS:
        raise ValueError(f"unknown level {level!r}")
    units = units_in(db, unit)
    counts = team_counts(db, quarter, unit)
    rows: dict[int, CoverageRow] = {u.id: CoverageRow(u.id, u.name, u.full_name)
                                    for u in units.values() if u.kind in LEVEL_KINDS[level]}
    for team_id, (members, talked) in counts.items():
        team = units.get(team_id)
        group = group_of(team, units, level) if team else None
        if group is None:
            continue
        row = rows[group.id]
        row.members += members
        row.talked += talked
    return sorted(rows.values(), key=lambda r: r.full_name)


def coverage_total(db: Session, unit: Unit, quarter: str) -> CoverageRow:
    """The whole subtree's coverage in `quarter` as one row."""
    total = CoverageRow(unit.id, unit.name, unit.full_name)
    for members, talked in team_counts(db, quarter, unit).values():
        total.members += members
        total.talked += talked
    return total


def flags_by_category(db: Session, unit: Unit, quarter: str) -> dict[str, dict[str, int]]:
    """category → {flag level → number of flagged talks} for talks in `quarter` about people in the subtree.

    A flagged talk is a talk with flag "watch" (关注) or "urgent" (紧急); its category is the
    talk's category ("other" when missing). Counted by Talk.quarter.
    """
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
    out = {q: {Flag.WATCH.value: 0, Flag.URGENT.value: 0} for q in quarters}
    stmt = (select(Talk.quarter, Talk.flag, func.count())
            .join(Person, Person.id == Talk.subject_id).join(Unit, Unit.id == Person.unit_id)
            .where(Unit.path.like(f"{unit.path}%"), Talk.quarter.in_(quarters), Talk.flag != Flag.NONE.value)
            .group_by(Talk.quarter, Talk.flag))
    for q, flag, n in db.execute(stmt):
        out[q][flag] = int(n)
    return out


@dataclass
class Timeliness:
    """How promptly talks were recorded: within `talks.late_after_days` of the talk, and how many
    were entered in the last BUNCH_DAYS days of their quarter (quarter-end bunching)."""

    talks: int = 0
    on_time: int = 0
    bunched: int = 0

    def add(self, other: Timeliness) -> None:
        self.talks += other.talks
        self.on_time += other.on_time
        self.bunched += other.bunched


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def timeliness_by_team(db: Session, unit: Unit, quarters: list[str], *, days: int = 7,
                       tz: str = "Asia/Shanghai") -> dict[int, Timeliness]:
    """team (subject's unit) id → Timeliness of the talks of `quarters` about people in the subtree.

    On time: entered (Talk.created_at) at most `days` days after it happened (Talk.occurred_at).
    Bunched: entered in the last BUNCH_DAYS days of the talk's quarter (or in its grace period
    after it). The difference of two timestamps is taken in Python: the same on SQLite and PostgreSQL.
    """
    ends = {q: quarter_bounds(q, tz)[1] for q in quarters}
    out: dict[int, Timeliness] = defaultdict(Timeliness)
    late = timedelta(days=days)
    rows = db.execute(select(Person.unit_id, Talk.quarter, Talk.occurred_at, Talk.created_at)
                      .join(Person, Person.id == Talk.subject_id).join(Unit, Unit.id == Person.unit_id)
                      .where(Unit.path.like(f"{unit.path}%"), Talk.quarter.in_(quarters)))
    for team_id, quarter, occurred, entered in rows:
        t = out[team_id]
        occurred, entered = _utc(occurred), _utc(entered)
        t.talks += 1
        t.on_time += entered - occurred <= late
        t.bunched += entered >= ends[quarter] - timedelta(days=BUNCH_DAYS)
    return dict(out)


def timeliness(db: Session, unit: Unit, quarter: str, *, days: int = 7, tz: str = "Asia/Shanghai") -> Timeliness:
    """The subtree's Timeliness for one quarter."""
    total = Timeliness()
    for t in timeliness_by_team(db, unit, [quarter], days=days, tz=tz).values():
        total.add(t)
    return total
