"""Activity cards and their button payloads (short, stable prefixes: cards live for days)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.callbacks import CallbackData
from bot.messages import Button, Card
from models.activity import KIND_LABELS, Activity, ActivityKind, ActivityStatus, SignupStatus

if TYPE_CHECKING:
    from .seats import ActivityView

__all__ = [
    "ActButton",
    "ActCheckin",
    "ActManage",
    "activity_card",
    "fmt_dt",
    "fmt_when",
    "leave_confirm_card",
    "manage_card",
    "new_card_id",
    "seats_text",
]

WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True)
class ActButton(CallbackData):
    """报名 / 取消报名 / 取消候补 on an activity card; leaveok confirms giving up a confirmed seat."""

    prefix = "act"
    choices = {"op": ("join", "leave", "unwait", "leaveok")}
    id: int
    op: str


@dataclass(frozen=True)
class ActManage(CallbackData):
    """Organiser buttons: roster, check-in list, close, reopen, cancel (+ confirmation), Excel export."""

    prefix = "actm"
    choices = {"op": ("roster", "checkin", "close", "reopen", "cancel", "cancelok", "export")}
    id: int
    op: str


@dataclass(frozen=True)
class ActCheckin(CallbackData):
    """Organiser checks one person in from the check-in list."""

    prefix = "actk"
    id: int
    person: int


def fmt_dt(moment: datetime, tz: str) -> str:
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local:%m-%d}（周{WEEKDAYS[local.weekday()]}）{local:%H:%M}"


def fmt_when(act: Activity | ActivityView, tz: str) -> str:
    start = act.starts_at.astimezone(ZoneInfo(tz))
    end = act.ends_at.astimezone(ZoneInfo(tz))
    head = f"{start:%Y-%m-%d}（周{WEEKDAYS[start.weekday()]}）{start:%H:%M}"
    return f"{head}–{end:%H:%M}" if start.date() == end.date() else f"{head} 至 {end:%Y-%m-%d %H:%M}"


def seats_text(act: Activity | ActivityView) -> str:
    if act.seats is None:
        return f"不限（已报 {act.seats_taken} 人）"
    left = act.seats - act.seats_taken
    return f"{act.seats} 人，已报 {act.seats_taken}，剩余 {left}" + ("" if left else "（已满）")


def _state_line(act: Activity | ActivityView, viewer: str | None, position: int | None, now: datetime | None) -> str:
    if act.status == ActivityStatus.CANCELLED:
        return "❌ 活动已取消"
    if viewer == SignupStatus.CONFIRMED:
        return "✅ 您已报名成功"
    if viewer == SignupStatus.WAITLISTED:
        return f"⏳ 名额已满，您在候补第 {position} 位，有人取消时自动递补并通知您" if position else "⏳ 您在候补名单中"
    if viewer == "full":
        return "名额已满，本活动不设候补"
    if act.status == ActivityStatus.CLOSED or (now is not None and now > act.deadline):
        return "报名已截止"
    if act.seats is not None and act.seats_taken >= act.seats:
        return "名额已满，报名将进入候补" if act.waitlist else "名额已满"
    return ""


def activity_card(act: Activity | ActivityView, tz: str, *, viewer: str | None = None, position: int | None = None,
                  now: datetime | None = None, card_id: str = "", broadcast: bool = False) -> Card:
    """The card people join from; `viewer` is the reader's sign-up status (or "full")."""
    fields = (
        ("类型", KIND_LABELS.get(ActivityKind(act.kind), act.kind)),
        ("时间", fmt_when(act, tz)),
        ("地点", act.place or "待定"),
        ("名额", seats_text(act)),
        ("报名截止", fmt_dt(act.deadline, tz)),
        ("组织者", act.organiser.name if act.organiser else ""),
    )
    state = _state_line(act, viewer, position, now)
    scope = f"范围：{act.audience_unit.name}" + ("（仅限党员）" if act.party_only else "")
    body = "\n".join(x for x in (act.description, scope, state) if x)
    join = Button("报名", ActButton(act.id, "join").pack(), 1)
    leave_text = "取消候补" if viewer == SignupStatus.WAITLISTED else "取消报名"
    # "取消候补" cancels a place in the queue only: pressed after a promotion it must not give the seat away
    leave = Button(leave_text, ActButton(act.id, "unwait" if viewer == SignupStatus.WAITLISTED else "leave").pack(), 2)
    done = None
    if act.status == ActivityStatus.CANCELLED:
        buttons: tuple[Button, ...] = ()
        done = "活动已取消"
    elif broadcast:
        buttons = (join, leave)
    elif viewer in (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED):
        buttons = (leave,)
    elif viewer == "full":
        buttons, done = (), "名额已满"
    elif act.status == ActivityStatus.CLOSED or (now is not None and now > act.deadline):
        buttons, done = (), "报名已截止"
    else:
        buttons = (join,)
    return Card(title=f"【活动】{act.title}"[:36], body=body, fields=fields, buttons=buttons,
                card_id=card_id, done_text=done)


def leave_confirm_card(act: Activity, tz: str) -> Card:
    """Giving up a confirmed seat is asked once more (the seat goes to the next in the queue)."""
    return Card(title=f"确认取消报名「{act.title}」？"[:36],
                body=f"{fmt_when(act, tz)}。取消后名额将让给候补的同志，不能恢复。",
                buttons=(Button("确认取消报名", ActButton(act.id, "leaveok").pack(), 3),),
                card_id=new_card_id(f"actl{act.id}"))


def manage_card(act: Activity, tz: str, *, note: str = "", card_id: str = "") -> Card:
    """What the organiser sees: the activity plus roster, check-in and status buttons."""
    buttons = [Button("报名名单", ActManage(act.id, "roster").pack()),
               Button("签到名单", ActManage(act.id, "checkin").pack()),
               Button("导出名单", ActManage(act.id, "export").pack(), 2)]
    if act.status == ActivityStatus.OPEN:
        buttons.append(Button("关闭报名", ActManage(act.id, "close").pack(), 2))
    elif act.status == ActivityStatus.CLOSED:
        buttons.append(Button("重新开放", ActManage(act.id, "reopen").pack(), 2))
    if act.status != ActivityStatus.CANCELLED:
        buttons.append(Button("取消活动", ActManage(act.id, "cancel").pack(), 3))
    lines = [x for x in (note, f"活动编号：{act.id}    签到码：{act.checkin_code}",
                         f"范围：{act.audience_unit.full_name}" + ("（仅限党员）" if act.party_only else ""),
                         f"状态：{_status_label(act)}") if x]
    return Card(title=f"【管理】{act.title}"[:36], body="\n".join(lines),
                fields=(("时间", fmt_when(act, tz)), ("地点", act.place or "待定"), ("名额", seats_text(act))),
                buttons=tuple(buttons), card_id=card_id or new_card_id(f"actm{act.id}"))


def new_card_id(stem: str) -> str:
    """A fresh WeCom task_id (unique per app, [0-9A-Za-z_-@], ≤ 128 bytes)."""
    return f"{stem}_{uuid.uuid4().hex[:10]}"


def _status_label(act: Activity) -> str:
    from models.activity import STATUS_LABELS

    return STATUS_LABELS.get(ActivityStatus(act.status), act.status)
