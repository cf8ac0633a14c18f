"""Benchmark: the dashboard's statistics queries (reports.queries) on a company-sized PostgreSQL database.

12,000 people, 2,000 teams, 100 branches (bench.datagen.seed_company), 250,000 talks over 10
years (bench.datagen_talks.generate_talks), plus for the last four quarters: a case for every
flagged talk (with its transition history), 2,000 activities with sign-ups and check-ins, 400
learning materials with reads, and active-user days. Every query the dashboard page runs is
timed for the whole committee, a general branch and a branch, for the current quarter.
Goal: each query < 300 ms (judged on the median of --repeat runs after one warm-up run; the
maximum is printed too, it includes noise from other work on the machine).

    python bench/bench_dashboard.py
    python bench/bench_dashboard.py --pg postgresql+psycopg2://postgres@127.0.0.1:5432/test --repeat 10

A scratch database is created on the server and dropped afterwards (--keep keeps it).
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
from bench.datagen import seed_company
from bench.datagen_talks import generate_talks
from models.crypto import configure_keys, generate_key
from models.db import make_engine, make_session_factory

DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
GOAL_MS = 300.0


def line(label: str, times: list[float], goal_ms: float | None) -> bool:
    med, worst = statistics.median(times), max(times)
    ok = goal_ms is None or med < goal_ms
    verdict = "" if goal_ms is None else ("OK" if ok else "OVER GOAL")
    goal = f"(goal < {goal_ms:g} ms)" if goal_ms else "(no goal)"
    print(f"  {label:<46} median {med:8.1f} ms  max {worst:8.1f} ms  {goal} {verdict}")
    return ok


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def seed_rest(engine, now: datetime, quarters: list[str], rnd: random.Random) -> dict:
    """Cases, activities, materials and active days for the last quarters (Core bulk inserts)."""
    from sqlalchemy import select

    from models.activeday import PersonActiveDay
    from models.activity import Activity, Attendance, Signup
    from models.case import Case, CaseEvent
    from models.enums import UnitKind
    from models.learning import Material, MaterialRead
    from models.org import Person, Unit
    from models.quarters import quarter_bounds as quarter_range
    from models.talk import Talk

    start, _ = quarter_range(quarters[0])
    counts = {}
    with engine.begin() as conn:
        people = conn.execute(select(Person.id, Person.unit_id)).all()
        units = conn.execute(select(Unit.id, Unit.kind)).all()
        branches = [u for u, k in units if k == UnitKind.BRANCH.value]
        teams = [u for u, k in units if k == UnitKind.TEAM.value]
        root = next(u for u, k in units if k == UnitKind.COMMITTEE.value)
        flagged = conn.execute(select(Talk.id, Talk.subject_id, Talk.flag, Talk.category, Talk.created_at)
                               .where(Talk.flag != "none", Talk.created_at >= start)).all()
        unit_of = dict(people)
        flow = ["reported", "acknowledged", "care_requested", "approved", "helper_assigned", "closed"]
        case_rows, event_rows = [], []
        for i, (tid, subject, flag, cat, created) in enumerate(flagged, 1):
            steps = rnd.randint(0, len(flow) - 1)
            at = created
            for s in range(steps):
                at = at + timedelta(hours=rnd.uniform(1, 96))
                event_rows.append({"case_id": i, "at": at, "kind": "transition", "from_state": flow[s],
                                   "to_state": flow[s + 1], "actor_id": None, "comment": None})
            case_rows.append({"id": i, "created_at": created, "talk_id": tid, "subject_id": subject,
                              "unit_id": unit_of[subject], "flag": flag, "category": cat, "state": flow[steps],
                              "state_since": at, "sla_since": at, "version": steps + 1, "sla_step": 0,
                              "closed_at": at if flow[steps] == "closed" else None})
        if case_rows:
            conn.execute(Case.__table__.insert(), case_rows)
            for i in range(0, len(event_rows), 10000):
                conn.execute(CaseEvent.__table__.insert(), event_rows[i:i + 10000])
        counts["cases"], counts["case_events"] = len(case_rows), len(event_rows)

        span = (now - start).total_seconds()
        acts, signups, attendance = [], [], []
        audiences = branches * 8 + teams[:400] + [root] * 20
        for i in range(1, 2001):
            at = start + timedelta(seconds=rnd.uniform(0, span + 30 * 86400))
            acts.append({"id": i, "title": f"活动{i}", "description": "", "kind": "team", "starts_at": at,
                         "ends_at": at + timedelta(hours=2), "place": "", "seats": 50, "seats_taken": 0,
                         "waitlist": True, "deadline": at, "audience_unit_id": rnd.choice(audiences),
                         "organiser_id": people[0][0], "created_by_id": people[0][0],
                         "status": "cancelled" if rnd.random() < 0.05 else "closed", "checkin_code": "123456",
                         "created_at": at - timedelta(days=7)})
            for pid, _u in rnd.sample(people, 20):
                signups.append({"activity_id": i, "person_id": pid, "status": "confirmed", "created_at": at,
                                "updated_at": at})
                if rnd.random() < 0.6:
                    attendance.append({"activity_id": i, "person_id": pid, "checked_in_at": at, "method": "code"})
        conn.execute(Activity.__table__.insert(), acts)
        for i in range(0, len(signups), 10000):
            conn.execute(Signup.__table__.insert(), signups[i:i + 10000])
        for i in range(0, len(attendance), 10000):
            conn.execute(Attendance.__table__.insert(), attendance[i:i + 10000])
        counts.update(activities=len(acts), signups=len(signups), attendance=len(attendance))

        mats, reads = [], []
        m_aud = branches * 3 + [root] * 10
        for i in range(1, 401):
            at = start + timedelta(seconds=rnd.uniform(0, span))
            mats.append({"id": i, "title": f"材料{i}", "text": "学习内容", "link": None, "file_ref": None,
                         "audience_unit_id": rnd.choice(m_aud), "publisher_id": people[0][0], "published_at": at})
            for pid, _u in rnd.sample(people, 400):
                reads.append({"person_id": pid, "material_id": i, "opened_at": at,
                              "studied_at": at if rnd.random() < 0.6 else None})
        conn.execute(Material.__table__.insert(), mats)
        for i in range(0, len(reads), 10000):
            conn.execute(MaterialRead.__table__.insert(), reads[i:i + 10000])
        counts.update(materials=len(mats), material_reads=len(reads))

        days = set()
        for pid, _u in people:
            for _ in range(rnd.randint(0, 30)):
                days.add((pid, (start + timedelta(seconds=rnd.uniform(0, span))).date()))
        rows = [{"person_id": p, "day": d} for p, d in days]
        for i in range(0, len(rows), 20000):
            conn.execute(PersonActiveDay.__table__.insert(), rows[i:i + 20000])
        counts["active_days"] = len(rows)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        from sqlalchemy import text

        for t in ("care_case", "case_event", "activity", "signup", "attendance", "material", "material_read",
                  "person_active_day"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT COALESCE(max(id), 1) FROM {t}))"))
        conn.execute(text("ANALYZE"))
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg", default=os.environ.get("LIANXIN_BENCH_PG", DEFAULT_PG))
    ap.add_argument("--talks", type=int, default=250_000)
    ap.add_argument("--people", type=int, default=12000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    from sqlalchemy import create_engine, text

    from bot.config import load_config
    from models.org import Unit
    from models.quarters import current_quarter, quarter_bounds, quarter_days, recent_quarters
    from reports.queries.activities import activity_stats
    from reports.queries.cases import case_funnel, cases_by_state, open_case_ages, overdue_cases
    from reports.queries.kpi import kpi, kpi_by_branch
    from reports.queries.learning import learning_completion
    from reports.queries.people import active_users
    from reports.queries.pulse import common_problems, pulse, rising_concern
    from reports.queries.summary import dashboard, pulse_series
    from reports.queries.talks import coverage, coverage_total, flag_trend, flags_by_category, timeliness
    from reports.queries.units import breakdown_level

    configure_keys([os.environ.get("LIANXIN_NOTES_KEYS") or generate_key()])
    name = f"lianxin_bench_dash_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    all_ok = True
    try:
        models.Base.metadata.create_all(engine)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        org = seed_company(engine, n_people=args.people)
        talks = generate_talks(engine, n_talks=args.talks, now=now)
        quarter = current_quarter(now)
        counts = seed_rest(engine, now, recent_quarters(quarter, 4), random.Random(7))
        print(f"data: {org['people']} people, {org['units']} units, {talks['talks']} talks, "
              + ", ".join(f"{v} {k}" for k, v in counts.items()) + f" ({time.perf_counter() - t0:.0f} s to generate)")
        config = load_config(env={}).with_overrides({"database.url": url})
        sf = make_session_factory(engine)
        with sf() as db:
            root = db.get(Unit, org["root_id"])
            general = db.get(Unit, org["general_branch_ids"][0])
            branch = db.get(Unit, org["branch_ids"][len(org["branch_ids"]) // 2])
            start, end = quarter_bounds(quarter)
            year = int(quarter[:4])
            for label, unit in (("committee (12,000 people)", root), ("general branch", general),
                                ("branch", branch)):
                level = breakdown_level(unit)
                print(f"\n{label}: {unit.full_name}, quarter {quarter}, rows per {level}")
                queries = [
                    ("coverage per " + level, lambda: coverage(db, unit, quarter, level)),
                    ("coverage total", lambda: coverage_total(db, unit, quarter)),
                    ("flag trend (4 quarters)", lambda: flag_trend(db, unit, recent_quarters(quarter, 4))),
                    ("flags by category", lambda: flags_by_category(db, unit, quarter)),
                    ("learning completion", lambda: learning_completion(db, unit, quarter, level)),
                    ("case funnel", lambda: case_funnel(db, unit, start, end)),
                    ("cases by state", lambda: cases_by_state(db, unit)),
                    ("open case ages", lambda: open_case_ages(db, unit, now)),
                    ("overdue cases", lambda: overdue_cases(db, unit, now, config)),
                    ("activities + participation", lambda: activity_stats(db, unit, start, end, now, level)),
                    ("active users", lambda: active_users(db, unit, *quarter_days(quarter))),
                    ("timeliness (on time, bunched)", lambda: timeliness(db, unit, quarter)),
                    ("pulse per " + level + " (4 quarters)",
                     lambda: pulse_series(db, unit, recent_quarters(quarter, 4), level)),
                ]
                for qlabel, fn in queries:
                    fn()  # warm the plan cache, as a running server would have
                    all_ok &= line(qlabel, timed(fn, args.repeat), GOAL_MS)
                line("= whole dashboard page data (all of the above)",
                     timed(lambda: dashboard(db, unit, quarter, now=now, config=config), args.repeat), None)
                if unit is branch:
                    all_ok &= line("KPI of the branch (述职评议, year)",
                                   timed(lambda: kpi(db, unit, year, now, config), args.repeat), GOAL_MS)
            line("KPI of all 100 branches (report sheet)",
                 timed(lambda: kpi_by_branch(db, root, year, now, config), 1), None)
            all_ok &= line("共性问题: common problems, whole company (30 days)",
                           timed(lambda: common_problems(db, now, k=3, days=30), args.repeat), GOAL_MS)
            all_ok &= line("共性问题: rising concern, whole company (3 quarters)",
                           timed(lambda: rising_concern(pulse(db, None, recent_quarters(quarter, 3)),
                                                        recent_quarters(quarter, 3)), args.repeat), GOAL_MS)
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
                                  "AND pid <> pg_backend_pid()"))
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        else:
            print(f"kept database {url}")
        admin.dispose()
    print("\nall queries under the goal" if all_ok else "\nSOME QUERIES OVER THE GOAL")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
