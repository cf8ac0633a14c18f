"""The employee's confirmation card and the secretary's denial card (never any talk notes)."""
from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.callbacks import CallbackData
from bot.messages import Button, Card
from models.enums import Role
from models.sampling import TalkCheck
from models.talk import KIND_LABELS, TalkKind

__all__ = ["CheckButton", "check_card", "denial_card"]


@dataclass(frozen=True)
class CheckButton(CallbackData):
    """属实 / 没有这次谈话 (text: 属实 N, 没有这次谈话 N) and the secretary's 已核实 (核实回访 N …)."""

    prefix = "chk"
    choices = {"op": ("yes", "no", "resolve")}
    id: int
    op: str


def _author_title(check: TalkCheck) -> str:
    leads = any(r.role == Role.TEAM_LEADER.value for r in check.author.roles)
    return ("班组长" if leads else "支部书记") + check.author.name


def _day(check: TalkCheck, tz: str) -> str:
    d = check.talk.occurred_at.astimezone(ZoneInfo(tz))
    return f"{d.month} 月 {d.day} 日"


def check_card(check: TalkCheck, tz: str, *, done_text: str | None = None) -> Card:
    kind = KIND_LABELS.get(TalkKind(check.talk.kind), "谈心谈话") if check.talk.kind in TalkKind._value2member_map_ \
        else "谈心谈话"
    body = (f"{_author_title(check)}记录了{_day(check, tz)}与您的一次{kind}，是否属实？\n"
            f"（抽查回访，只核对是否谈过；也可回复“属实 {check.id}”或“没有这次谈话 {check.id}”）")
    buttons = () if done_text else (Button("属实", CheckButton(check.id, "yes").pack()),
                                     Button("没有这次谈话", CheckButton(check.id, "no").pack(), 2))
    return Card(title="谈心谈话回访", body=body, buttons=buttons, card_id=f"check-{check.id}", done_text=done_text)


def denial_card(check: TalkCheck, tz: str, *, done_text: str | None = None) -> Card:
    body = (f"{check.subject.name}（{check.unit.name}）表示没有{_author_title(check)}记录的"
            f"{_day(check, tz)}这次谈话。该谈话已标记，核实前不计入谈话覆盖率。\n"
            f"核实后回复：核实回访 {check.id} 属实 说明 / 核实回访 {check.id} 不属实 说明")
    buttons = () if done_text else (Button("去核实", CheckButton(check.id, "resolve").pack()),)
    return Card(title=f"回访异议 #{check.id}", body=body, buttons=buttons, card_id=f"checkr-{check.id}",
                done_text=done_text)
