"""Quarterly talk reminders (季度谈心提醒).

At quarter start, mid-quarter and two weeks before the end, each team leader whose team still
has members without a talk this quarter gets the list of exactly those members (nothing to a
complete team). Two weeks before the end, each branch secretary also gets the teams of the
branch that are still behind.

"This quarter" is the quarter of the occurrence in Asia/Shanghai (a run at 2026-10-01 00:30
Beijing time, 2026-09-30 16:30 UTC, is 2026Q4). Coverage comes from reports.queries.coverage (the one
definition of who counts as a member and what counts as talked to).

Off by default since the daily digest (handlers.digest) carries the same lists every workday
("one non-urgent message per workday"); when turned on, these are non-urgent too (quiet hours).

Idempotency: one message per (quarter, phase, recipient) — a catch-up, a retaken claim or a
`lianxin run-job` in the same quarter and phase queues nothing twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from bot.messages import Text
from models.directory import display_names
from models.enums import Role, UnitKind
from models.org import Person, RoleAssignment, Unit
from models.quarters import quarter_bounds
from models.talk import quarter_of
from reports.queries.coverage import leaders_by_team, missing_by_team, team_counts

from ..context import JobContext

__all__ = ["Reminders", "compute_reminders", "mid_quarter", "quarter_end", "quarter_start", "send_reminders"]

START, MID, END = "start", "mid", "end"
MAX_NAMES = 60   # a leader of a huge team gets the first names and a count


@dataclass
class TeamGap:
    team_id: int
    name: str
    path: str
    missing: list[tuple[int, str]]                        # (person id, name), sorted by name
    leaders: list[tuple[int, str]] = field(default_factory=list)
    members: int = 0                                      # filled for the secretary summary


@dataclass
class Reminders:
    quarter: str
    by_leader: dict[int, list[TeamGap]]                   # leader id → teams with missing members
    by_secretary: dict[int, list[TeamGap]]                # secretary id → behind teams of the branch
    gaps: list[TeamGap]


def compute_reminders(db: Session, quarter: str, *, secretaries: bool = False) -> Reminders:
    """Who gets what: a fixed number of statements, whatever the size of the company."""
    missing = missing_by_team(db, quarter)
    teams = {t.id: t for t in db.execute(select(Unit.id, Unit.name, Unit.path)
                                         .where(Unit.kind == UnitKind.TEAM.value, Unit.active.is_(True)))}
    gaps = [TeamGap(tid, teams[tid].name, teams[tid].path, people)
            for tid, people in missing.items() if tid in teams]
    # two 张伟 in a list are told apart (unit and account id): relabel every name shown
    labels = display_names(db, [m for g in gaps for m in g.missing])
    for g in gaps:
        g.missing = [(pid, labels[pid]) for pid, _ in g.missing]
    leaders = leaders_by_team(db, [g.team_id for g in gaps])
    by_leader: dict[int, list[TeamGap]] = {}
    for gap in gaps:
        gap.leaders = leaders.get(gap.team_id, [])
        for pid, _name in gap.leaders:
            by_leader.setdefault(pid, []).append(gap)
    by_secretary: dict[int, list[TeamGap]] = {}
    if secretaries and gaps:
        counts = team_counts(db, quarter)
        # secretaries by the path of the unit they hold the role on; a team goes to the nearest one
        sec_by_path: dict[str, list[int]] = {}
        for path, pid in db.execute(select(Unit.path, RoleAssignment.person_id)
                                    .join(Unit, Unit.id == RoleAssignment.unit_id)
                                    .join(Person, Person.id == RoleAssignment.person_id)
                                    .where(RoleAssignment.role == Role.SECRETARY.value, Person.active.is_(True))):
            sec_by_path.setdefault(path, []).append(pid)
        for gap in gaps:
            gap.members = counts.get(gap.team_id, (len(gap.missing), 0))[0]
            parts = gap.path.strip("/").split("/")
            for depth in range(len(parts) - 1, 0, -1):
                ancestor = "/" + "/".join(parts[:depth]) + "/"
                if ancestor in sec_by_path:
                    for pid in sec_by_path[ancestor]:
                        by_secretary.setdefault(pid, []).append(gap)
                    break
    return Reminders(quarter, by_leader, by_secretary, gaps)


def _quarter_label(quarter: str) -> str:
    year, q = quarter.split("Q")
    return f"{year}年第{q}季度"


def _names(people: list[tuple[int, str]]) -> str:
    names = [n for _, n in people[:MAX_NAMES]]
    more = len(people) - len(names)
    return "、".join(names) + (f" 等（共 {len(people)} 人）" if more > 0 else "")


def leader_text(quarter: str, phase: str, gaps: list[TeamGap], last_day: str) -> str:
    head = {START: f"【季度谈心提醒】{_quarter_label(quarter)}开始了。",
            MID: f"【季度谈心提醒】{_quarter_label(quarter)}已过半。",
            END: f"【季度谈心提醒】{_quarter_label(quarter)}将于{last_day}结束。"}[phase]
    lines = [head]
    for gap in sorted(gaps, key=lambda g: g.name):
        lines.append(f"{gap.name}本季度还有 {len(gap.missing)} 人未谈心谈话：{_names(gap.missing)}")
    lines.append("发送「谈话 姓名」即可记录。")
    return "\n".join(lines)


def secretary_text(quarter: str, gaps: list[TeamGap], last_day: str) -> str:
    lines = [f"【季度谈心进度】{_quarter_label(quarter)}将于{last_day}结束，以下班组还未谈完："]
    for gap in sorted(gaps, key=lambda g: g.name):
        leaders = "、".join(n for _, n in gap.leaders) or "未设班组长"
        lines.append(f"{gap.name}：{len(gap.missing)}/{gap.members or len(gap.missing)} 人未谈（班组长 {leaders}）")
    return "\n".join(lines)


def send_reminders(job: JobContext, phase: str) -> int:
    """Compute and queue the reminders of one phase; returns the outbox rows queued."""
    tz = job.config.timezone
    quarter = quarter_of(job.occurrence(), tz)
    end_local = quarter_bounds(quarter, tz)[1].astimezone(job.tz) - timedelta(days=1)
    days_left = (end_local.date() - job.local_occurrence().date()).days + 1
    last_day = f"{end_local.month}月{end_local.day}日（还剩 {days_left} 天）"
    queued = 0
    with job.session_factory() as db:
        plan = compute_reminders(db, quarter, secretaries=phase == END)
        ids = set(plan.by_leader) | set(plan.by_secretary)
        # only the platform ids are needed: skip the unit join and the roles
        people = {p.id: p for p in db.scalars(select(Person).options(lazyload(Person.unit), lazyload(Person.roles))
                                              .where(Person.id.in_(list(ids))))} if ids else {}
        already = job.queued_keys(db, f"talkrem:{quarter}:{phase}:")
        for pid, gaps in plan.by_leader.items():
            if pid in people:
                queued += job.notify(db, [people[pid]], Text(leader_text(quarter, phase, gaps, last_day)),
                                     ref=f"talkrem:{quarter}", idem_key=f"talkrem:{quarter}:{phase}:leader:{pid}",
                                     queued=already)
        for pid, gaps in plan.by_secretary.items():
            if pid in people:
                queued += job.notify(db, [people[pid]], Text(secretary_text(quarter, gaps, last_day)),
                                     ref=f"talkrem:{quarter}", idem_key=f"talkrem:{quarter}:{phase}:secretary:{pid}",
                                     queued=already)
        db.commit()
    return queued


def quarter_start(job: JobContext) -> int:
    return send_reminders(job, START)


def mid_quarter(job: JobContext) -> int:
    return send_reminders(job, MID)


def quarter_end(job: JobContext) -> int:
    return send_reminders(job, END)
