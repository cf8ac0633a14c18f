"""Benchmark: import a generated company roster (12,000 people, 2,000 teams, 100 branches), then
re-import the same file (must report 0 changes), then a file with 1% of the people moved.

    python bench/bench_import.py                 # SQLite in a temporary directory
    python bench/bench_import.py --pg postgresql+psycopg2://postgres@127.0.0.1:5432/test
    python bench/bench_import.py --people 50000 --teams 8000 --branches 400

With --pg a scratch database is created next to the given one and dropped afterwards.
"""
from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import models
from bench._common import emit
from bench.datagen import ROSTER_HEADER, roster_rows, write_roster_csv
from models.db import make_engine, make_session_factory, session_scope
from roster.apply import import_roster


def run_import(factory, path: Path, label: str, **kw):
    started = time.perf_counter()
    with session_scope(factory) as db:
        report = import_roster(db, path, **kw)
    took = time.perf_counter() - started
    print(f"{label:<28} {took:7.2f} s   changes={report.changes:<6} created={len(report.created):<6} "
          f"updated={len(report.updated):<5} moved={report.moved:<4} deactivated={len(report.deactivated):<4} "
          f"units+={len(report.units_created):<5} roles+={len(report.roles_granted)} roles-={len(report.roles_revoked)}"
          f" errors={len(report.errors)}")
    return report, took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg", help="PostgreSQL URL (a scratch database is created on that server)")
    ap.add_argument("--people", type=int, default=12000)
    ap.add_argument("--teams", type=int, default=2000)
    ap.add_argument("--branches", type=int, default=100)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lianxin-bench-"))
    drop = None
    if args.pg:
        from sqlalchemy import create_engine, text

        name = f"lianxin_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = args.pg.rsplit("/", 1)[0] + f"/{name}"

        def drop():
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(url)
    try:
        models.Base.metadata.create_all(engine)
        factory = make_session_factory(engine)
        size = dict(n_people=args.people, n_teams=args.teams, n_branches=args.branches)
        roster = tmp / "roster.csv"
        t = time.perf_counter()
        n = write_roster_csv(roster, **size)
        print(f"database: {engine.url.render_as_string(hide_password=True)}")
        print(f"roster: {n} rows, {args.teams} teams, {args.branches} branches "
              f"(generated in {time.perf_counter() - t:.2f} s, {roster.stat().st_size / 1e6:.1f} MB)")

        first, t1 = run_import(factory, roster, "first import")
        second, t2 = run_import(factory, roster, "re-import (same file)")
        dry, _t3 = run_import(factory, roster, "dry run (same file)", dry_run=True)

        # 1% of the people move to another team, 20 leave the company
        rows = list(roster_rows(**size))
        teams = sorted({r[0] for r in rows if r[0].endswith("班组")})
        changed = tmp / "roster-changed.csv"
        with open(changed, "w", newline="", encoding="utf-8-sig") as fh:
            w = csv.writer(fh)
            w.writerow(ROSTER_HEADER)
            for i, r in enumerate(rows[:-20]):
                if i % 100 == 50 and not r[6]:
                    r = [teams[(teams.index(r[0]) + 7) % len(teams)] if r[0] in teams else r[0], *r[1:]]
                w.writerow(r)
        third, t4 = run_import(factory, changed, "changed file (1% moved)")
        print()
        print(f"RESULT people={n} first={t1:.2f}s reimport={t2:.2f}s reimport_changes={second.changes} "
              f"changed_file={t4:.2f}s moved={third.moved} deactivated={len(third.deactivated)}")
        backend = "pg" if args.pg else "sqlite"
        emit(f"import.{backend}.first_{n}", t1, "s", "-")
        emit(f"import.{backend}.reimport", t2, "s", "-")
        emit(f"import.{backend}.reimport_changes", second.changes, "changes", "0", second.changes == 0)
        emit(f"import.{backend}.changed_file", t4, "s", "-")
        ok = first.changes > 0 and second.changes == 0 and dry.changes == 0 and not first.errors
        if not ok:
            print("FAILED: the re-import was not a no-op", file=sys.stderr)
        return 0 if ok else 1
    finally:
        engine.dispose()
        if drop:
            drop()


if __name__ == "__main__":
    sys.exit(main())
