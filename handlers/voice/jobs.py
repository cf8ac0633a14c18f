"""Scheduler entry point: 心声 left unanswered get a reminder, then go one level up.

Same rule as cases: `sla.voice_reply_hours` to reply (then `sla.progress_hours` to close once
replied), a reminder to the branch secretaries, `sla.escalate_after_reminder_hours` later the
level above. Each step is claimed with a conditional UPDATE, so reruns send it once.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.config import Config
from bot.messages import Text
from models.db import rowcount, session_scope
from models.outbox import Priority
from models.voice import Voice, VoiceState
from scheduler.context import JobContext

from . import service

__all__ = ["voice_sla"]


def _hours(config: Config, voice: Voice) -> float:
    key = "sla.voice_reply_hours" if voice.state == VoiceState.OPEN.value else "sla.progress_hours"
    hours: float = config.get(key, float)   # (Config.get returns Any: the kind is a runtime argument)
    return hours


def voice_sla(job: JobContext) -> int:
    """Every 15 minutes: remind, then escalate, open 心声 past their time (no sender ever named)."""
    after = job.config.get("sla.escalate_after_reminder_hours", float)
    now = job.now()
    taken = 0
    with session_scope(job.session_factory) as db:
        open_states = [VoiceState.OPEN.value, VoiceState.REPLIED.value]
        for voice in db.scalars(select(Voice).where(Voice.state.in_(open_states), Voice.sla_step < 2)
                                .order_by(Voice.id)).all():
            step = voice.sla_step + 1
            hours = _hours(job.config, voice)
            if now < voice.sla_since + timedelta(hours=hours + (after if step == 2 else 0)):
                continue
            claimed = db.execute(update(Voice).where(Voice.id == voice.id, Voice.sla_step == step - 1,
                                                     Voice.sla_since == voice.sla_since)
                                 .values(sla_step=step).execution_options(synchronize_session=False))
            if rowcount(claimed) != 1:
                continue
            what = "待回复" if voice.state == VoiceState.OPEN.value else "已回复待办结"
            if step == 1:
                people = service.secretaries_of(db, voice.unit)
                msg = Text(f"【超时提醒】员工心声 #{voice.id}（{voice.unit.name}）{what}已超过 {hours:g} 小时，"
                           f"请发送“心声列表”处理。")
            else:
                people = service.escalation_targets(db, voice)
                msg = Text(f"【超时上报】{voice.unit.name}的员工心声 #{voice.id}{what}，提醒后仍未处理，请督促办理。")
            if people:
                job.notify(db, people, msg, ref=f"voice:{voice.id}",
                           idem_key=f"voice-sla:{voice.id}:{int(voice.sla_since.timestamp())}:{step}",
                           priority=Priority.URGENT if step == 2 else Priority.NORMAL)   # the escalation goes at once
            taken += 1
    return taken
