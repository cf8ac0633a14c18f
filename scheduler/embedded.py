"""The scheduler inside `lianxin demo` (one process, SQLite + in-process Redis).

Same job functions, same per-occurrence claim and same leader lock as `lianxin scheduler`; the
outbox job is left out because the demo already runs an outbox thread. Production runs
`lianxin scheduler` as its own process instead (never inside the web workers).
"""
from __future__ import annotations

import logging

from sqlalchemy import inspect

from models.jobrun import JobRun

from .registry import job_specs
from .runner import SchedulerRunner

log = logging.getLogger("lianxin.scheduler")

__all__ = ["start_embedded"]


def start_embedded(services) -> SchedulerRunner | None:
    if not inspect(services.engine).has_table(JobRun.__tablename__):
        log.warning("scheduler.embedded_disabled", extra={"reason": "table job_run missing: run `lianxin init-db`"})
        return None
    specs = [s for s in job_specs(services.config) if s.id != "outbox_dispatch"]
    runner = SchedulerRunner.from_services(services, specs=specs).start()
    services.scheduler = runner
    return runner
