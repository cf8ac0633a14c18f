"""What each person owes today, for everybody at once (the daily digest, 每日待办提醒).

Set-based: one statement per section over the whole company, then lines grouped by person,
so 12,000 people cost a handful of queries, not 12,000 (bench/bench_digest.py). Sections:
talks still due this quarter (team leaders, with names), flags to acknowledge, care requests
to approve, 心声 to answer and 回访 denials to check (nearest covering secretary / committee), helper progress due,
activities joined for today and tomorrow, learning not yet studied (new, or its deadline near); in the
quarter's last two weeks the secretaries also get the teams still behind (what the quarter-end talk
reminder used to send).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, or_, select
from sqlalchemy.orm import Session, aliased

from bot.config import Config
from models.activity import Activity, ActivityStatus, Signup, SignupStatus
from models.case import Case, CaseState
from models.enums import Role
from models.learning import Material, MaterialRead
from models.org import Person, RoleAssignment, Unit
from models.quarters import quarter_days
from models.sampling import CheckState, TalkCheck
from models.talk import quarter_of
from models.voice import Voice, VoiceState
from reports.queries.coverage import leaders_by_team, missing_by_team

__all__ = ["MAX_NAMES", "digest_text", "digests"]

MAX_NAMES = 8
Lines = dict[int, list[str]]


def _names(names: list[str]) -> str:
    shown = "、".join(names[:MAX_NAMES])
    return shown + (f" 等 {len(names)} 人" if len(names) > MAX_NAMES else "")


def _talks_due(db: Session, quarter: str, out: Lines, *, last_day: date | None = None) -> None:
    """Team leaders: who is still due this quarter. With `last_day` (the quarter's last two weeks)
    the nearest secretaries also get the teams still behind (the former quarter-end reminder)."""
    missing = missing_by_team(db, quarter)
    if not missing:
        return
    teams = {tid: (name, path) for tid, name, path in
             db.execute(select(Unit.id, Unit.name, Unit.path).where(Unit.id.in_(list(missing)))).all()}
    for team_id, leaders in leaders_by_team(db, list(missing)).items():
        names = [n for _, n in missing.get(team_id, [])]
        for leader_id, _ in leaders:
            out[leader_id].append(f"· 本季度还需谈心（{teams.get(team_id, ('', ''))[0]} {len(names)} 人）：{_names(names)}")
    if last_day is None:
        return
    secretaries = [(pid, path) for pid, path in db.execute(
        select(Person.id, Unit.path).join(RoleAssignment, RoleAssignment.person_id == Person.id)
        .join(Unit, Unit.id == RoleAssignment.unit_id)
        .where(RoleAssignment.role == Role.SECRETARY.value, Person.active.is_(True), Unit.active.is_(True)))]
    behind: dict[int, list[str]] = defaultdict(list)
    for team_id, people in sorted(missing.items(), key=lambda kv: teams.get(kv[0], ("", ""))[0]):
        if team_id in teams:
            for pid in _nearest(secretaries, teams[team_id][1]):
                behind[pid].append(f"{teams[team_id][0]} {len(people)} 人")
    for pid, parts in behind.items():
        shown = "、".join(parts[:10]) + (f" 等 {len(parts)} 个班组" if len(parts) > 10 else "")
        out[pid].append(f"· 本季度将于 {last_day:%m-%d} 结束，尚未谈完：{shown}")


def _nearest(assignments: list[tuple[int, str]], path: str) -> list[int]:
    """Person ids holding the deepest covering assignment for a unit path."""
    covering = [(len(p), pid) for pid, p in assignments if path.startswith(p)]
    if not covering:
        return []
    deepest = max(d for d, _ in covering)
    return sorted({pid for d, pid in covering if d == deepest})


def _holders(db: Session, out: Lines) -> None:
    """Flags to acknowledge and 心声 to answer (secretaries), care requests to approve (committee)."""
    roles: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for role, pid, path in db.execute(select(RoleAssignment.role, Person.id, Unit.path)
                                      .join(Person, Person.id == RoleAssignment.person_id)
                                      .join(Unit, Unit.id == RoleAssignment.unit_id)
                                      .where(RoleAssignment.role.in_([Role.SECRETARY.value, Role.COMMITTEE.value]),
                                             Person.active.is_(True), Unit.active.is_(True))):
        roles[role].append((pid, path))
    counts: dict[tuple[int, str], int] = defaultdict(int)
    waiting = [CaseState.REPORTED.value, CaseState.CARE_REQUESTED.value, CaseState.APPROVED.value]
    for state, path in db.execute(select(Case.state, Unit.path).join(Unit, Unit.id == Case.unit_id)
                                  .where(Case.state.in_(waiting))):
        role = Role.COMMITTEE.value if state == CaseState.CARE_REQUESTED.value else Role.SECRETARY.value
        for pid in _nearest(roles[role], path):
            counts[(pid, state)] += 1
    for (path,) in db.execute(select(Unit.path).join(Voice, Voice.unit_id == Unit.id)
                              .where(Voice.state == VoiceState.OPEN.value)):
        for pid in _nearest(roles[Role.SECRETARY.value], path):
            counts[(pid, "voice")] += 1
    for (path,) in db.execute(select(Unit.path).join(TalkCheck, TalkCheck.unit_id == Unit.id)
                              .where(TalkCheck.state == CheckState.DENIED.value)):
        for pid in _nearest(roles[Role.SECRETARY.value], path):
            counts[(pid, "check")] += 1
    label = {CaseState.REPORTED.value: "待确认的标记谈话 {n} 件（发送“待办”）",
             CaseState.CARE_REQUESTED.value: "待审批的关爱申请 {n} 件（发送“待办”）",
             CaseState.APPROVED.value: "已同意待指派帮扶人 {n} 件（发送“待办”）",
             "voice": "待回复的员工心声 {n} 条（发送“心声列表”）",
             "check": "待核实的回访异议 {n} 条（核实回访 N 属实/不属实 说明）"}
    for (pid, what), n in sorted(counts.items()):
        out[pid].append("· " + label[what].format(n=n))


def _helper_progress(db: Session, config: Config, now: datetime, out: Lines) -> None:
    hours = config.get("sla.progress_hours", float)
    subject = aliased(Person)
    rows = db.execute(select(Case.helper_id, Case.id, subject.name, Case.sla_since)
                      .join(subject, subject.id == Case.subject_id)
                      .where(Case.helper_id.is_not(None),
                             Case.state.in_([CaseState.HELPER_ASSIGNED.value, CaseState.IN_PROGRESS.value]),
                             Case.sla_since <= now + timedelta(days=1) - timedelta(hours=hours))
                      .order_by(Case.id))
    for helper_id, case_id, name, _ in rows:
        if helper_id is not None:   # (always: the query asks for a helper)
            out[helper_id].append(f"· 帮扶进展待汇报：事项 {case_id}（{name}），发送“进展 {case_id} 内容”")


def _activities(db: Session, tz: ZoneInfo, now: datetime, out: Lines) -> None:
    today = now.astimezone(tz).date()
    start = datetime.combine(today, time(0), tz)
    rows = db.execute(select(Signup.person_id, Activity.starts_at, Activity.title, Activity.place)
                      .join(Activity, Activity.id == Signup.activity_id)
                      .where(Signup.status == SignupStatus.CONFIRMED.value,
                             Activity.status != ActivityStatus.CANCELLED.value,
                             Activity.starts_at >= max(start, now), Activity.starts_at < start + timedelta(days=2))
                      .order_by(Activity.starts_at))
    for pid, at, title, place in rows:
        local = at.astimezone(tz)
        day = "今天" if local.date() == today else "明天"
        out[pid].append(f"· {day} {local:%H:%M} 活动「{title}」" + (f"（{place}）" if place else ""))


def _learning(db: Session, config: Config, tz: ZoneInfo, now: datetime, out: Lines) -> None:
    """Materials not studied yet: new ones (learning_days), and before a deadline (learning_deadline_days);
    never after the deadline. The nearest deadline first."""
    since = now - timedelta(days=config.get("digest.learning_days", int))
    soon = now + timedelta(days=config.get("digest.learning_deadline_days", int))
    audience = aliased(Unit)
    shown = or_(and_(Material.deadline.is_(None), Material.published_at >= since),
                and_(Material.deadline > now, or_(Material.published_at >= since, Material.deadline <= soon)))
    today = now.astimezone(tz).date()
    for mid, title, deadline, path in db.execute(
            select(Material.id, Material.title, Material.deadline, audience.path)
            .join(audience, audience.id == Material.audience_unit_id).where(shown)
            .order_by(case((Material.deadline.is_(None), 1), else_=0), Material.deadline, Material.id)):
        if deadline is None:
            line = f"· 未学习：《{title}》，发送“学习 {mid}”"
        else:
            local = deadline.astimezone(tz)
            left = (local.date() - today).days
            when = "今天截止" if left <= 0 else f"还剩 {left} 天"
            line = f"· 学习截止 {local:%m-%d %H:%M}（{when}）：《{title}》未学完，发送“学习 {mid}”"
        studied = exists().where(MaterialRead.material_id == mid, MaterialRead.person_id == Person.id,
                                 MaterialRead.studied_at.is_not(None))
        for (pid,) in db.execute(select(Person.id).join(Unit, Unit.id == Person.unit_id)
                                 .where(and_(Person.active.is_(True), Unit.path.like(f"{path}%"), ~studied))):
            out[pid].append(line)


def digests(db: Session, config: Config, now: datetime) -> Lines:
    """person id → the lines of their digest; people who owe nothing are absent."""
    tz = ZoneInfo(config.timezone)
    out: Lines = defaultdict(list)
    quarter = quarter_of(now, config.timezone)
    last_day = quarter_days(quarter, config.timezone)[1]
    _talks_due(db, quarter, out, last_day=last_day if (last_day - now.astimezone(tz).date()).days < 14 else None)
    _holders(db, out)
    _helper_progress(db, config, now, out)
    _activities(db, tz, now, out)
    _learning(db, config, tz, now, out)
    return {pid: lines for pid, lines in out.items() if lines}


def digest_text(lines: list[str], now: datetime, tz: str, *, weekly: list[str] | None = None) -> str:
    day = now.astimezone(ZoneInfo(tz))
    head = f"【每日待办】{day:%m-%d}，您今天需要关注：" if lines else f"【每日待办】{day:%m-%d}，今天没有待办事项。"
    return "\n".join([head, *lines[:30], *(weekly or []),
                      "（每个工作日一条；发送“免打扰”可暂停非紧急消息）"])
