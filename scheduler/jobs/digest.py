"""Weekly digest to each branch secretary (每周工作简报).

For the secretary's unit (branch or general branch) and the week that ends at the occurrence:
talks recorded this week, flags raised this week (watch / urgent), the quarter's talk coverage
and the teams still behind. Sections from other domains (open cases, overdue steps, upcoming
activities) are added by the functions listed in SECTIONS when their modules are installed.
One message per (secretary, week): a re-run queues nothing twice.
"""
from __future__ import annotations

import importlib
import logging
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from bot.messages import Text
from models.coverage import team_counts
from models.enums import Role
from models.org import Person, RoleAssignment, Unit
from models.talk import Flag, Talk, quarter_of

from ..context import JobContext

log = logging.getLogger("lianxin.scheduler")

__all__ = ["weekly_digest", "digest_text", "SECTIONS"]

# "module:function"(db, unit, since, until) -> list[str]; optional: skipped while not importable
SECTIONS: list[str] = []


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
    lines += _coverage_lines(db, unit, quarter)
    for ref in SECTIONS:
        fn = _section(ref)
        if fn is not None:
            lines += fn(db, unit, since, until)
    return "\n".join(lines)


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
