"""Write the day sets of active users that the turn gate keeps in Redis to person_active_day."""
from __future__ import annotations

from bot.active_days import flush_active_days

from ..context import JobContext

__all__ = ["flush"]


def flush(job: JobContext) -> int:
    """Safe next to another run: each set is renamed before it is read (bot.active_days)."""
    if job.redis is None:
        return 0
    return flush_active_days(job.redis, job.session_factory, today=job.now().astimezone(job.tz).date())
