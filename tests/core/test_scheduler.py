"""The scheduler: trigger strings, the job registry, exactly-once across instances, catch-up.

The multi-instance tests run real APScheduler BackgroundSchedulers with 1-3 s interval triggers
against the real PostgreSQL and Redis (and SQLite + fakeredis), bounded by explicit waits.
"""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from bot.config import ConfigError
from bot.context import Clock
from bot.metrics import Metrics
from models.db import make_session_factory
from models.jobrun import JobRun
from scheduler.leader import FileLeader, PgAdvisoryLeader, RedisLeader, make_leader
from scheduler.registry import TARGETS, JobSpec, find_spec, job_specs, parse_trigger, resolve
from scheduler.runner import Occurrences, SchedulerRunner
from tests.conftest import make_config

TZ = "Asia/Shanghai"
SH = timezone(timedelta(hours=8))


# --- trigger strings ----------------------------------------------------------------------------

def test_trigger_strings_parse_in_shanghai_time():
    t = parse_trigger("cron:day=1,month=1/3,hour=9", TZ)
    assert isinstance(t, CronTrigger)
    nxt = t.get_next_fire_time(None, datetime(2026, 11, 25, tzinfo=UTC))
    assert nxt.astimezone(SH).replace(tzinfo=None) == datetime(2027, 1, 1, 9, 0)
    end = parse_trigger("cron:day=15,month=3/3,hour=9", TZ).get_next_fire_time(None, datetime(2026, 11, 25, tzinfo=UTC))
    assert end.astimezone(UTC) == datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
    days = parse_trigger("cron:day_of_week=mon,wed,hour=8", TZ)
    assert str(days.fields[4]) == "mon,wed"
    i = parse_trigger("interval:minutes=15", TZ)
    assert isinstance(i, IntervalTrigger) and i.interval == timedelta(minutes=15)
    # anchored: every instance computes the same occurrences, whenever it started
    a = i.get_next_fire_time(None, datetime(2026, 11, 25, 3, 7, 11, tzinfo=UTC))
    assert a == datetime(2026, 11, 25, 3, 15, tzinfo=UTC)


@pytest.mark.parametrize("spec, needle", [
    ("cron day=1", "expected \"cron:"),
    ("daily:hour=9", "unknown trigger kind 'daily'"),
    ("cron:dya=1", "unknown cron field(s) dya"),
    ("cron:hour=25", "invalid cron trigger"),
    ("cron:hour=9,hour=10", "field 'hour' given twice"),
    ("cron:,hour=9", "empty field"),
    ("interval:minutes=0", "longer than zero"),
    ("interval:minutes=abc", "minutes must be a whole number"),
    ("interval:fortnights=1", "unknown interval unit(s) fortnights"),
    ("interval:", "expected"),
])
def test_bad_trigger_strings_name_the_key(spec, needle):
    config = make_config(**{"scheduler.jobs.sla_escalation": spec})
    with pytest.raises(ConfigError) as err:
        job_specs(config)
    assert "scheduler.jobs.sla_escalation" in str(err.value) and needle in str(err.value)


def test_unknown_job_and_disabled_jobs():
    with pytest.raises(ConfigError, match=r"scheduler\.jobs\.nightly: unknown job"):
        job_specs(make_config(**{"scheduler.jobs.nightly": "interval:hours=1"}))
    specs = job_specs(make_config(**{"scheduler.jobs.weekly_digest": "off", "scheduler.jobs.outbox_dispatch": False}))
    ids = [s.id for s in specs]
    assert "weekly_digest" not in ids and "outbox_dispatch" not in ids and "sla_escalation" in ids
    assert find_spec(make_config(**{"scheduler.jobs.weekly_digest": "off"}), "weekly_digest").target == TARGETS["weekly_digest"]
    with pytest.raises(ConfigError, match="unknown job 'nope'"):
        find_spec(make_config(), "nope")


def test_every_registry_entry_imports():
    for job_id, target in TARGETS.items():
        assert callable(resolve(target)), job_id
    # the shipped config enables all but what the daily digest carries (one non-urgent message a workday)
    folded = {"talk_reminders", "talk_reminders_mid", "talk_reminders_end", "weekly_digest"}
    assert {s.id for s in job_specs(make_config())} == set(TARGETS) - folded


# --- helpers for the multi-instance tests -------------------------------------------------------

def tick(job) -> int:
    """Test job: counts executions per occurrence in Redis (shared by every instance)."""
    job.redis.hincrby("ticks", job.scheduled_for.isoformat(), 1)
    return 1


def boom(job) -> int:
    raise RuntimeError("job body failed")


