"""One talk submission (a one-line `谈话` → confirmation card → `保存` click), in this process through
the dispatcher (no crypto, no Flask, no HTTP), against a throwaway PostgreSQL database and a claimed
Redis db: CPU and SQL statements per turn, and optionally a cProfile of the turns.

    .venv/bin/python bench/profile_talk.py                   # 200 leaders, each one line + one click
    .venv/bin/python bench/profile_talk.py --profile line    # cProfile of the one-line turns (or: save)
    options: --leaders 200  SORT=tottime TOP=40

Not a goal figure (bench_webhook.py measures the path under gunicorn against the echo bot); this is the
microscope for where a writing turn's CPU goes. Prints `BENCH talk.*` lines (bench/_common.py).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import bench_database, bench_redis_db, emit, servers_available
from bench.bench_signup_storm import FixedClock, SqlCounter, _config

TEAMS = {"四车间班组": "张三", "五车间班组": "郑毅", "部件一班组": "杨帆", "部件二班组": "吕萍"}
TEXT = "谈话 {subject} 季度 稳定 本季度聊了工作和家庭情况，第{i}次谈话"


def _leaders(session_factory, n: int) -> list[tuple[str, str]]:
    from bot.cli.demo import TEAMS as DEMO_TEAMS
    from models.db import session_scope
    from models.enums import Role
    from models.orgtree import add_person, ensure_unit_path, grant

    pairs = []
    with session_scope(session_factory) as db:
        cache: dict = {}
        for k in range(n):
            team = list(TEAMS)[k % 4]
            unit = ensure_unit_path(db, f"{DEMO_TEAMS[team]}/{team}", cache)
            uid = f"proflead{k}"
            grant(db, add_person(db, name=f"剖析组长{k}", unit=unit, wecom_userid=uid, party=True),
                  str(Role.TEAM_LEADER), unit)
            pairs.append((uid, TEXT.replace("{subject}", TEAMS[team]).replace("{i}", str(k))))
    return pairs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--leaders", type=int, default=200)
    p.add_argument("--profile", choices=["line", "save"], default=None)
    p.add_argument("--show-sql", action="store_true", help="print the statements of one turn of each kind")
    a = p.parse_args()
    if not servers_available():
        print("SKIP: PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379 are needed")
        return 3
    import logging

    import redis

    logging.disable(logging.WARNING)
    from bot.cli.wiring import build_services
    from bot.messages import Incoming
    from handlers.talks.cards import TalkConfirm
    from models.crypto import configure_keys, generate_key
    from models.db import make_engine

    configure_keys([generate_key()])
    with bench_database() as url, bench_redis_db() as redis_url:
        r = redis.Redis.from_url(redis_url)
        engine = make_engine(url)
        now = datetime.now(UTC).replace(microsecond=0)
        services = build_services(_config(url), redis_client=r, clock=FixedClock(now), engine=engine)
        pairs = _leaders(services.session_factory, a.leaders + 8)
        warm, pairs = pairs[:8], pairs[8:]

        def line(user: str, text: str) -> None:
            services.dispatcher.handle(Incoming(platform="wecom", user_id=user, time=now,
                                                message_id=uuid.uuid4().hex, text=text))

        def save(user: str) -> None:
            state = json.loads(r.get(f"conv:wecom:{user}") or b"{}")
            if state.get("step") != "confirm":
                raise RuntimeError(f"{user}: dialog at {state.get('step')!r}, not at the confirmation")
            services.dispatcher.handle(Incoming(platform="wecom", user_id=user, time=now,
                                                message_id=uuid.uuid4().hex,
                                                action=TalkConfirm(state["form_id"], "save").pack(),
                                                card_id=f"tk_{state['form_id']}", response_code="RC"))

        for user, text in warm:            # statement caches, pools
            line(user, text)
            save(user)
        for user, _ in pairs:              # each sender known to the worker (bot.identity), as in a day's use
            line(user, "帮助")
        if a.show_sql:
            from sqlalchemy import event

            def show(_conn, _cursor, statement, _params, _context, _many):
                print("   SQL", " ".join(statement.split())[:int(os.environ.get("SQLW", "160"))])
            event.listen(engine, "before_cursor_execute", show)
            user, text = pairs.pop()
            print("-- one-line 谈话")
            line(user, text)
            print("-- 保存")
            save(user)
            event.remove(engine, "before_cursor_execute", show)
        counter = SqlCounter(engine)
        results = {}
        for phase in ("line", "save"):
            prof = None
            if a.profile == phase:
                import cProfile
                prof = cProfile.Profile(time.process_time)
                prof.enable()
            before, cpu0 = counter.snapshot(), time.process_time()
            for user, text in pairs:
                line(user, text) if phase == "line" else save(user)
            cpu = time.process_time() - cpu0
            if prof is not None:
                import pstats
                prof.disable()
                if os.environ.get("PROFILE_OUT"):
                    prof.dump_stats(os.environ["PROFILE_OUT"])
                pstats.Stats(prof).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(
                    int(os.environ.get("TOP", "40")))
            after = counter.snapshot()
            n = len(pairs)
            results[phase] = (cpu / n * 1000, (after["sql"] - before["sql"]) / n, (after["txn"] - before["txn"]) / n)
        from sqlalchemy import func, select

        from models.org import Person
        from models.talk import Talk
        with engine.connect() as conn:
            talks = conn.scalar(select(func.count()).select_from(Talk).where(Talk.author_id.in_(
                select(Person.id).where(Person.wecom_userid.like("proflead%")))))
        engine.dispose()
    print(f"load average {os.getloadavg()[0]:.2f}; talks stored {talks} of {len(pairs) + len(warm) + a.show_sql}")
    for phase, (cpu_ms, sql, txn) in results.items():
        print(f"{phase}: {cpu_ms:.2f} ms CPU per turn, {sql:.1f} statements, {txn:.1f} transactions")
        emit(f"talk.{phase}_cpu_per_turn", round(cpu_ms, 2), "ms")
        emit(f"talk.{phase}_sql_per_turn", round(sql, 1), "statements")
    return 0 if talks == len(pairs) + len(warm) + a.show_sql else 1


if __name__ == "__main__":
    sys.exit(main())
