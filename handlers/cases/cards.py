"""The case cards: a new flag (secretaries), a care request (committee), approved (secretary),
a helper task (helper). Card ids double as WeCom task_id and as the outbox `ref` of the send,
so that a later decision can update every copy of the same card.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.callbacks import CallbackData
from bot.messages import Button, Card
from models.case import Case, CaseState
from models.talk import CATEGORY_LABELS, FLAG_LABELS, Category, Flag

from .service import fmt_time

__all__ = ["CaseAction", "approved_card", "care_card", "care_card_id", "flag_card", "flag_card_id", "helper_card"]


@dataclass(frozen=True)
class CaseAction(CallbackData):
    """A case button: case:<id>:<op>."""

    prefix = "case"
    choices = {"op": ("ack", "follow", "care", "approve", "reject", "assign")}
    id: int
    op: str


def flag_label(case: Case) -> str:
    flag = FLAG_LABELS.get(Flag(case.flag), case.flag) if case.flag in Flag._value2member_map_ else case.flag
    cat = CATEGORY_LABELS.get(Category(case.category)) if case.category in Category._value2member_map_ else None
    return f"{flag}·{cat}" if cat else flag


def flag_card_id(case: Case) -> str:
    return f"case{case.id}_flag"


def care_card_id(case: Case) -> str:
    """One card per care request (a rejected request may be resubmitted): case12_care1, case12_care2…"""
    n = sum(1 for e in case.events if e.kind == "transition" and e.to_state == CaseState.CARE_REQUESTED)
    return f"case{case.id}_care{max(n, 1)}"


def _subject_fields(case: Case) -> list[tuple[str, str]]:
    unit = case.unit.full_name.split("/")[-1] if case.unit else "—"
    return [("对象", f"{case.subject.name}（{unit}）")]


def flag_card(case: Case, author: str, tz: str, *, status: str | None = None, done: str | None = None) -> Card:
    title = f"{'【紧急】' if case.flag == Flag.URGENT else ''}谈话标记 #{case.id}：{case.subject.name}"
    fields = _subject_fields(case) + [("标记", flag_label(case)), ("记录人", author),
                                      ("时间", fmt_time(case.created_at, tz))]
    if status:
        fields.append(("状态", status))
    buttons = (Button("确认收到", CaseAction(case.id, "ack").pack(), 1),
               Button("安排跟进谈话", CaseAction(case.id, "follow").pack(), 2),
               Button("发起关爱申请", CaseAction(case.id, "care").pack(), 2))
    if status and not done:  # acknowledged: only the next steps remain
        buttons = buttons[1:]
    return Card(title=title[:36], body=f"发送“案件 {case.id}”查看详情和处理记录。", fields=tuple(fields),
                buttons=buttons, card_id=flag_card_id(case), done_text=done)


def care_card(case: Case, secretary: str, tz: str, *, status: str | None = None, done: str | None = None) -> Card:
    fields = _subject_fields(case) + [("需求", (case.need or "")[:60]), ("申请人", secretary),
                                      ("申请时间", fmt_time(case.state_since, tz))]
    if status:
        fields.append(("结果", status))
    buttons = (Button("同意", CaseAction(case.id, "approve").pack(), 1),
               Button("驳回", CaseAction(case.id, "reject").pack(), 2))
    return Card(title=f"关爱申请 #{case.id}：{case.subject.name}"[:36], body="请审批。驳回时需填写理由。",
                fields=tuple(fields), buttons=buttons, card_id=care_card_id(case), done_text=done)


def approved_card(case: Case, decider: str, tz: str, *, done: str | None = None) -> Card:
    fields = _subject_fields(case) + [("审批", f"{decider} 于 {fmt_time(case.decided_at, tz)} 同意"),
                                      ("需求", (case.need or "")[:60])]
    return Card(title=f"关爱申请已同意 #{case.id}"[:36], body="请指派一名党员作为一对一帮扶人。",
                fields=tuple(fields), buttons=(Button("指派帮扶人", CaseAction(case.id, "assign").pack(), 1),),
                card_id=f"case{case.id}_assign_v{case.version}", done_text=done)


def helper_card(case: Case, secretary: str) -> Card:
    fields = _subject_fields(case) + [("需求", (case.need or "")[:60]), ("指派人", secretary)]
    return Card(title=f"帮扶任务 #{case.id}：{case.subject.name}"[:36],
                body=f"您被指派为一对一帮扶人。请发送“进展 {case.id} 内容”汇报帮扶进展。",
                fields=tuple(fields), card_id=f"case{case.id}_help_v{case.version}")
