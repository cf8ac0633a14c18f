"""What a 共性问题 alert says: the team, the category and the count; never a person or a note."""
from __future__ import annotations

from dataclasses import dataclass

from bot.callbacks import CallbackData
from bot.messages import Button, Card
from models.pulse_alert import CONCERN, PulseAlert
from reports.render.labels import category_label

__all__ = ["PulseButton", "alert_card", "alert_text", "what"]


@dataclass(frozen=True)
class PulseButton(CallbackData):
    """转为事项 on an alert card (text command: 共性问题 立项 N)."""

    prefix = "pa"
    id: int


def category(alert: PulseAlert) -> str:
    return "思想波动" if alert.category == CONCERN else category_label(alert.category)


def what(alert: PulseAlert) -> str:
    """"四车间班组 · 薪酬绩效" (or "· 思想波动")."""
    return f"{alert.team.name} · {category(alert)}"


def alert_text(alert: PulseAlert, *, days: int, shares: str = "") -> str:
    if alert.category == CONCERN:
        return (f"{alert.team.name}谈话中思想状态为“波动”“严重”的比例连续两个季度上升（{shares}），"
                "建议了解班组的整体情况。")
    return (f"{alert.team.name}近 {days} 天有 {alert.flags} 条「{category_label(alert.category)}」类标记谈话，"
            "可能是班组的共性问题，建议统一了解原因、集中答疑或向有关部门反映。")


def alert_card(alert: PulseAlert, text: str, *, done_text: str | None = None) -> Card:
    buttons = () if alert.case_id else (Button("转为事项", PulseButton(alert.id).pack()),)
    body = text + ("" if alert.case_id else f"\n可点“转为事项”跟进，或发送“共性问题 立项 {alert.id}”。")
    return Card(title=f"共性问题提醒 #{alert.id}", body=body, fields=(("班组", alert.team.name), ("类别", category(alert))),
                buttons=buttons, card_id=f"pulse-alert-{alert.id}",
                done_text=done_text or (f"已转为事项 #{alert.case_id}" if alert.case_id else None))
