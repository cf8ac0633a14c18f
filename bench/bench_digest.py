"""Benchmark: the daily digest (每日待办) for a 12,000-person company on PostgreSQL (issue 17).

12,000 people, 2,000 teams, 100 branches (bench.datagen.seed_company), 250,000 historical talks
(bench.datagen_talks), plus open work to report: 300 flags to acknowledge, 60 care requests,
150 helper cases, 100 open 心声, 40 activities today/tomorrow with 3,000 sign-ups, 6 recent
learning materials half studied. Goal: every person's digest computed in < 2 s.

    python bench/bench_digest.py [--pg URL] [--talks 250000] [--repeat 5]

Prints `BENCH digest_compute_ms=…` (the goal) and `BENCH digest_job_ms=…` (compute + one outbox
row per person + commit). A scratch database is created and dropped.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import models
from bench._common import emit
from bench.datagen import seed_company
from bench.datagen_talks import generate_talks
from models.crypto import configure_keys, generate_key
from models.db import make_engine, make_session_factory

DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def seed_work(engine, info: dict, now: datetime) -> dict:
    """Open cases, voices, activities with sign-ups, recent materials (Core bulk inserts)."""
    from sqlalchemy import insert, select

    from models.activity import Activity, Signup
    from models.case import Case
    from models.learning import Material, MaterialRead
    from models.org import Person
    from models.voice import Voice

    rnd = random.Random(17)
    with engine.begin() as conn:
        people = conn.execute(select(Person.id, Person.unit_id, Person.is_party_member)).all()
        party = [p for p, _, m in people if m]
        cases = []
        for n in range(510):
            pid, unit, _ = rnd.choice(people)
            state, helper = (("reported", None) if n < 300 else ("care_requested", None) if n < 360
                             else ("in_progress", rnd.choice(party)))
            cases.append({"subject_id": pid, "unit_id": unit, "flag": "watch", "category": "pay", "state": state,
                          "state_since": now - timedelta(days=9), "sla_since": now - timedelta(days=9),
                          "sla_step": 0, "version": 1, "helper_id": helper, "created_at": now - timedelta(days=9)})
        conn.execute(insert(Case), cases)
        conn.execute(insert(Voice), [{"unit_id": rnd.choice(info["branch_ids"]), "anonymous": True, "text": "心声",
                                      "state": "open", "sla_since": now, "sla_step": 0, "created_at": now}
                                     for _ in range(100)])
        organiser = people[0][0]
        acts = conn.execute(insert(Activity).returning(Activity.id), [
            {"title": f"活动{n}", "starts_at": now + timedelta(hours=4 + n), "ends_at": now + timedelta(hours=6 + n),
             "place": "会议室", "deadline": now, "audience_unit_id": info["root_id"], "organiser_id": organiser,
             "created_by_id": organiser, "checkin_code": f"{n:06d}", "status": "open", "kind": "team",
             "seats_taken": 0, "waitlist": True, "description": "", "created_at": now} for n in range(40)]).scalars().all()
        chosen = rnd.sample(people, 3000)
        conn.execute(insert(Signup), [{"activity_id": rnd.choice(acts), "person_id": p, "status": "confirmed",
                                       "created_at": now, "updated_at": now} for p, _, _ in chosen])
        audiences = [info["root_id"]] + rnd.sample(info["branch_ids"], 5)
        mats = conn.execute(insert(Material).returning(Material.id), [
            {"title": f"学习材料{n}", "text": "", "audience_unit_id": a, "publisher_id": organiser,
             "published_at": now - timedelta(days=n)} for n, a in enumerate(audiences)]).scalars().all()
        reads = rnd.sample(people, 6000)
        conn.execute(insert(MaterialRead), [{"person_id": p, "material_id": mats[0], "opened_at": now,
                                             "studied_at": now} for p, _, _ in reads])
    return {"cases": len(cases), "signups": len(chosen), "materials": len(mats)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg", default=os.environ.get("LIANXIN_BENCH_PG", DEFAULT_PG))
    ap.add_argument("--people", type=int, default=12000)
    ap.add_argument("--talks", type=int, default=250_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = ap.parse_args()

    from sqlalchemy import create_engine, delete, text

    from bot.config import load_config
    from handlers.digest.jobs import daily_digest
    from handlers.digest.service import digests
    from models.outbox import OutboxMessage
    from scheduler.context import JobContext

    configure_keys(os.environ.get("LIANXIN_NOTES_KEYS") or [generate_key()])
    name = f"lianxin_bench_digest_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    try:
        models.Base.metadata.create_all(engine)
        info = seed_company(engine, n_people=args.people)
        talks = generate_talks(engine, args.talks)
        now = datetime.now(UTC).replace(microsecond=0)
        work = seed_work(engine, info, now)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        print(f"organisation: {info['people']} people, {len(info['team_ids'])} teams; talks {talks['talks']} "
              f"({talks['current_talks']} this quarter); {work}")
        config = load_config(Path(__file__).resolve().parent.parent / "config.yaml", env={}).with_overrides(
            {"database.url": url, "quiet.hours": "off", "delivery.platforms": ["wecom"]})
        sf = make_session_factory(engine)
        times, owed = [], {}
        for _ in range(args.repeat):
            with sf() as db:
                started = time.perf_counter()
                owed = digests(db, config, now)
                times.append((time.perf_counter() - started) * 1000)
        lines = sum(len(v) for v in owed.values())
        print(f"digest compute: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms over "
              f"{args.repeat} runs; {len(owed)} people owe something ({lines} lines)")
        emit("digest_compute_ms", statistics.median(times), "ms", "<2000", statistics.median(times) < 2000)

        class _Clock:
            def now(self) -> datetime:
                return now

        job = JobContext(config=config, session_factory=sf, clock=_Clock())
        jobs = []
        for _ in range(3):
            with engine.begin() as conn:
                conn.execute(delete(OutboxMessage))
            started = time.perf_counter()
            queued = daily_digest(job)
            jobs.append((time.perf_counter() - started) * 1000)
        print(f"digest job (compute + {queued} outbox rows, encrypted, one commit): "
              f"median {statistics.median(jobs):.0f} ms")
        emit("digest_job_ms", statistics.median(jobs), "ms")
    finally:
        engine.dispose()
        if args.keep:
            print(f"kept database {url}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
                                  "AND pid <> pg_backend_pid()"))
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
