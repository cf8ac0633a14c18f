"""The scheduler process: leader election, APScheduler with a persistent job store, and the
per-occurrence claim that makes every job occurrence run once across instances.

Three layers (RELIABILITY.md §2):
1. Leader lock (scheduler/leader.py): only the leader runs an APScheduler, so the SQLAlchemy
   job store is never shared between running schedulers (APScheduler 3.x FAQ).
2. Per-occurrence claim: before a job body runs, `JobRun(job_id, scheduled_for)` is inserted and
   committed; UNIQUE(job_id, scheduled_for) lets one instance win, even during a split brain
   (an expired Redis lease, a paused process). A claim whose holder died mid-run (lease expired,
   still `running`) is retaken by the next leader at start-up, within the misfire grace time.
3. Idempotent side effects: jobs send through the outbox with an idem_key per occurrence
   (JobContext.notify skips keys already queued), so a retaken or manual re-run sends nothing twice.

Catch-up: the job store keeps each job's next run time. At start-up the declared jobs are
re-added keeping that stored time (APScheduler's replace_existing would reset it to the future),
so an occurrence missed while no scheduler ran is in the past: APScheduler hands it to the
executor once (coalesce=True), which runs it if it is within `scheduler.misfire_grace_seconds`.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.config import Config
from models.base import utcnow
from models.jobrun import JobRun, JobRunStatus

from .context import JobContext
from .leader import Leader, make_leader
from .registry import JobSpec, job_specs

log = logging.getLogger("lianxin.scheduler")

__all__ = ["JOBSTORE_TABLE", "Occurrences", "RunResult", "SchedulerRunner"]

JOBSTORE_TABLE = "apscheduler_jobs"


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunResult:
    status: str                 # ok, error, skipped (another instance has or had the occurrence)
    result: int | None = None
    error: str | None = None


class Occurrences:
    """Claim an occurrence, run the job body, record the outcome (used by the scheduler and run-job)."""

    def __init__(self, config: Config, session_factory, clock, *, redis=None, metrics=None,
                 outbox_dispatcher=None, instance: str | None = None) -> None:
        self.config = config
        self.sf = session_factory
        self.clock = clock
        self.redis = redis
        self.metrics = metrics
        self.outbox_dispatcher = outbox_dispatcher
        self.instance = instance or f"{instance_name()}:{id(self):x}"
        self.lease = timedelta(seconds=config.get("scheduler.run_lease_seconds", int))

    # claiming -------------------------------------------------------------------------------
    def claim(self, job_id: str, scheduled_for: datetime, manual: bool = False) -> int | None:
        """Atomically take the occurrence; None if another run has (or had) it."""
        now = utcnow()
        with self.sf() as db:
            row = JobRun(job_id=job_id, scheduled_for=scheduled_for, instance=self.instance[:120], manual=manual,
                         claimed_at=now, lease_until=now + self.lease)
            db.add(row)
            try:
                db.commit()
                return row.id
            except IntegrityError:
                db.rollback()
            # the holder of a RUNNING claim whose lease expired died mid-run: take it over
            taken = db.execute(
                update(JobRun)
                .where(JobRun.job_id == job_id, JobRun.scheduled_for == scheduled_for,
                       JobRun.status == JobRunStatus.RUNNING, JobRun.lease_until < now)
                .values(instance=self.instance[:120], claimed_at=now, lease_until=now + self.lease,
                        attempts=JobRun.attempts + 1)
            ).rowcount
            db.commit()
            if taken == 1:
                log.warning("scheduler.claim_retaken", extra={"job": job_id, "scheduled_for": scheduled_for.isoformat()})
                return db.scalar(select(JobRun.id).where(JobRun.job_id == job_id,
                                                         JobRun.scheduled_for == scheduled_for))
            return None

    def _finish(self, run_id: int, status: str, result: int | None = None, error: str | None = None) -> None:
        with self.sf() as db:
            db.execute(update(JobRun).where(JobRun.id == run_id).values(
                status=status, finished_at=utcnow(), result=result, error=(error or None) and error[:500]))
            db.commit()

    # running --------------------------------------------------------------------------------
    def context(self, spec: JobSpec, scheduled_for: datetime | None) -> JobContext:
        return JobContext(config=self.config, session_factory=self.sf, clock=self.clock, redis=self.redis,
                          metrics=self.metrics, scheduled_for=scheduled_for, job_id=spec.id,
                          outbox_dispatcher=self.outbox_dispatcher)

    def execute(self, spec: JobSpec, scheduled_for: datetime, *, manual: bool = False) -> RunResult:
        scheduled_for = scheduled_for.astimezone(UTC)
        run_id = None
        if spec.guarded:
            run_id = self.claim(spec.id, scheduled_for, manual)
            if run_id is None:
                self._count(spec.id, "skipped")
                log.info("scheduler.occurrence_taken", extra={"job": spec.id, "scheduled_for": scheduled_for.isoformat()})
                return RunResult("skipped")
        try:
            result = spec.load()(self.context(spec, scheduled_for))
        except Exception as exc:
            log.exception("scheduler.job_failed", extra={"job": spec.id, "scheduled_for": scheduled_for.isoformat()})
            message = f"{type(exc).__name__}: {exc}"
            if run_id is not None:
                self._finish(run_id, JobRunStatus.ERROR, error=message)
            self._count(spec.id, "error")
            return RunResult("error", error=message)
        result = result if isinstance(result, int) and not isinstance(result, bool) else None
        if run_id is not None:
            self._finish(run_id, JobRunStatus.OK, result=result)
        self._count(spec.id, "ok")
        if spec.guarded or result:
            log.info("scheduler.job_done", extra={"job": spec.id, "scheduled_for": scheduled_for.isoformat(),
                                                  "result": result})
        return RunResult("ok", result=result)

    def stale_claims(self, specs: list[JobSpec], grace: timedelta) -> list[tuple[JobSpec, datetime]]:
        """RUNNING claims whose holder died (lease expired), still within the grace time."""
        by_id = {s.id: s for s in specs if s.guarded}
        if not by_id:
            return []
        now = utcnow()
        with self.sf() as db:
            rows = db.execute(select(JobRun.job_id, JobRun.scheduled_for).where(
                JobRun.status == JobRunStatus.RUNNING, JobRun.lease_until < now,
                JobRun.scheduled_for >= now - grace, JobRun.job_id.in_(list(by_id)))).all()
        return [(by_id[j], t) for j, t in rows]

    def prune(self, older_than: timedelta) -> int:
        with self.sf() as db:
            n = db.execute(JobRun.__table__.delete().where(JobRun.scheduled_for < utcnow() - older_than)).rowcount
            db.commit()
        return n or 0

    def _count(self, job_id: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.job_runs.labels(job_id, outcome).inc()


class OccurrenceExecutor(BasePoolExecutor):
    """A thread-pool executor that hands each run time to `Occurrences.execute`.

    APScheduler's own run_job calls `job.func()` without the run time; we need the occurrence
    (the claim key and the idem_key base). Misfire handling is the same as APScheduler's.
    """

    def __init__(self, run: Callable[[str, datetime], RunResult], missed: Callable[[str, datetime], None],
                 max_workers: int = 4) -> None:
        super().__init__(concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="job"))
        self._run = run
        self._missed = missed

    def _do_submit_job(self, job, run_times):
        alias = job._jobstore_alias

        def work() -> list:
            events = []
            for run_time in run_times:
                late = datetime.now(UTC) - run_time
                if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
                    log.warning("scheduler.occurrence_missed", extra={"job": job.id, "scheduled_for": run_time.isoformat(),
                                                                      "late_seconds": int(late.total_seconds())})
                    self._missed(job.id, run_time)
                    events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, alias, run_time))
                    continue
                try:
                    outcome = self._run(job.id, run_time)
                except Exception as exc:  # Occurrences.execute catches job errors; this is the guard itself
                    log.exception("scheduler.run_failed", extra={"job": job.id})
                    events.append(JobExecutionEvent(EVENT_JOB_ERROR, job.id, alias, run_time, exception=exc))
                    continue
                events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, alias, run_time, retval=outcome))
            return events

        def done(f) -> None:
            exc = f.exception()
            if exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, f.result())

        self._pool.submit(work).add_done_callback(done)


class SchedulerRunner:
    """Stand by until leader, then run APScheduler until stopped or the lock is lost."""

    def __init__(self, config: Config, engine, session_factory, clock, *, redis=None, metrics=None,
                 outbox_dispatcher=None, leader: Leader | None = None, specs: list[JobSpec] | None = None,
                 heartbeat_seconds: float | None = None, standby_seconds: float | None = None,
                 jobstore_table: str = JOBSTORE_TABLE) -> None:
        self.config = config
        self.engine = engine
        self.jobstore_table = jobstore_table
        self.tz = config.timezone
        self.specs = specs if specs is not None else job_specs(config)
        self.occurrences = Occurrences(config, session_factory, clock, redis=redis, metrics=metrics,
                                       outbox_dispatcher=outbox_dispatcher)
        ttl = config.get("scheduler.leader_ttl_seconds", float)
        self.leader = leader or make_leader(engine, redis, config.get("scheduler.leader", str), ttl=ttl,
                                            redis_url=config.redis_url)
        self.heartbeat = heartbeat_seconds or config.get("scheduler.heartbeat_seconds", float) or ttl / 3
        self.standby = standby_seconds or config.get("scheduler.standby_seconds", float) or ttl / 3
        self.grace = config.get("scheduler.misfire_grace_seconds", int)
        self.metrics = metrics
        self.scheduler: Any = None
        self.is_leader = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._by_id = {s.id: s for s in self.specs}

    @classmethod
    def from_services(cls, services, **kw) -> SchedulerRunner:
        kw.setdefault("outbox_dispatcher", services.outbox_dispatcher())
        return cls(services.config, services.engine, services.session_factory, services.clock,
                   redis=services.redis, metrics=services.metrics, **kw)

    # building the APScheduler ---------------------------------------------------------------
    def _run_occurrence(self, job_id: str, run_time: datetime) -> RunResult:
        return self.occurrences.execute(self._by_id[job_id], run_time)

    def _missed(self, job_id: str, run_time: datetime) -> None:
        self.occurrences._count(job_id, "missed")

    def build(self, scheduler_cls=BackgroundScheduler):
        store = SQLAlchemyJobStore(engine=self.engine, tablename=self.jobstore_table)
        sched = scheduler_cls(
            timezone=self.tz, jobstores={"default": store},
            executors={"default": OccurrenceExecutor(self._run_occurrence, self._missed)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self.grace})
        store.start(sched, "default")       # creates the table; lets us read what was stored
        stored = {job.id: job for job in store.get_all_jobs()}
        for job_id in set(stored) - set(self._by_id):
            store.remove_job(job_id)
            log.info("scheduler.job_removed", extra={"job": job_id})
        for spec in self.specs:
            trigger = spec.build_trigger(self.tz)
            try:
                spec.load()
            except Exception as exc:
                log.error("scheduler.job_not_importable", extra={"job": spec.id, "target": spec.target,
                                                                 "error": f"{type(exc).__name__}: {exc}"})
                if spec.id in stored:
                    store.remove_job(spec.id)
                continue
            kwargs = {}
            old = stored.get(spec.id)
            if old is not None and old.func_ref == spec.target and repr(old.trigger) == repr(trigger) \
                    and old.next_run_time is not None:
                kwargs["next_run_time"] = old.next_run_time      # keep a missed occurrence: catch-up
            # the stored job names the real target; OccurrenceExecutor calls it with the JobContext
            # (args=[None] only satisfies APScheduler's signature check)
            sched.add_job(spec.target, trigger=trigger, args=[None], id=spec.id, name=spec.id,
                          replace_existing=True, **kwargs)
        return sched

    # leadership loop ------------------------------------------------------------------------
    def run(self, blocking: bool = True) -> None:
        """Serve until stop(): stand by, lead while holding the lock, stand by again if it is lost."""
        while not self._stop.is_set():
            try:
                leader = self.leader.acquire()
            except Exception:
                log.exception("scheduler.leader_error")
                leader = False
            if not leader:
                self._stop.wait(self.standby)
                continue
            log.info("scheduler.leader", extra={"lock": self.leader.name, "instance": self.occurrences.instance})
            try:
                self._lead(blocking)
            except Exception:
                log.exception("scheduler.lead_failed")
                self._stop.wait(self.standby)
            finally:
                self.is_leader.clear()
                self.leader.release()
                log.info("scheduler.standby", extra={"instance": self.occurrences.instance})

    def _lead(self, blocking: bool) -> None:
        self._recover()
        sched = self.scheduler = self.build(BlockingScheduler if blocking else BackgroundScheduler)
        self.is_leader.set()
        if blocking:
            watcher = threading.Thread(target=self._watch, args=(sched,), name="scheduler-leader", daemon=True)
            watcher.start()
            try:
                sched.start()           # returns when the watcher shuts it down
            finally:
                self._stop_scheduler(sched)
                watcher.join(timeout=self.heartbeat * 2)
        else:
            sched.start()
            self._watch(sched)

    def _watch(self, sched) -> None:
        last_prune = 0.0
        while not self._stop.wait(self.heartbeat):
            if not self.leader.refresh():
                log.error("scheduler.leadership_lost", extra={"instance": self.occurrences.instance})
                break
            if time.monotonic() - last_prune > 3600:
                last_prune = time.monotonic()
                try:
                    self.occurrences.prune(timedelta(seconds=max(2 * self.grace, 30 * 86400)))
                except Exception:
                    log.exception("scheduler.prune_failed")
        self._stop_scheduler(sched)

    def _stop_scheduler(self, sched) -> None:
        if sched.running:
            try:
                sched.shutdown(wait=True)
            except Exception:
                log.exception("scheduler.shutdown_failed")

    def _recover(self) -> None:
        """Re-run occurrences whose claim holder died mid-run (the job bodies are idempotent)."""
        for spec, when in self.occurrences.stale_claims(self.specs, timedelta(seconds=self.grace)):
            log.warning("scheduler.recovering", extra={"job": spec.id, "scheduled_for": when.isoformat()})
            self.occurrences.execute(spec, when)

    # background control (embedded demo, tests) ----------------------------------------------
    def start(self) -> SchedulerRunner:
        self._thread = threading.Thread(target=self.run, kwargs={"blocking": False}, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
