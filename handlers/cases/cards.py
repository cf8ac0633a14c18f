"""The item cards: a new flag (secretaries), a care request per approval level (that level's
approvers), approved (secretary), a helper task (helper). Card ids double as WeCom task_id and
as the outbox `ref` of the send, so that a later decision can update every copy of the same card.
Every button has a text command doing the same (shown on the card: 确认 N, 同意 N …).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.callbacks import CallbackData
from bot.messages import Button, Card
from models.case import CARE_REASONS, CARE_TYPES, Case, CaseState
from models.enums import Role
from models.talk import CATEGORY_LABELS, FLAG_LABELS, Category, Flag

from .chain import LEVEL_LABELS
from .service import fmt_time

__all__ = ["CaseAction", "approved_card", "care_card", "care_card_id", "care_label", "flag_card", "flag_card_id",
           "flag_label", "helper_card"]


@dataclass(frozen=True)
class CaseAction(CallbackData):
    """An item button: case:<id>:<op>."""

    prefix = "case"
    choices = {"op": ("ack", "follow", "care", "approve", "reject", "assign", "talk")}
    id: int
    op: str


def flag_label(case: Case) -> str:
    flag = FLAG_LABELS.get(Flag(case.flag), case.flag) if case.flag in Flag._value2member_map_ else case.flag
    cat = (CATEGORY_LABELS.get(Category(case.category))
           if case.category is not None and case.category in Category._value2member_map_ else None)
    return f"{flag}·{cat}" if cat else flag


class CareFields(Protocol):
    """What care_label reads: a Case, or the answers of a care request being confirmed."""

    @property
    def care_type(self) -> str | None: ...
    @property
    def care_reason(self) -> str | None: ...
    @property
    def amount(self) -> int | None: ...


def care_label(case: CareFields) -> str:
    """困难帮扶 ¥2000 · 慰问（生病住院）¥300 · 心理疏导."""
    if not case.care_type:
        return "—"
    text = CARE_TYPES.get(case.care_type, case.care_type)
    if case.care_reason:
        text += f"（{CARE_REASONS.get(case.care_reason, case.care_reason)}）"
    if case.amount:
        text += f" ¥{case.amount}"
    return text


def flag_card_id(case: Case) -> str:
    return f"case{case.id}_flag"


def care_round(case: Case) -> int:
    """A rejected or withdrawn request may be submitted again: round 1, 2, …"""
    return max(1, sum(1 for e in case.events if e.kind == "transition" and e.to_state == CaseState.CARE_REQUESTED))


def care_card_id(case: Case, level: int | None = None) -> str:
    """One card per request round and approval level: case12_care1_L0, case12_care1_L1 …"""
    return f"case{case.id}_care{care_round(case)}_L{case.approval_step if level is None else level}"


def _subject_fields(case: Case) -> list[tuple[str, str]]:
    unit = case.unit.full_name.split("/")[-1] if case.unit else "—"
    fields = [("对象", f"{case.subject.name}（{unit}）")]
    if case.talk_id:
        fields.append(("来源", f"谈话 #{case.talk_id}（{flag_label(case)}）"))
    return fields


def _talk_button(case: Case) -> tuple[Button, ...]:
    return (Button("查看谈话", CaseAction(case.id, "talk").pack(), 3),) if case.talk_id else ()


def flag_card(case: Case, author: str, tz: str, *, status: str | None = None, done: str | None = None) -> Card:
    title = f"{'【紧急】' if case.flag == Flag.URGENT else ''}关爱事项 {case.id}：{case.subject.name}"
    unit = case.unit.full_name.split("/")[-1] if case.unit else "—"
    fields = [("对象", f"{case.subject.name}（{unit}）"), ("谈话", f"#{case.talk_id}"), ("标记", flag_label(case)),
              ("记录人", author), ("时间", fmt_time(case.created_at, tz)), ("状态", status or case.state_label)]
    buttons = (Button("确认收到", CaseAction(case.id, "ack").pack(), 1),
               Button("安排跟进谈话", CaseAction(case.id, "follow").pack(), 2),
               Button("发起关爱申请", CaseAction(case.id, "care").pack(), 2)) + _talk_button(case)
    if case.state != CaseState.REPORTED and not done:  # acknowledged: only the next steps remain
        buttons = buttons[1:]
    n = case.id
    body = f"文字也可办理：确认 {n} · 跟进 {n} · 关爱 {n} · 谈话详情 {case.talk_id}；“事项 {n}”看处理记录。"
    return Card(title=title[:36], body=body,
                fields=tuple(fields), buttons=buttons, card_id=flag_card_id(case), done_text=done)


def care_card(case: Case, requester: str, submitted_at: str, approvals: list[tuple[str, str]], *,
              level: int | None = None, status: str | None = None, done: str | None = None) -> Card:
    """The request as approvers of `level` see it, with the levels approved before (who, when)."""
    level = case.approval_step if level is None else level
    chain = case.chain
    role = chain[min(level, len(chain) - 1)]
    unit = case.unit.full_name.split("/")[-1] if case.unit else "—"
    fields = [("对象", f"{case.subject.name}（{unit}）" + (f"·谈话 #{case.talk_id}" if case.talk_id else ""))]
    if status:
        fields.append(("结果", status))
    kind = care_label(case) + (f"，证明材料 {len(case.media_ids)} 张" if case.media_ids else "")
    fields += [("类型", kind), ("需求", (case.need or "")[:60]), ("申请", f"{requester} {submitted_at}")]
    if len(chain) > 1:   # WeCom shows at most 6 fields: the chain and who approved before share one
        steps = [f"{LEVEL_LABELS[r]}" + (f"（{approvals[i][1]} 同意）" if i < min(level, len(approvals)) else "")
                 for i, r in enumerate(chain)]
        fields.append(("审批", f"第 {level + 1}/{len(chain)} 级：" + " → ".join(steps)))
    n = case.id
    buttons: tuple[Button, ...] = (Button("同意", CaseAction(n, "approve").pack(), 1),
                                   Button("驳回", CaseAction(n, "reject").pack(), 2))
    if role in (Role.SECRETARY, Role.COMMITTEE):   # those who may read the talk (access policy: talk.read)
        buttons += _talk_button(case)
    body = (f"请{LEVEL_LABELS[role]}审批。文字也可：同意 {n} · 驳回 {n} 理由。" if not done
            else f"本级审批已结束（{done}）。发送“事项 {n}”查看处理记录。")
    return Card(title=f"关爱申请 · 事项 {n}：{case.subject.name}"[:36], body=body, fields=tuple(fields),
                buttons=buttons, card_id=care_card_id(case, level), done_text=done)


def approved_card(case: Case, decider: str, tz: str, *, done: str | None = None) -> Card:
    fields = _subject_fields(case) + [("类型", care_label(case)),
                                      ("审批", f"{decider} 于 {fmt_time(case.decided_at, tz)} 同意"),
                                      ("需求", (case.need or "")[:60])]
    return Card(title=f"关爱申请已同意 · 事项 {case.id}"[:36],
                body=f"请指派一名党员作为一对一帮扶人（或发送“指派 {case.id} 姓名”）。",
                fields=tuple(fields), buttons=(Button("指派帮扶人", CaseAction(case.id, "assign").pack(), 1),),
                card_id=f"case{case.id}_assign_v{case.version}", done_text=done)


def helper_card(case: Case, secretary: str) -> Card:
    fields = [("对象", f"{case.subject.name}（{case.unit.full_name.split('/')[-1]}）"), ("类型", care_label(case)),
              ("需求", (case.need or "")[:60]), ("指派人", secretary)]
    return Card(title=f"帮扶任务 · 事项 {case.id}：{case.subject.name}"[:36],
                body=f"您被指派为一对一帮扶人。请发送“进展 {case.id} 内容”汇报帮扶进展。",
                fields=tuple(fields), card_id=f"case{case.id}_help_v{case.version}")
