"""Scheduled job: remind confirmed participants before an activity starts.

`activity_reminders` runs every few minutes (scheduler). For each offset in
`activities.reminder_hours` (e.g. [24, 1]) an activity gets one reminder, keyed by the outbox
idem_key "act-remind:<activity>:<hours>", so a re-run, an overlapping run or a second scheduler
instance sends nothing twice. Only the smallest offset already due is sent: an activity published
30 minutes before its start gets the 1-hour reminder, not a late "tomorrow" one.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from bot.messages import Text
from models.activity import Activity, ActivityStatus
from models.db import session_scope
from models.outbox import OutboxMessage, Priority
from scheduler.context import JobContext

from . import service
from .cards import fmt_when

log = logging.getLogger("lianxin.jobs.activities")

__all__ = ["activity_reminders"]


def _offsets(job: JobContext) -> list[float]:
    hours = job.config.get("activities.reminder_hours", list)
    return sorted({float(h) for h in hours if float(h) > 0})


def activity_reminders(job: JobContext) -> int:
    """Enqueue due reminders; returns how many activities were reminded in this run."""
    offsets = _offsets(job)
    if not offsets:
        return 0
    now = job.now()
    sent = 0
    with session_scope(job.session_factory) as db:
        acts = db.scalars(select(Activity).where(
            Activity.status != ActivityStatus.CANCELLED, Activity.starts_at > now,
            Activity.starts_at <= now + timedelta(hours=max(offsets)))).unique().all()
        tz = job.config.timezone
        for act in acts:
            due = [h for h in offsets if act.starts_at - timedelta(hours=h) <= now]
            if not due:
                continue
            hours = min(due)
            key = f"act-remind:{act.id}:{hours:g}"
            if db.scalar(select(OutboxMessage.id).where(or_(OutboxMessage.idem_key.like(f"{key}@%"),   # ~n: held groups
                                                            OutboxMessage.idem_key.like(f"{key}~%"))).limit(1)):
                continue
            confirmed, _ = service.roster(db, act)
            people = [s.person for s in confirmed]
            if not people:
                continue
            left = act.starts_at - now
            soon = f"{int(left.total_seconds() // 3600)} 小时后" if left >= timedelta(hours=1) else \
                f"{max(1, int(left.total_seconds() // 60))} 分钟后"
            msg = Text(f"⏰ 活动提醒：「{act.title}」将于{soon}开始（{fmt_when(act, tz)}），地点：{act.place or '待定'}。"
                       f"到场后发送“签到 {act.checkin_code}”签到；不能参加请发送“取消报名 {act.id}”。")
            try:
                with db.begin_nested():
                    # the day-ahead reminder waits out quiet hours; the last one before the start goes at once
                    job.notify(db, people, msg, ref=f"activity:{act.id}", idem_key=key,
                               priority=Priority.URGENT if hours <= 2 else Priority.NORMAL)
                    db.flush()
            except IntegrityError:   # another run enqueued it at the same moment
                continue
            sent += 1
            log.info("activity.reminder", extra={"activity": act.id, "hours": hours, "n": len(people)})
    return sent
