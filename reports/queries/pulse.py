"""The team's pulse (团队脉搏): states of mind and flags by category per team and quarter, and
the common-problem (共性问题) signals, for 统计, the dashboard and the alert job.

- `pulse(db, unit, quarters)`: per team under `unit`, per quarter, the count of talks by mood
  (稳定 / 波动 = some_concern / 严重 = serious_concern) and of flags by category; one grouped
  statement. Disputed talks (抽查回访 denied) are left out, like coverage.
- `common_problems(db, now, k, days)`: teams with ≥ k flags of one category within `days`.
- `rising_concern(rows, quarters)`: teams whose share of 波动 + 严重 rose two quarters in a row.
- `grouped(db, unit, rows, level)`: the same figures summed per branch (or any level) of the subtree.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from models.org import Person, Unit
from models.talk import Flag, Mood, Talk

from .units import group_of, units_in

__all__ = ["CommonProblem", "TeamPulse", "by_team", "common_problems", "grouped", "pulse", "rising_concern", "total",
           "trend_arrow"]


@dataclass
class TeamPulse:
    team_id: int
    name: str
    quarter: str
    moods: dict[str, int] = field(default_factory=dict)       # Mood value → talks
    flags: dict[str, int] = field(default_factory=dict)       # Category value → flagged talks

    @property
    def talks(self) -> int:
        return sum(self.moods.values())

    @property
    def concern_share(self) -> float:
        """Share of talks with 波动 or 严重 (0 when there were no talks)."""
        n = self.talks
        worried = self.moods.get(Mood.SOME_CONCERN.value, 0) + self.moods.get(Mood.SERIOUS_CONCERN.value, 0)
        return worried / n if n else 0.0

    @property
    def worried(self) -> int:
        return self.moods.get(Mood.SOME_CONCERN.value, 0) + self.moods.get(Mood.SERIOUS_CONCERN.value, 0)

    def add(self, other: TeamPulse) -> None:
        for table, more in ((self.moods, other.moods), (self.flags, other.flags)):
            for k, n in more.items():
                table[k] = table.get(k, 0) + n


def pulse(db: Session, unit: Unit | None, quarters: Sequence[str]) -> dict[tuple[int, str], TeamPulse]:
    """(team id, quarter) → TeamPulse for teams under `unit` (None: the whole company) with talks in `quarters`."""
    subject = aliased(Person)
    stmt = (select(Unit.id, Unit.name, Talk.quarter, Talk.mood, Talk.flag, Talk.category, func.count())
            .join(subject, subject.id == Talk.subject_id).join(Unit, Unit.id == subject.unit_id)
            .where(Talk.quarter.in_(list(quarters)), Talk.disputed.is_(False))
            .group_by(Unit.id, Unit.name, Talk.quarter, Talk.mood, Talk.flag, Talk.category))
    if unit is not None:
        stmt = stmt.where(Unit.path.like(f"{unit.path}%"))
    rows = db.execute(stmt)
    out: dict[tuple[int, str], TeamPulse] = {}
    for team_id, name, quarter, mood, flag, category, n in rows:
        p = out.setdefault((team_id, quarter), TeamPulse(team_id, name, quarter))
        p.moods[mood] = p.moods.get(mood, 0) + n
        if flag != Flag.NONE.value and category:
            p.flags[category] = p.flags.get(category, 0) + n
    return out


def rising_concern(rows: dict[tuple[int, str], TeamPulse], quarters: Sequence[str]) -> list[int]:
    """Team ids whose 波动 + 严重 share rose in each of the last two quarters (oldest first in `quarters`)."""
    if len(quarters) < 3:
        return []
    a, b, c = quarters[-3:]
    teams = {t for t, _ in rows}
    risen = []
    for t in sorted(teams):
        shares = [rows[(t, q)].concern_share if (t, q) in rows else None for q in (a, b, c)]
        if None not in shares and shares[0] < shares[1] < shares[2]:
            risen.append(t)
    return risen


@dataclass(frozen=True)
class CommonProblem:
    team_id: int
    team: str
    category: str
    flags: int


def common_problems(db: Session, now: datetime, *, k: int = 3, days: int = 30,
                    unit: Unit | None = None) -> list[CommonProblem]:
    """Teams with at least `k` flagged talks of one category that happened within `days` of `now`."""
    subject = aliased(Person)
    stmt = (select(Unit.id, Unit.name, Talk.category, func.count())
            .join(subject, subject.id == Talk.subject_id).join(Unit, Unit.id == subject.unit_id)
            .where(Talk.flag != Flag.NONE.value, Talk.category.is_not(None), Talk.disputed.is_(False),
                   Talk.occurred_at >= now - timedelta(days=days), Talk.occurred_at <= now)
            .group_by(Unit.id, Unit.name, Talk.category).having(func.count() >= k).order_by(Unit.id, Talk.category))
    if unit is not None:
        stmt = stmt.where(Unit.path.like(f"{unit.path}%"))
    return [CommonProblem(t, name, cat, int(n)) for t, name, cat, n in db.execute(stmt)]


def trend_arrow(before: float, now: float, *, eps: float = 0.005) -> str:
    """↑ / ↓ / → for a phone-friendly line."""
    if now > before + eps:
        return "↑"
    if now < before - eps:
        return "↓"
    return "→"


def by_team(rows: dict[tuple[int, str], TeamPulse]) -> dict[int, dict[str, TeamPulse]]:
    out: dict[int, dict[str, TeamPulse]] = defaultdict(dict)
    for (t, q), p in rows.items():
        out[t][q] = p
    return out


def grouped(db: Session, unit: Unit, rows: dict[tuple[int, str], TeamPulse], level: str
            ) -> dict[tuple[int, str], TeamPulse]:
    """(group id, quarter) → the summed TeamPulse of the teams in each `level` unit (e.g. branch)."""
    units = units_in(db, unit)
    out: dict[tuple[int, str], TeamPulse] = {}
    for (team_id, quarter), p in rows.items():
        team = units.get(team_id)
        group = group_of(team, units, level) if team else None
        if group is None:
            continue
        out.setdefault((group.id, quarter), TeamPulse(group.id, group.name, quarter)).add(p)
    return out


def total(rows: dict[tuple[int, str], TeamPulse], unit_id: int, name: str, quarter: str) -> TeamPulse:
    """All teams' figures of one quarter summed (the unit's own line)."""
    out = TeamPulse(unit_id, name, quarter)
    for (_, q), p in rows.items():
        if q == quarter:
            out.add(p)
    return out
