"""SLA rules for cases: how long each state may last, who is reminded, who is told next.

Per state the time allowed comes from config `sla.*`; when it runs out the holder gets a
reminder (step 1); `sla.escalate_after_reminder_hours` later, one level up the tree is told
(step 2). Each step is taken with a conditional UPDATE on (id, state, sla_since, sla_step), so
repeated or concurrent runs send each step once; the outbox idem_key repeats that guarantee.
The clock restarts at each transition and at each progress report.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.config import Config
from bot.messages import Text
from models import sla
from models.case import Case, CaseState, add_event
from models.db import rowcount
from models.enums import Role
from models.org import Person

from .service import approvers_for, committee_for, fmt_time, level_above, secretaries_for

__all__ = ["SlaStep", "allowed_hours", "escalation_targets", "holders", "overdue", "run_sla"]

S = CaseState
SLA_STATES = (S.REPORTED, S.CARE_REQUESTED, S.APPROVED, S.HELPER_ASSIGNED, S.IN_PROGRESS)

Notify = Callable[[Sequence[Person], Text, str, str], object]   # (people, message, ref, idem_key); its answer unused


def allowed_hours(config: Config, case: Case) -> float | None:
    return sla.allowed_hours(config, case.state, case.flag)


def _secretaries(db: Session, case: Case) -> list[Person]:
    if case.secretary is not None and case.secretary.active:
        return [case.secretary]
    return secretaries_for(db, case.unit)


def holders(db: Session, case: Case) -> list[Person]:
    """Who must act now."""
    state = S(case.state)
    if state is S.CARE_REQUESTED:   # the approvers of the level the request waits at
        role = case.approver_role
        return secretaries_for(db, case.unit) if role is Role.SECRETARY else approvers_for(db, case, role)
    if state in (S.HELPER_ASSIGNED, S.IN_PROGRESS) and case.helper is not None:
        return [case.helper]
    return _secretaries(db, case) or committee_for(db, case.unit)


def escalation_targets(db: Session, case: Case) -> list[Person]:
    """One level up from the holder."""
    state = S(case.state)
    if state is S.CARE_REQUESTED:
        return level_above(db, case.unit, Role.COMMITTEE) or committee_for(db, case.unit)
    if state in (S.HELPER_ASSIGNED, S.IN_PROGRESS):
        return _secretaries(db, case)
    return level_above(db, case.unit, Role.SECRETARY)


@dataclass(frozen=True)
class SlaStep:
    case: Case
    step: int            # 1 reminder, 2 escalation
    due_at: datetime


def overdue(db: Session, config: Config, now: datetime) -> list[SlaStep]:
    """Cases whose next SLA step is due at `now` (the query the job and reports use)."""
    after = sla.escalate_after_hours(config)
    candidates = db.scalars(select(Case).where(Case.state.in_(list(SLA_STATES)), Case.sla_step < 2)
                            .order_by(Case.id)).all()
    steps: list[SlaStep] = []
    for case in candidates:
        hours = allowed_hours(config, case)
        if hours is None:
            continue
        step = case.sla_step + 1
        due = case.sla_since + timedelta(hours=hours + (after if step == 2 else 0))
        if now >= due:
            steps.append(SlaStep(case, step, due))
    return steps


def _message(case: Case, step: int, hours: float, tz: str) -> Text:
    what = {S.REPORTED: "待确认", S.CARE_REQUESTED: "关爱申请待审批", S.APPROVED: "待指派帮扶人",
            S.HELPER_ASSIGNED: "待汇报帮扶进展", S.IN_PROGRESS: "待汇报帮扶进展"}[S(case.state)]
    since = fmt_time(case.sla_since, tz)
    if step == 1:
        return Text(f"【超时提醒】事项 {case.id}（{case.subject.name}）{what}，自{since}起已超过{hours:g}小时。"
                    f"请尽快处理，发送“事项 {case.id}”查看详情。")
    return Text(f"【超时上报】事项 {case.id}（{case.subject.name}，{case.unit.full_name}）{what}，"
                f"自{since}起已超时，提醒后仍未处理，请督促办理。发送“事项 {case.id}”查看详情。")


def run_sla(db: Session, config: Config, now: datetime, notify: Notify) -> int:
    """Take every due step once; returns the number of steps taken."""
    taken = 0
    for item in overdue(db, config, now):
        case = item.case
        claimed = db.execute(update(Case).where(Case.id == case.id, Case.state == case.state,
                                                Case.sla_since == case.sla_since, Case.sla_step == item.step - 1)
                             .values(sla_step=item.step).execution_options(synchronize_session=False))
        if rowcount(claimed) != 1:
            continue  # another run took it, or the case moved on
        people = holders(db, case) if item.step == 1 else escalation_targets(db, case)
        kind = "reminder" if item.step == 1 else "escalation"
        msg = _message(case, item.step, allowed_hours(config, case) or 0, config.timezone)
        add_event(db, case, kind=kind, actor=None, now=now,
                  comment="、".join(p.name for p in people) or "（无人可通知）")
        if people:
            notify(people, msg, f"case:{case.id}",
                   f"sla:{case.id}:{case.state}:{int(case.sla_since.timestamp())}:{item.step}")
        taken += 1
    return taken
