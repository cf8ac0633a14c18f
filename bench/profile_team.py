"""`我的班组` and `帮助` in this process through the dispatcher (no crypto, no HTTP), against a throwaway
PostgreSQL database and a claimed Redis db: CPU per turn when the sender is new to the worker (its
first message to this process: the sender is loaded) and when it is known (the sender cache hits).

    .venv/bin/python bench/profile_team.py          # the 400 bench leaders of bench_webhook.py, once each
    PROFILE="我的班组 new sender" .venv/bin/python bench/profile_team.py    # cProfile of one phase

Each phase with a new sender starts from a fresh Services (a new worker: empty sender cache, empty
local view cache) on the same database and Redis, as the second gunicorn worker is. Not a goal
figure (bench_webhook.py is); the microscope for the read-only turns. Prints `BENCH team.*` lines.
"""
from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import bench_database, bench_redis_db, emit, servers_available
from bench.bench_signup_storm import FixedClock, _config
from bench.bench_webhook import seed_bench_leaders

PHASES = [("帮助 new sender", "帮助", True), ("我的班组 new sender", "我的班组", True),
          ("我的班组 known sender", "我的班组", False), ("帮助 known sender", "帮助", False)]


def main() -> int:
    if not servers_available():
        print("SKIP: PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379 are needed")
        return 3
    import redis

    logging.disable(logging.WARNING)
    from bot.cli.wiring import build_services
    from bot.messages import Incoming
    from models.crypto import configure_keys, generate_key
    from models.db import make_engine

    configure_keys([generate_key()])
    with bench_database() as url, bench_redis_db() as redis_url:
        users = [u for u, _ in seed_bench_leaders(url)]
        r = redis.Redis.from_url(redis_url)
        engine = make_engine(url)
        now = datetime.now(UTC).replace(microsecond=0)

        def worker():
            return build_services(_config(url), redis_client=r, clock=FixedClock(now), engine=engine)

        def ask(services, user: str, text: str) -> None:
            services.dispatcher.handle(Incoming(platform="wecom", user_id=user, time=now,
                                                message_id=uuid.uuid4().hex, text=text))

        services = worker()
        for user in ["zhouli", "wugang"] * 5:     # statement caches, pools, the four teams' views
            ask(services, user, "我的班组")
            ask(services, user, "帮助")
        for label, text, fresh in PHASES:
            if fresh:
                services = worker()
                for user in ["zhouli", "wugang"]:
                    ask(services, user, text)
            prof = None
            if os.environ.get("PROFILE") == label:
                import cProfile
                prof = cProfile.Profile(time.process_time)
                prof.enable()
            cpu0 = time.process_time()
            for user in users:
                ask(services, user, text)
            cpu = (time.process_time() - cpu0) * 1000 / len(users)
            if prof is not None:
                import pstats
                prof.disable()
                if os.environ.get("PROFILE_OUT"):
                    prof.dump_stats(os.environ["PROFILE_OUT"])
                pstats.Stats(prof).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(40)
            emit(f"team.cpu_{'team' if text == '我的班组' else 'help'}_{'new' if fresh else 'known'}",
                 f"{cpu:.3f}", "ms")
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
