"""One row per scheduled job occurrence: the exactly-once key of the scheduler.

A scheduler inserts `JobRun(job_id, scheduled_for)` and commits *before* running the job body;
UNIQUE(job_id, scheduled_for) lets exactly one instance win an occurrence, whatever the number
of scheduler processes. Rows are never deleted right after a run (that would re-open the slot);
old rows are pruned long after the misfire grace time.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class JobRunStatus:
    RUNNING = "running"
    OK = "ok"
    ERROR = "error"


class JobRun(Base):
    __tablename__ = "job_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64))
    scheduled_for: Mapped[datetime] = mapped_column()          # the occurrence (UTC), not the start time
    instance: Mapped[str] = mapped_column(String(120))          # host:pid:runner that won the claim
    manual: Mapped[bool] = mapped_column(Boolean, default=False)  # `lianxin run-job`
    status: Mapped[str] = mapped_column(String(10), default=JobRunStatus.RUNNING)
    attempts: Mapped[int] = mapped_column(default=1)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime] = mapped_column()             # a RUNNING row older than this may be retaken
    finished_at: Mapped[datetime | None] = mapped_column()
    result: Mapped[int | None] = mapped_column()                # what the job returned (e.g. messages queued)
    error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        UniqueConstraint("job_id", "scheduled_for"),
        Index("ix_job_run_job_finished", "job_id", "finished_at"),
    )
