"""The secretary's 心声 card and its buttons (the sender is named only when they chose to be)."""
from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.callbacks import CallbackData
from bot.messages import Button, Card
from models.voice import Voice, VoiceState

__all__ = ["VoiceButton", "sender_label", "voice_card"]


@dataclass(frozen=True)
class VoiceButton(CallbackData):
    """回复 / 办结 on a 心声 card (text commands: 回复心声 N …, 办结心声 N …)."""

    prefix = "vc"
    choices = {"op": ("reply", "close")}
    id: int
    op: str


def sender_label(voice: Voice) -> str:
    if voice.anonymous or voice.sender is None:
        return "匿名"
    return f"{voice.sender.name}（{voice.sender.unit.name if voice.sender.unit else '—'}）"


def voice_card(voice: Voice, tz: str, *, done_text: str | None = None) -> Card:
    when = voice.created_at.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")
    fields = [("来自", sender_label(voice)), ("支部", voice.unit.name), ("时间", when), ("状态", voice.state_label)]
    if voice.reply:
        fields.append(("回复", voice.reply if len(voice.reply) <= 60 else voice.reply[:60] + "…"))
    closed = voice.state == VoiceState.CLOSED.value
    buttons = () if closed else (Button("回复", VoiceButton(voice.id, "reply").pack()),
                                 Button("办结", VoiceButton(voice.id, "close").pack(), 2))
    return Card(title=f"员工心声 #{voice.id}", body=voice.text, fields=tuple(fields), buttons=buttons,
                card_id=f"voice-{voice.id}", done_text=done_text or ("已办结" if closed else None))
