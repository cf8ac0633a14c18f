"""The secretaries' annual review indicators (述职评议) as numerator/denominator pairs, set-based for 1 or 100 branches.

Definitions (docs/KPI.md):
1. coverage: Σ over the year's started quarters of members talked to in the quarter /
   Σ members (reports.queries.coverage definitions; membership as of now).
2. flags_ack_sla: flagged-talk cases opened in the year that left "reported" within the
   acknowledgement SLA (models.sla.ack_hours) / such cases that were either acknowledged or are
   past the SLA (cases still within their SLA are not judged yet).
3. care_closed: care requests (cases that reached care_requested) opened in the year that are
   closed now / all such care requests.
4. activities: activities held in the year for the subtree (numerator; denominator is the
   number of started quarters, so the rate reads "per quarter").
5. participation: distinct people of the subtree who checked in at an activity held in the
   year / active people.
6. learning: studied / assigned (person, material) pairs for materials published in the year.
7. party_life: check-ins of the Party members at 主题党日 and 党课 held in the year for an audience
   containing them / the check-ins expected (each such activity × its Party members).
8. timely: talks of the year's quarters entered within talks.late_after_days of the talk / those talks.
9. bunched: talks of the year's quarters entered in the last 7 days of their quarter (or later) / those
   talks (lower is better: records rushed in at quarter end).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.case import Case, CaseEvent
from models.org import Unit
from models.quarters import year_quarters
from models.sla import ack_hours

from .activities import activity_stats, party_life
from .cases import cases_in
from .coverage import team_counts
from .learning import learning_completion
from .talks import timeliness_by_team
from .units import LEVEL_KINDS, UnitRow, groups_of, units_in

__all__ = ["KPI_KEYS", "Indicator", "kpi", "kpi_by_branch"]

KPI_KEYS = ("coverage", "flags_ack_sla", "care_closed", "activities", "participation", "learning", "party_life",
            "timely", "bunched")


@dataclass
class Indicator:
    key: str          # one of KPI_KEYS
    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


def kpi(db: Session, unit: Unit, year: int, now: datetime, config) -> list[Indicator]:
    """The review indicators of `unit` (normally a branch) for `year`, in KPI_KEYS order."""
    total, _groups = _kpi_sets(db, unit, year, now, config, level=None)
    return total


def kpi_by_branch(db: Session, unit: Unit, year: int, now: datetime, config) -> list[tuple[UnitRow, list[Indicator]]]:
    """KPI of every branch in the subtree (a committee's view of its secretaries), set-based:
    the same number of statements for 1 or 100 branches."""
    _total, groups = _kpi_sets(db, unit, year, now, config, level="branch")
    return groups


def _kpi_sets(db: Session, unit: Unit, year: int, now: datetime, config, level: str | None):
    """(indicators of the whole subtree, [(group unit, indicators)] per `level` unit) in one pass."""
    tz = config.timezone if config is not None else "Asia/Shanghai"
    quarters = year_quarters(year, now, tz)
    start = datetime(year, 1, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    units = units_in(db, unit)
    grp_level = level or "branch"
    group_of = groups_of(units, grp_level)
    group_ids = sorted((u.id for u in units.values() if u.kind in LEVEL_KINDS[grp_level]),
                       key=lambda i: units[i].full_name)
    num: dict[str, dict[int | None, int]] = {k: defaultdict(int) for k in KPI_KEYS}  # group id (None = subtree) → n
    den: dict[str, dict[int | None, int]] = {k: defaultdict(int) for k in KPI_KEYS}

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

    days = config.get("talks.late_after_days", int) if config is not None else 7
    for team_id, t in timeliness_by_team(db, unit, quarters, days=days, tz=tz).items():
        add("timely", team_id, t.on_time, t.talks)
        add("bunched", team_id, t.bunched, t.talks)

    first_ack = (select(CaseEvent.case_id, func.min(CaseEvent.at).label("at"))
                 .where(CaseEvent.kind == "transition", CaseEvent.from_state == "reported")
                 .group_by(CaseEvent.case_id).subquery())
    for unit_id, created, flag, acked in db.execute(
            select(Case.unit_id, Case.created_at, Case.flag, first_ack.c.at)
            .outerjoin(first_ack, first_ack.c.case_id == Case.id)
            .where(cases_in(unit), Case.talk_id.is_not(None), Case.created_at >= start, Case.created_at < end)):
        limit = ack_hours(config, flag) * 3600
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        acked = acked if acked is None or acked.tzinfo else acked.replace(tzinfo=UTC)
        if acked is not None and (acked - created).total_seconds() <= limit:
            add("flags_ack_sla", unit_id, 1, 1)
        elif acked is not None or (now - created).total_seconds() > limit:
            add("flags_ack_sla", unit_id, 0, 1)

    care = select(CaseEvent.case_id).where(CaseEvent.to_state == "care_requested").scalar_subquery()
    for unit_id, state in db.execute(select(Case.unit_id, Case.state).where(
            cases_in(unit), Case.id.in_(care), Case.created_at >= start, Case.created_at < end)):
        add("care_closed", unit_id, 1 if state == "closed" else 0, 1)

    act_total, act_rows = activity_stats(db, unit, start, end, now, grp_level)
    num["activities"][None], den["activities"][None] = act_total.held, len(quarters)
    num["participation"][None], den["participation"][None] = act_total.participants, act_total.people
    for r in act_rows:
        num["activities"][r.unit_id], den["activities"][r.unit_id] = r.held, len(quarters)
        num["participation"][r.unit_id], den["participation"][r.unit_id] = r.participants, r.people

    pl_total, pl_rows = party_life(db, unit, start, end, now, grp_level)
    num["party_life"][None], den["party_life"][None] = pl_total.attended, pl_total.expected
    for pl in pl_rows:
        num["party_life"][pl.unit_id], den["party_life"][pl.unit_id] = pl.attended, pl.expected

    for q in quarters:
        l_total, l_rows = learning_completion(db, unit, q, grp_level)
        num["learning"][None] += l_total.studied
        den["learning"][None] += l_total.assigned
        for r in l_rows:
            num["learning"][r.unit_id] += r.studied
            den["learning"][r.unit_id] += r.assigned

    def indicators(gid: int | None) -> list[Indicator]:
        return [Indicator(k, int(num[k].get(gid, 0)), int(den[k].get(gid, 0))) for k in KPI_KEYS]

    groups = [(units[g], indicators(g)) for g in group_ids] if level else []
    return indicators(None), groups
