"""The quarter's figures of a unit in one call, so chat 统计, the dashboard and the Excel report show the same numbers."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from models.org import Unit
from models.quarters import previous_quarter, quarter_bounds, quarter_days, recent_quarters

from .activities import ActivityRow, activity_stats
from .cases import AgeBucket, FunnelStage, case_funnel, cases_by_state, open_case_ages, overdue_cases
from .learning import LearningRow, learning_completion
from .people import active_users
from .pulse import TeamPulse, grouped, pulse, total
from .talks import CoverageRow, Timeliness, coverage, coverage_total, flag_trend, flags_by_category, timeliness
from .units import breakdown_level

__all__ = ["DashboardData", "ScopeSummary", "WorkFigures", "dashboard", "scope_summary", "work_figures"]


@dataclass
class WorkFigures:
    """Cases and activities of the quarter (the parts that need `now` and the SLA config)."""

    funnel: list[FunnelStage]
    states: dict[str, int]                 # case state → cases now (all time)
    open: int
    overdue: int
    ages: list[AgeBucket]
    activities: ActivityRow
    activity_rows: list[ActivityRow]


@dataclass
class ScopeSummary:
    unit_id: int
    unit_name: str
    quarter: str
    coverage: CoverageRow
    work: WorkFigures
    coverage_rows: list[CoverageRow] = field(default_factory=list)   # per branch (or per team for a branch)
    flags: dict[str, dict[str, int]] = field(default_factory=dict)
    learning: LearningRow | None = None
    learning_rows: list[LearningRow] = field(default_factory=list)   # per branch (or per team for a branch)
    active: tuple[int, int] = (0, 0)
    timeliness: Timeliness | None = None
    pulse: list[tuple[TeamPulse, TeamPulse]] = field(default_factory=list)   # (this quarter, previous): unit, then groups

    @property
    def flag_total(self) -> int:
        return sum(sum(v.values()) for v in self.flags.values())


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
    work: WorkFigures
    timeliness: Timeliness = field(default_factory=Timeliness)
    pulse: dict[int, list[TeamPulse]] = field(default_factory=dict)    # group (team or branch) id → one per trend quarter


def work_figures(db: Session, unit: Unit, quarter: str, now: datetime | None, config,
                 tz: str = "Asia/Shanghai") -> WorkFigures:
    """Case and activity figures of `quarter` (overdue is 0 without a config: no SLA to judge by)."""
    now = now or datetime.now(UTC)
    start, end = quarter_bounds(quarter, tz)
    states = cases_by_state(db, unit)
    act, rows = activity_stats(db, unit, start, end, now, breakdown_level(unit))
    return WorkFigures(funnel=case_funnel(db, unit, start, end), states=states,
                       open=sum(n for s, n in states.items() if s != "closed"),
                       overdue=overdue_cases(db, unit, now, config) if config is not None else 0,
                       ages=open_case_ages(db, unit, now), activities=act, activity_rows=rows)


def pulse_rows(db: Session, unit: Unit, quarters: list[str], level: str) -> dict[tuple[int, str], TeamPulse]:
    """(team id or, above a branch, branch id; quarter) → moods and flags by category."""
    rows = pulse(db, unit, quarters)
    return rows if level == "team" else grouped(db, unit, rows, level)


def pulse_compare(db: Session, unit: Unit, quarter: str, level: str) -> list[tuple[TeamPulse, TeamPulse]]:
    """(this quarter, the previous one) for the unit as a whole, then for each group with talks."""
    before = previous_quarter(quarter)
    rows = pulse_rows(db, unit, [before, quarter], level)
    out = [(total(rows, unit.id, unit.name, quarter), total(rows, unit.id, unit.name, before))]
    for gid in sorted({g for g, q in rows if q == quarter}, key=lambda g: rows[(g, quarter)].name):
        now = rows[(gid, quarter)]
        out.append((now, rows.get((gid, before), TeamPulse(gid, now.name, before))))
    return out


def pulse_series(db: Session, unit: Unit, quarters: list[str], level: str) -> dict[int, list[TeamPulse]]:
    """group id → its TeamPulse in each of `quarters` (empty ones for quarters without talks)."""
    rows = pulse_rows(db, unit, quarters, level)
    names = {g: p.name for (g, _), p in rows.items()}
    return {g: [rows.get((g, q), TeamPulse(g, names[g], q)) for q in quarters]
            for g in sorted(names, key=lambda g: names[g])}


def late_after_days(config) -> int:
    return config.get("talks.late_after_days", int) if config is not None else 7


def scope_summary(db: Session, unit: Unit, quarter: str, tz: str = "Asia/Shanghai", *, now: datetime | None = None,
                  config=None) -> ScopeSummary:
    """The quarter's summary of `unit` (chat 统计, report overview)."""
    level = breakdown_level(unit)
    first, last = quarter_days(quarter, tz)
    learning, learning_rows = learning_completion(db, unit, quarter, level)
    return ScopeSummary(
        unit_id=unit.id, unit_name=unit.full_name, quarter=quarter,
        coverage=coverage_total(db, unit, quarter), coverage_rows=coverage(db, unit, quarter, level),
        flags=flags_by_category(db, unit, quarter), learning=learning, learning_rows=learning_rows,
        active=active_users(db, unit, first, last), work=work_figures(db, unit, quarter, now, config, tz),
        timeliness=timeliness(db, unit, quarter, days=late_after_days(config), tz=tz),
        pulse=pulse_compare(db, unit, quarter, level))


def dashboard(db: Session, unit: Unit, quarter: str, trend_quarters: int = 4, *, now: datetime | None = None,
              config=None) -> DashboardData:
    """Everything the dashboard page draws for `unit` and `quarter` (each part one query module call)."""
    level = breakdown_level(unit)
    learning, learning_rows = learning_completion(db, unit, quarter, level)
    return DashboardData(
        unit_id=unit.id, unit_name=unit.full_name, quarter=quarter, level=level,
        coverage=coverage_total(db, unit, quarter), coverage_rows=coverage(db, unit, quarter, level),
        trend=flag_trend(db, unit, recent_quarters(quarter, trend_quarters)),
        flags=flags_by_category(db, unit, quarter), learning=learning, learning_rows=learning_rows,
        work=work_figures(db, unit, quarter, now, config),
        timeliness=timeliness(db, unit, quarter, days=late_after_days(config),
                              tz=config.timezone if config is not None else "Asia/Shanghai"),
        pulse=pulse_series(db, unit, recent_quarters(quarter, trend_quarters), level))
