"""Weekly digest to each branch secretary (每周工作简报).

For the secretary's unit (branch or general branch) and the week that ends at the occurrence:
talks this week, flags raised this week (watch / urgent), open cases by state and how many are
overdue (already reminded or escalated by the SLA job), the quarter's talk coverage with the
teams still behind, and the activities of the coming week open to the unit. Extra sections can
be plugged in through SECTIONS. One message per (secretary, unit, ISO week): a re-run queues
nothing twice. Off by default: the daily digest carries this text on Mondays (`weekly_lines`).
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case as sa_case
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from bot.messages import Text
from models.activity import Activity, ActivityStatus
from models.case import OPEN_STATES, STATE_LABELS, Case, CaseState
from models.enums import Role
from models.org import Person, RoleAssignment, Unit
from models.talk import Flag, Talk, quarter_of
from reports.queries.coverage import team_counts

from ..context import JobContext

log = logging.getLogger("lianxin.scheduler")

__all__ = ["SECTIONS", "digest_text", "weekly_digest", "weekly_lines"]

# "module:function"(db, unit, since, until, *, tz) -> list[str]; optional: skipped while not importable
SECTIONS: list[str] = [
    "handlers.activities.service:digest_lines",
]


def _talk_lines(db: Session, unit: Unit, since: datetime, until: datetime) -> list[str]:
    subject = aliased(Person)
    in_scope = (select(Talk.flag, func.count())
                .join(subject, subject.id == Talk.subject_id)
                .join(Unit, Unit.id == subject.unit_id)
                .where(Unit.path.like(f"{unit.path}%"), Talk.occurred_at >= since, Talk.occurred_at < until)
                .group_by(Talk.flag))
    by_flag = {flag: n for flag, n in db.execute(in_scope)}
    total = sum(by_flag.values())
    lines = [f"本周谈心谈话 {total} 次"]
    watch, urgent = by_flag.get(Flag.WATCH.value, 0), by_flag.get(Flag.URGENT.value, 0)
    if watch or urgent:
        lines.append(f"本周新标记：紧急 {urgent} 条，关注 {watch} 条")
    return lines


def _case_lines(db: Session, unit: Unit) -> list[str]:
    rows = db.execute(select(Case.state, func.count(), func.sum(sa_case((Case.sla_step >= 1, 1), else_=0)))
                      .join(Unit, Unit.id == Case.unit_id)
                      .where(Unit.path.like(f"{unit.path}%"), Case.state.in_(OPEN_STATES))
                      .group_by(Case.state)).all()
    total = sum(n for _, n, _ in rows)
    if not total:
        return ["在办事项 0 件"]
    order = {s.value: i for i, s in enumerate(CaseState)}
    parts = "、".join(f"{STATE_LABELS[CaseState(state)]} {n}" for state, n, _ in sorted(rows, key=lambda r: order[r[0]]))
    lines = [f"在办事项 {total} 件（{parts}）"]
    late = sum(int(x or 0) for _, _, x in rows)
    if late:
        lines.append(f"其中超时未办 {late} 件，请督促办理（发送“待办”查看）")
    return lines


def _activity_lines(db: Session, unit: Unit, until: datetime, tz) -> list[str]:
    """Activities of the coming week whose audience includes the unit (inside it or above it)."""
    ancestors = [int(x) for x in unit.path.strip("/").split("/") if x]
    acts = db.execute(select(Activity.title, Activity.starts_at, Activity.seats, Activity.seats_taken)
                      .join(Unit, Unit.id == Activity.audience_unit_id)
                      .where(Activity.status != ActivityStatus.CANCELLED.value,
                             Activity.starts_at >= until, Activity.starts_at < until + timedelta(days=7),
                             or_(Unit.path.like(f"{unit.path}%"), Activity.audience_unit_id.in_(ancestors)))
                      .order_by(Activity.starts_at).limit(11)).all()
    if not acts:
        return ["未来一周没有活动"]
    lines = [f"未来一周活动 {len(acts) if len(acts) <= 10 else '10+'} 项："]
    for title, starts, seats, taken in acts[:10]:
        seats_text = f"已报名 {taken}/{seats}" if seats else f"已报名 {taken}"
        lines.append(f"· {starts.astimezone(tz):%m月%d日 %H:%M} {title}（{seats_text}）")
    return lines


def _coverage_lines(db: Session, unit: Unit, quarter: str) -> list[str]:
    counts = team_counts(db, quarter, unit)
    members = sum(n for n, _ in counts.values())
    talked = sum(t for _, t in counts.values())
    behind = sorted(tid for tid, (n, t) in counts.items() if t < n)
    line = f"{quarter} 谈心覆盖 {talked}/{members} 人"
    if members:
        line += f"（{talked * 100 // members}%）"
    lines = [line]
    if behind:
        names = db.scalars(select(Unit.name).where(Unit.id.in_(behind)).order_by(Unit.name)).all()
        shown = "、".join(names[:20]) + (f" 等 {len(names)} 个" if len(names) > 20 else "")
        lines.append(f"未谈完的班组：{shown}")
    return lines


def _section(ref: str) -> Callable | None:
    module, _, name = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def digest_text(db: Session, unit: Unit, since: datetime, until: datetime, quarter: str, tz) -> str:
    lines = [f"【每周简报】{unit.name}（{since.astimezone(tz):%m月%d日}—{(until - timedelta(seconds=1)).astimezone(tz):%m月%d日}）"]
    lines += _talk_lines(db, unit, since, until)
    lines += _case_lines(db, unit)
    lines += _coverage_lines(db, unit, quarter)
    lines += _activity_lines(db, unit, until, tz)
    for ref in SECTIONS:
        fn = _section(ref)
        if fn is not None:
            lines += fn(db, unit, since, until, tz=tz)
    return "\n".join(lines)


def weekly_lines(db: Session, until: datetime, tz: str) -> dict[int, list[str]]:
    """secretary id → the week's summary of each unit they hold (for the daily digest on Mondays)."""
    quarter = quarter_of(until, tz)
    zone = ZoneInfo(tz)
    out: dict[int, list[str]] = {}
    rows = db.execute(select(RoleAssignment.person_id, RoleAssignment.unit_id)
                      .join(Person, Person.id == RoleAssignment.person_id)
                      .where(RoleAssignment.role == Role.SECRETARY.value, Person.active.is_(True))
                      .order_by(RoleAssignment.person_id, RoleAssignment.unit_id)).all()
    for person_id, unit_id in rows:
        text = digest_text(db, db.get(Unit, unit_id), until - timedelta(days=7), until, quarter, zone)
        out.setdefault(person_id, []).extend(text.splitlines())
    return out


def weekly_digest(job: JobContext) -> int:
    until = job.occurrence()
    since = until - timedelta(days=7)
    quarter = quarter_of(until, job.config.timezone)
    week = until.astimezone(job.tz).strftime("%G-W%V")
    queued = 0
    with job.session_factory() as db:
        rows = db.execute(select(RoleAssignment.person_id, RoleAssignment.unit_id)
                          .join(Person, Person.id == RoleAssignment.person_id)
                          .where(RoleAssignment.role == Role.SECRETARY.value, Person.active.is_(True))
                          .order_by(RoleAssignment.person_id)).all()
        for person_id, unit_id in rows:
            person, unit = db.get(Person, person_id), db.get(Unit, unit_id)
            text = digest_text(db, unit, since, until, quarter, job.tz)
            queued += job.notify(db, [person], Text(text), ref=f"digest:{week}",
                                 idem_key=f"digest:{week}:{person_id}:{unit_id}")
        db.commit()
    return queued
