"""Case figures of a subtree (funnel, states, ages, overdue) as numbers keyed by stage, for chat, dashboard and Excel."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.case import Case, CaseEvent
from models.org import Unit
from models.sla import ConfigLike, allowed_hours

__all__ = ["AGE_LIMITS", "FUNNEL_STAGES", "AgeBucket", "FunnelStage", "case_funnel", "cases_by_state", "cases_in",
           "open_case_ages", "overdue_cases"]

# funnel stages in flow order: (key, the states whose reaching counts for the stage)
FUNNEL_STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("reported", ()),                                                          # every case opened
    ("handled", ("acknowledged", "follow_up", "care_requested", "closed")),   # left "reported"
    ("care_requested", ("care_requested",)),
    ("approved", ("approved",)),
    ("helper_assigned", ("helper_assigned",)),
    ("closed", ("closed",)),
]
# open-case age buckets: upper limits in days (None: no limit)
AGE_LIMITS: tuple[int | None, ...] = (7, 30, 90, None)


@dataclass(frozen=True)
class FunnelStage:
    key: str        # FUNNEL_STAGES key
    cases: int


@dataclass(frozen=True)
class AgeBucket:
    below_days: int | None   # AGE_LIMITS entry: open for less than this many days (None: the rest)
    cases: int


def cases_in(unit: Unit):
    """Condition: the case belongs to a unit of `unit`'s subtree."""
    return Case.unit_id.in_(select(Unit.id).where(Unit.path.like(f"{unit.path}%")).scalar_subquery())


def case_funnel(db: Session, unit: Unit, start: datetime, end: datetime) -> list[FunnelStage]:
    """Cases opened in [start, end) in the subtree, counted per funnel stage they have reached.

    "reported" counts every case opened; each later stage counts the cases with at least one
    transition into one of the stage's states (CaseEvent history), whatever their state now.
    """
    in_period = (cases_in(unit), Case.created_at >= start, Case.created_at < end)
    total = db.scalar(select(func.count()).select_from(Case).where(*in_period)) or 0
    reached = dict(db.execute(
        select(CaseEvent.to_state, func.count(func.distinct(CaseEvent.case_id)))
        .join(Case, Case.id == CaseEvent.case_id)
        .where(*in_period, CaseEvent.kind == "transition").group_by(CaseEvent.to_state)).all())
    out = [FunnelStage(FUNNEL_STAGES[0][0], int(total))]
    for key, states in FUNNEL_STAGES[1:]:
        if states == FUNNEL_STAGES[1][1]:   # handled: any transition out of "reported"
            n = db.scalar(select(func.count(func.distinct(CaseEvent.case_id))).join(Case, Case.id == CaseEvent.case_id)
                          .where(*in_period, CaseEvent.kind == "transition", CaseEvent.from_state == "reported"))
        else:
            n = reached.get(states[0], 0)
        out.append(FunnelStage(key, int(n or 0)))
    return out


def cases_by_state(db: Session, unit: Unit) -> dict[str, int]:
    """state → number of cases in the subtree now (all time)."""
    return {s: int(n) for s, n in db.execute(select(Case.state, func.count()).where(cases_in(unit))
                                              .group_by(Case.state))}


def open_case_ages(db: Session, unit: Unit, now: datetime) -> list[AgeBucket]:
    """Open (not closed) cases of the subtree by age since opened, one bucket per AGE_LIMITS entry."""
    created = db.scalars(select(Case.created_at).where(cases_in(unit), Case.state != "closed")).all()
    counts = [0] * len(AGE_LIMITS)
    for c in created:
        age = (now - c).total_seconds() / 86400
        for i, limit in enumerate(AGE_LIMITS):
            if limit is None or age < limit:
                counts[i] += 1
                break
    return [AgeBucket(limit, counts[i]) for i, limit in enumerate(AGE_LIMITS)]


def overdue_cases(db: Session, unit: Unit, now: datetime, config: ConfigLike | None) -> int:
    """Open cases whose current step has run past its SLA (models.sla.allowed_hours, config sla.*)."""
    n = 0
    for state, flag, since in db.execute(select(Case.state, Case.flag, Case.sla_since)
                                         .where(cases_in(unit), Case.state != "closed")):
        hours = allowed_hours(config, state, flag)
        if hours is not None and (now - since).total_seconds() > hours * 3600:
            n += 1
    return n
