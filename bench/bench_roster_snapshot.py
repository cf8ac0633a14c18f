"""The roster snapshot (bot.roster_snapshot) at company scale: what one build costs a worker.

Seeds 12,000 people in 2,000 teams (bench.datagen) on PostgreSQL (a throwaway database) and on
SQLite, then builds the snapshot a few times: wall and CPU time of a build, the memory it holds
(tracemalloc), and the cost of one lookup by account, by id and by exact name. A worker pays a build
on the first turn after a roster change, at most once per identity.snapshot_interval_seconds.

    .venv/bin/python bench/bench_roster_snapshot.py [--people 12000] [--rounds 3] [--no-sqlite]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import models
from bench._common import bench_database, emit, servers_available
from bench.datagen import seed_company
from bot.roster_snapshot import RosterSnapshot, build_snapshot
from models.db import make_engine


def measure(url: str, label: str, people: int, rounds: int) -> None:
    engine = make_engine(url)
    models.Base.metadata.create_all(engine)
    seed_company(engine, n_people=people, n_teams=max(1, people // 6), n_branches=max(1, people // 120))
    walls, cpus = [], []
    snap: RosterSnapshot | None = None
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        with engine.connect() as conn:
            snap = build_snapshot(conn, "v", people + 1)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    assert snap is not None and len(snap) == people, len(snap or ())
    tracemalloc.start()
    with engine.connect() as conn:
        held = build_snapshot(conn, "v", people + 1)
    mem = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    sample = list(held.by_id.values())[:: max(1, people // 1000)] if held else []
    t0 = time.perf_counter()
    for p in sample:
        held.sender("wecom", p.wecom_userid or "")
        held.person(p.id)
        held.named(p.name)
    lookup_us = (time.perf_counter() - t0) / max(1, len(sample)) * 1e6
    engine.dispose()
    print(f"{label}: {people} people, build median {statistics.median(walls) * 1000:.0f} ms wall, "
          f"{statistics.median(cpus) * 1000:.0f} ms CPU (rounds: {', '.join(f'{w * 1000:.0f}' for w in walls)} ms); "
          f"holds {mem / 2**20:.1f} MiB; account + id + name lookup {lookup_us:.1f} µs")
    emit(f"roster_snapshot.{label}_build_ms", statistics.median(walls) * 1000, "ms", "-", None)
    emit(f"roster_snapshot.{label}_mib", mem / 2**20, "MiB", "-", None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=12000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-sqlite", action="store_true")
    a = ap.parse_args()
    if not a.no_sqlite:
        with tempfile.TemporaryDirectory() as d:
            measure(f"sqlite:///{d}/roster.db", "sqlite", a.people, a.rounds)
    if not servers_available():
        print("SKIP: PostgreSQL 127.0.0.1:5432 is needed for the PostgreSQL figure")
        return 0 if not a.no_sqlite else 3
    with bench_database(seed=False) as url:
        measure(url, "postgres", a.people, a.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