def wait_for(cond, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def runner(engine, r, spec: JobSpec, table: str, *, grace: int = 60, leader=None, metrics=None) -> SchedulerRunner:
    config = make_config(engine.url.render_as_string(hide_password=False),
                         **{"scheduler.misfire_grace_seconds": grace})
    return SchedulerRunner(config, engine, make_session_factory(engine), Clock(), redis=r, metrics=metrics,
                           specs=[spec], leader=leader, heartbeat_seconds=0.2, standby_seconds=0.2,
                           jobstore_table=table)


def runs(engine, job_id: str) -> list[datetime]:
    with make_session_factory(engine)() as db:
        return list(db.scalars(select(JobRun.scheduled_for).where(JobRun.job_id == job_id)
                               .order_by(JobRun.scheduled_for)))


def ticks(r) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in r.hgetall("ticks").items()}


class AlwaysLeader:
    """Split brain on purpose: every instance believes it leads (an expired lease, a paused process)."""

    name = "always"

    def acquire(self) -> bool:
        return True

    def refresh(self) -> bool:
        return True

    def release(self) -> None:
        pass


# --- exactly once -------------------------------------------------------------------------------

def test_two_instances_fire_each_occurrence_once_and_the_standby_takes_over(stack):
    engine, r = stack
    spec = JobSpec("tick", "tests.core.test_scheduler:tick", "interval:seconds=1")
    a = runner(engine, r, spec, "aps_" + uuid.uuid4().hex[:8])
    b = runner(engine, r, spec, a.jobstore_table)
    a.start()
    assert wait_for(a.is_leader.is_set, 5)
    b.start()
    try:
        assert wait_for(lambda: len(runs(engine, "tick")) >= 2, 6)
        assert not b.is_leader.is_set()                # one leader: the job store is never shared
        a.stop()                                       # the leader goes away ...
        assert wait_for(b.is_leader.is_set, 5)         # ... the standby takes over
        n = len(runs(engine, "tick"))
        assert wait_for(lambda: len(runs(engine, "tick")) >= n + 2, 6)
    finally:
        a.stop()
        b.stop()
    counts = ticks(r)
    assert len(counts) >= 4 and set(counts.values()) == {1}          # every occurrence ran exactly once
    with make_session_factory(engine)() as db:
        instances = set(db.scalars(select(JobRun.instance)))
    assert len(instances) == 2                                         # both instances did run jobs


def test_split_brain_still_fires_each_occurrence_once(pg_engine, real_redis):
    """Even with two schedulers running at once (each with its own store), the claim dedupes."""
    from tests.conftest import truncate_all

    truncate_all(pg_engine)
    spec = JobSpec("tick", "tests.core.test_scheduler:tick", "interval:seconds=1")
    metrics = Metrics()
    a = runner(pg_engine, real_redis, spec, "aps_a_" + uuid.uuid4().hex[:6], leader=AlwaysLeader(), metrics=metrics)
    b = runner(pg_engine, real_redis, spec, "aps_b_" + uuid.uuid4().hex[:6], leader=AlwaysLeader(), metrics=metrics)
    a.start(), b.start()
    try:
        assert wait_for(lambda: len(runs(pg_engine, "tick")) >= 3, 8)
    finally:
        a.stop()
        b.stop()
    counts = ticks(real_redis)
    assert len(counts) >= 3 and set(counts.values()) == {1}
    ok = metrics.job_runs.labels("tick", "ok")._value.get()
    skipped = metrics.job_runs.labels("tick", "skipped")._value.get()
    assert ok == len(counts) and skipped >= 2          # the other scheduler tried and lost the claim


def test_file_lock_is_exclusive_and_chosen_for_sqlite_without_redis(tmp_path, sqlite_engine, pg_engine):
    f1, f2 = FileLeader(str(tmp_path / "x.lock")), FileLeader(str(tmp_path / "x.lock"))
    assert f1.acquire() and not f2.acquire()
    f1.release()
    assert f2.acquire()
    f2.release()
    assert isinstance(make_leader(sqlite_engine, None), FileLeader)
    assert isinstance(make_leader(sqlite_engine, object(), redis_url="redis://127.0.0.1:6379/0"), RedisLeader)
    assert isinstance(make_leader(pg_engine, object()), PgAdvisoryLeader)
    with pytest.raises(ConfigError, match=r"scheduler\.leader"):
        make_leader(sqlite_engine, None, "zookeeper")


