"""Benchmark: the quarterly talk-reminder computation for 12,000 people in 2,000 teams (goal < 1 s).

Seeds a company (bench.datagen.seed_company) plus talk history, then times, on SQLite and on
PostgreSQL (a temporary database created on the server and dropped afterwards):

  compute   scheduler.jobs.talk_reminders.compute_reminders (who gets which list; the goal)
  job       the whole end-of-quarter job: compute + load recipients + queue ~2,000 outbox rows
            (leaders and secretaries) + commit, on a fresh outbox each round

    .venv/bin/python bench/bench_reminders.py [--history 100000] [--covered 0.6] [--rounds 5]
        [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/test] [--no-pg] [--no-sqlite]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, delete, select, text

import models
from bench.datagen import seed_company
from bot.config import load_config
from bot.context import Clock
from models.crypto import configure_keys, generate_key
from models.db import make_engine, make_session_factory
from models.org import Person
from models.outbox import OutboxMessage
from models.talk import Talk, quarter_of
from scheduler.context import JobContext
from scheduler.jobs.talk_reminders import END, compute_reminders, send_reminders

AT = datetime(2026, 12, 15, 1, 0, tzinfo=UTC)     # the end-of-quarter run, 09:00 Beijing


def seed_talks(engine, history: int, covered: float, seed: int = 7) -> dict:
    """`covered` of the people talked to this quarter, plus `history` older talks (last 10 years)."""
    rnd = random.Random(seed)
    with engine.connect() as conn:
        people = [r[0] for r in conn.execute(select(Person.id))]
    author = people[0]
    rows = []
    quarter_start = datetime(2026, 10, 1, tzinfo=UTC)
    for pid in rnd.sample(people, int(len(people) * covered)):
        at = quarter_start + timedelta(minutes=rnd.randrange(60 * 24 * 70))
        rows.append(at_row(author, pid, at))
    for _ in range(history):
        at = quarter_start - timedelta(minutes=rnd.randrange(1, 60 * 24 * 3650))
        rows.append(at_row(author, rnd.choice(people), at))
    started = time.perf_counter()
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(Talk.__table__.insert(), rows[i:i + 5000])
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return {"talks": len(rows), "seconds": round(time.perf_counter() - started, 2)}


def at_row(author: int, subject: int, at: datetime) -> dict:
    return {"author_id": author, "subject_id": subject, "kind": "quarterly", "occurred_at": at,
            "quarter": quarter_of(at), "summary": "谈心", "mood": "stable", "flag": "none", "version": 1,
            "created_at": at, "updated_at": at}


def bench(engine, label: str, args) -> None:
    models.Base.metadata.create_all(engine)
    org = seed_company(engine, n_people=12000, n_teams=2000, n_branches=100)
    talks = seed_talks(engine, args.history, args.covered)
    print(f"[{label}] seeded {org['people']} people / {len(org['team_ids'])} teams in {org['seconds']} s, "
          f"{talks['talks']} talks in {talks['seconds']} s")
    sf = make_session_factory(engine)
    quarter = quarter_of(AT)
    compute, job = [], []
    plan = None
    for _ in range(args.rounds):
        with sf() as db:
            t0 = time.perf_counter()
            plan = compute_reminders(db, quarter, secretaries=True)
            compute.append(time.perf_counter() - t0)
    config = load_config(env={}).with_overrides({"delivery.platforms": ["wecom"]})
    queued = 0
    for _ in range(args.rounds):
        with sf() as db:
            db.execute(delete(OutboxMessage))
            db.commit()
        ctx = JobContext(config=config, session_factory=sf, clock=Clock(), scheduled_for=AT, job_id="talk_reminders_end")
        t0 = time.perf_counter()
        queued = send_reminders(ctx, END)
        job.append(time.perf_counter() - t0)
    missing = sum(len(g.missing) for g in plan.gaps)
    print(f"[{label}] {len(plan.gaps)} teams behind, {missing} people not talked to, "
          f"{len(plan.by_leader)} leaders and {len(plan.by_secretary)} secretaries to remind; {queued} outbox rows")
    print(f"[{label}] compute_reminders: best {min(compute):.3f} s, median {statistics.median(compute):.3f} s "
          f"({args.rounds} rounds; goal < 1 s)")
    print(f"[{label}] whole job incl. 2,000+ outbox rows: best {min(job):.3f} s, median {statistics.median(job):.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=int, default=100_000, help="older talks to seed (index realism)")
    ap.add_argument("--covered", type=float, default=0.6, help="share of people talked to this quarter")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    configure_keys([generate_key()])
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            try:
                bench(engine, "sqlite", args)
            finally:
                engine.dispose()
    if not args.no_pg:
        name = f"lianxin_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(args.pg.rsplit("/", 1)[0] + f"/{name}")
        try:
            bench(engine, "postgresql", args)
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()


if __name__ == "__main__":
    main()
