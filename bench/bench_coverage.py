"""Benchmark: "who is not yet talked to this quarter" on a generated company (issue 4).

12,000 people, 2,000 teams, 100 branches (bench.datagen.seed_company) and 250,000 historical
talks over 10 years (bench.datagen_talks.generate_talks, summaries encrypted with a fresh notes
key), on PostgreSQL. Goals: one team < 50 ms, the whole company < 1 s.

    python bench/bench_coverage.py                      # default server, scratch database
    python bench/bench_coverage.py --pg postgresql+psycopg2://postgres@127.0.0.1:5432/test
    python bench/bench_coverage.py --talks 500000 --explain

A scratch database is created on the given server and dropped afterwards (--keep keeps it).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import models
from bench.datagen import seed_company
from bench.datagen_talks import generate_talks
from models.crypto import configure_keys, generate_key
from models.db import make_engine, make_session_factory
from reports.queries.coverage import missing_by_team, team_counts, team_coverage

DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for i in range(repeat):
        started = time.perf_counter()
        result = fn(i)
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def line(label: str, times: list[float], goal_ms: float | None, extra: str = "") -> None:
    med, worst = statistics.median(times), max(times)
    p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
    verdict = "" if goal_ms is None else ("  OK" if p95 < goal_ms else "  OVER GOAL")
    goal = f"(goal < {goal_ms:g} ms)" if goal_ms else ""
    print(f"{label:<52} median {med:8.2f} ms  p95 {p95:8.2f} ms  max {worst:8.2f} ms  n={len(times):<3} "
          f"{goal}{verdict} {extra}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg", default=os.environ.get("LIANXIN_BENCH_PG", DEFAULT_PG))
    ap.add_argument("--people", type=int, default=12000)
    ap.add_argument("--teams", type=int, default=2000)
    ap.add_argument("--branches", type=int, default=100)
    ap.add_argument("--talks", type=int, default=250_000)
    ap.add_argument("--repeat", type=int, default=50, help="runs of the one-team query")
    ap.add_argument("--explain", action="store_true", help="print the PostgreSQL plans")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = ap.parse_args()

    from sqlalchemy import create_engine, text

    configure_keys(os.environ.get("LIANXIN_NOTES_KEYS") or [generate_key()])
    name = f"lianxin_bench_cov_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    try:
        models.Base.metadata.create_all(engine)
        info = seed_company(engine, n_people=args.people, n_teams=args.teams, n_branches=args.branches)
        print(f"organisation: {info['people']} people, {len(info['team_ids'])} teams, {info['units']} units "
              f"({info['seconds']:.1f} s)")
        talks = generate_talks(engine, args.talks)
        print(f"talks: {talks['talks']} over 40 quarters, {talks['current_talks']} in {talks['current_quarter']} "
              f"({talks['seconds']:.1f} s, summaries encrypted)")
        quarter = talks["current_quarter"]
        sf = make_session_factory(engine)
        team_ids = info["team_ids"]
        step = max(1, len(team_ids) // args.repeat)
        with sf() as db:
            missing_by_team(db, quarter, team_ids=[team_ids[0]])          # warm the pool and the caches
            times, _ = timed(lambda i: missing_by_team(db, quarter, team_ids=[team_ids[(i * step) % len(team_ids)]]),
                             args.repeat)
            line("one team: not yet talked to (missing_by_team)", times, 50)
            times, res = timed(lambda i: team_coverage(db, quarter, [team_ids[(i * step + 1) % len(team_ids)]]),
                               args.repeat)
            line("one team: coverage + last talk (team_coverage)", times, 50,
                 f"[{res[0].total} members]")
            times, res = timed(lambda i: missing_by_team(db, quarter), 5)
            n_missing = sum(len(v) for v in res.values())
            line("whole company: not yet talked to (missing_by_team)", times, 1000,
                 f"[{n_missing} people in {len(res)} teams]")
            times, res = timed(lambda i: team_counts(db, quarter), 5)
            line("whole company: counts per team (team_counts)", times, 1000, f"[{len(res)} teams]")
            times, res = timed(lambda i: team_coverage(db, quarter), 3)
            line("whole company: coverage + last talk (team_coverage)", times, 1000,
                 f"[{sum(t.total for t in res)} members]")
            if args.explain:
                from sqlalchemy.dialects import postgresql

                from reports.queries.coverage import _missing_stmt  # type: ignore[attr-defined]

                for label, stmt in (("one team", _missing_stmt(quarter, None, [team_ids[0]], False)),
                                    ("company", _missing_stmt(quarter, None, None, False))):
                    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
                    print(f"\n-- plan: {label}")
                    for (row,) in db.execute(text("EXPLAIN ANALYZE " + sql)):
                        print(row)
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