def test_leader_locks_are_exclusive(pg_engine, real_redis):
    p1, p2 = PgAdvisoryLeader(pg_engine), PgAdvisoryLeader(pg_engine)
    assert p1.acquire() and not p2.acquire()
    assert p1.refresh()
    p1.release()
    assert p2.acquire() and p2.refresh()
    p2.release()
    r1, r2 = RedisLeader(real_redis, ttl=1), RedisLeader(real_redis, ttl=1)
    # (Redis below; the file lock of a SQLite deployment is exclusive between open files too)
    assert r1.acquire() and not r2.acquire()
    time.sleep(1.2)                                    # r1 paused past its lease
    assert r2.acquire()
    assert not r1.refresh()                            # ... and must step down when it wakes up
    r2.release()


# --- catch-up -----------------------------------------------------------------------------------

def test_an_occurrence_missed_while_stopped_is_caught_up_once(pg_engine, real_redis):
    from tests.conftest import truncate_all

    truncate_all(pg_engine)
    spec = JobSpec("tick", "tests.core.test_scheduler:tick", "interval:seconds=3")
    table = "aps_" + uuid.uuid4().hex[:8]
    a = runner(pg_engine, real_redis, spec, table).start()
    try:
        assert wait_for(lambda: runs(pg_engine, "tick"), 6)
    finally:
        a.stop()                                       # down right after its first occurrence
    [first] = runs(pg_engine, "tick")
    missed = first + timedelta(seconds=3)
    time.sleep(max(0.0, (missed - datetime.now(UTC)).total_seconds()) + 0.5)  # down across `missed`
    b = runner(pg_engine, real_redis, spec, table).start()
    try:
        assert wait_for(lambda: missed in runs(pg_engine, "tick"), 5)
    finally:
        b.stop()
    # a fresh scheduler would only have run first+6s onwards: `missed` ran because of the catch-up
    assert ticks(real_redis)[missed.isoformat()] == 1
    assert set(ticks(real_redis).values()) == {1}


def _store_next_run(engine, table: str, when: datetime) -> None:
    """What the job store holds after the scheduler was down since `when` (column and pickled state)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    store = SQLAlchemyJobStore(engine=engine, tablename=table)
    store.start(BackgroundScheduler(timezone=TZ), "default")
    [job] = store.get_all_jobs()
    job._modify(next_run_time=when)
    store.update_job(job)


def test_catch_up_is_coalesced_and_respects_the_grace_time(embedded):
    engine, r = embedded
    spec = JobSpec("tick", "tests.core.test_scheduler:tick", "interval:hours=1")
    table = "aps_" + uuid.uuid4().hex[:8]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if datetime.now(UTC) - hour < timedelta(seconds=2):
        time.sleep(2)                                   # keep "late by more than 1 s" true below
    a = runner(engine, r, spec, table).start()        # stores the job (next run: the next full hour)
    assert wait_for(a.is_leader.is_set, 5)
    a.stop()
    metrics = Metrics()
    # down for three occurrences, and longer than the grace time (1 s): reported missed, not run
    _store_next_run(engine, table, hour - timedelta(hours=2))
    b = runner(engine, r, spec, table, grace=1, metrics=metrics).start()
    try:
        assert wait_for(lambda: metrics.job_runs.labels("tick", "missed")._value.get() >= 1, 5)
    finally:
        b.stop()
    assert runs(engine, "tick") == []
    # the same outage within the grace time: the three missed occurrences run once, as the latest
    _store_next_run(engine, table, hour - timedelta(hours=2))
    c = runner(engine, r, spec, table, grace=86400, metrics=metrics).start()
    try:
        assert wait_for(lambda: runs(engine, "tick"), 5)
        time.sleep(0.5)
    finally:
        c.stop()
    assert runs(engine, "tick") == [hour]
    assert ticks(r) == {hour.isoformat(): 1}


def test_a_failed_job_is_recorded_and_a_dead_claim_is_retaken(embedded):
    engine, r = embedded
    sf = make_session_factory(engine)
    config = make_config(engine.url.render_as_string(hide_password=False))
    occ = Occurrences(config, sf, Clock(), redis=r)
    at = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)
    out = occ.execute(JobSpec("boom", "tests.core.test_scheduler:boom", "off"), at)
    assert out.status == "error" and "job body failed" in out.error
    with sf() as db:
        row = db.scalars(select(JobRun).where(JobRun.job_id == "boom")).one()
        assert row.status == "error" and "job body failed" in row.error
    # a claim whose holder died mid-run (still running, lease expired) is taken over once
    with sf() as db:
        db.add(JobRun(job_id="tick", scheduled_for=at, instance="dead:1", status="running",
                      lease_until=datetime.now(UTC) - timedelta(seconds=1)))
        db.commit()
    spec = JobSpec("tick", "tests.core.test_scheduler:tick", "off")
    assert occ.execute(spec, at).status == "ok"
    assert occ.execute(spec, at).status == "skipped"
    assert ticks(r) == {at.isoformat(): 1}
