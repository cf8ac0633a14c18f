"""The outbox relay against a local fake WeCom API over real HTTP (PostgreSQL + Redis when
reachable, else SQLite + fakeredis).

1. drain: 2,000 queued messages to 2,000 people, the API answering in 50 ms → drained by one
   relay in < 10 s (printed with the pool size);
2. hang: the API accepts connections and never answers while 2,000 broadcasts are queued and an
   urgent card arrives; then it comes back → the breaker opens within 15 s, the urgent card is
   sent within 5 s of the recovery, no row is dead-lettered by the outage.

    python -m bench.bench_relay [--pool 16] [--n 2000]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import bench_database, bench_redis_db, emit, servers_available  # noqa: E402


def _services(db_url: str, redis_url: str, api_base: str, **overrides):
    import fakeredis
    import redis

    from bot.cli.wiring import build_services
    from models.crypto import configure_keys, generate_key
    from tests.conftest import make_config

    configure_keys([os.environ.get("LIANXIN_NOTES_KEYS") or generate_key()])
    values = {"delivery.platforms": ["wecom"], "wecom.api_base": api_base, "server.simulator": False}
    values.update(overrides)
    config = make_config(db_url, **values)
    r = redis.Redis.from_url(redis_url) if redis_url else fakeredis.FakeRedis()
    return build_services(config, redis_client=r)


def _queue(services, n: int, urgent_to: str | None = None) -> None:
    from bot.messages import Text
    from bot.outbox import Priority, enqueue

    with services.session_factory() as db:
        for i in range(n):
            enqueue(db, platform="wecom", recipients=[f"p{i}"], reply=Text(f"季度谈心谈话提醒 {i}"),
                    priority=Priority.BULK)
        db.commit()


def _reset(services) -> None:
    from sqlalchemy import delete

    from models.outbox import OutboxMessage

    with services.session_factory() as db:
        db.execute(delete(OutboxMessage))
        db.commit()
    services.redis.flushdb()


def drain(db_url: str, redis_url: str, pool: int, n: int) -> None:
    import subprocess

    from sqlalchemy import func, select

    from models.outbox import OutboxMessage, OutboxStatus

    # the fake API in its own process, as WeCom's servers are not on the relay's CPU
    fake = subprocess.Popen([sys.executable, "-m", "tests.fake_wecom_server", "0.05"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        api_base = fake.stdout.readline().strip()
        services = _services(db_url, redis_url, api_base, **{"outbox.pool_size": pool,
                                                             "outbox.batch_size": max(50, pool * 4)})
        _reset(services)
        _queue(services, n)
        relay = services.outbox_dispatcher()
        t = time.perf_counter()
        relay.drain(max_rounds=100_000)
        took = time.perf_counter() - t
        relay.stop()
        with services.session_factory() as db:
            sent = db.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.SENT))
    finally:
        fake.terminate()
        fake.wait(10)
    emit("relay.drain_seconds", took, "s", goal="<10", ok=took < 10 and sent == n)
    emit("relay.drain_rate", n / took, "msg/s")
    emit("relay.pool_size", pool, "threads")


def hang(db_url: str, redis_url: str, n: int) -> None:
    from sqlalchemy import func, select

    from bot.breaker import OPEN
    from bot.messages import Button, Card
    from bot.outbox import Priority, enqueue
    from models.outbox import OutboxMessage, OutboxStatus
    from tests.fake_wecom_server import FakeWeComServer

    with FakeWeComServer(delay=0.05) as fake:
        services = _services(db_url, redis_url, fake.api_base)   # production defaults: 2 s / 5 s, breaker 5 in 30 s
        _reset(services)
        _queue(services, n)
        fake.hang()
        relay = services.outbox_dispatcher()
        stop = threading.Event()
        thread = threading.Thread(target=relay.run_forever, args=(stop, 1.0), daemon=True)
        t0 = time.monotonic()
        thread.start()
        while relay.breakers["wecom"].state != OPEN and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        opened = time.monotonic() - t0
        with services.session_factory() as db:
            enqueue(db, platform="wecom", recipients=["secretary"], priority=Priority.URGENT,
                    reply=Card(title="标记谈话", buttons=(Button("认领", "case:1:ack"),), card_id="case1_flag"))
            db.commit()
        time.sleep(10)   # the outage goes on
        fake.recover()
        back = time.monotonic()
        while not fake.to("secretary") and time.monotonic() - back < 60:
            time.sleep(0.02)
        urgent = fake.sent_at[fake.sent.index(fake.to("secretary")[0])] - back if fake.to("secretary") else float("inf")
        stop.set()
        thread.join(30)
        with services.session_factory() as db:
            dead = db.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.DEAD))
        emit("relay.breaker_open_seconds", opened, "s", goal="<15", ok=opened < 15)
        emit("relay.urgent_after_recovery_seconds", urgent, "s", goal="<5", ok=urgent < 5)
        emit("relay.dead_after_outage", dead, "rows", goal="0", ok=dead == 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=32)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--skip-hang", action="store_true")
    args = ap.parse_args()
    with ExitStack() as stack:
        if servers_available():
            db_url = stack.enter_context(bench_database(seed=False))
            redis_url = stack.enter_context(bench_redis_db())
            print(f"stack: PostgreSQL + Redis, pool {args.pool}")
        else:
            from models.db import make_engine
            from models.migrate import upgrade

            db_url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/relay.db"
            upgrade(make_engine(db_url))
            redis_url = ""
            print(f"stack: SQLite + fakeredis, pool {args.pool}")
        drain(db_url, redis_url, args.pool, args.n)
        if not args.skip_hang:
            hang(db_url, redis_url, args.n)


if __name__ == "__main__":
    main()
