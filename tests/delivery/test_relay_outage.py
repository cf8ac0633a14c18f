"""The relay when WeCom hangs, and when the relay is told to stop (real HTTP to a local fake,
real threads, small configurable timeouts so the tests stay short).

- hang: the breaker opens within 15 s, an urgent message queued behind 2,000 broadcasts is sent
  within 5 s of the API coming back, and no row reaches dead-letter because of the outage;
- SIGTERM to `lianxin dispatch`: it exits within its deadline, nothing is lost, and every message
  sent twice is flagged as a possible duplicate.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.breaker import OPEN
from bot.messages import Button, Card, Text
from bot.outbox import Priority, enqueue
from models.outbox import OutboxMessage, OutboxStatus
from tests.conftest import NOTES_KEY, make_config
from tests.fake_wecom_server import FakeWeComServer

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.slow


def build(stack, clock, api_base: str, **overrides):
    from bot.cli.wiring import build_services

    engine, r = stack
    values = {"delivery.platforms": ["wecom"], "wecom.api_base": api_base,
              "wecom.connect_timeout_seconds": 0.3, "wecom.http_timeout_seconds": 0.5,
              "outbox.breaker_failures": 3, "outbox.breaker_window_seconds": 10,
              "outbox.breaker_cooldown_seconds": 0.5, "outbox.max_attempts": 3, "outbox.pool_size": 8}
    values.update(overrides)
    config = make_config(engine.url.render_as_string(hide_password=False), **values)
    return build_services(config, redis_client=r, clock=clock, engine=engine)


def bulk_insert(services, n: int, text: str = "季度谈心谈话提醒") -> None:
    with services.session_factory() as db:
        for i in range(n):
            enqueue(db, platform="wecom", recipients=[f"leader{i}"], reply=Text(f"{text} {i}"), priority=Priority.BULK)
        db.commit()


def statuses(services) -> dict:
    with services.session_factory() as db:
        return dict(db.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())


def wait_for(pred, timeout: float, step: float = 0.05) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(step)
    return None


def test_hanging_api_opens_the_breaker_urgent_goes_first_after_recovery_nothing_dead(stack, clock):
    with FakeWeComServer() as fake:
        services = build(stack, clock, fake.api_base)
        bulk_insert(services, 2000)
        fake.hang()
        relay = services.outbox_dispatcher()
        stop = threading.Event()
        thread = threading.Thread(target=relay.run_forever, args=(stop, 0.2), daemon=True)
        hung_at = time.monotonic()
        thread.start()
        try:
            opened = wait_for(lambda: relay.breakers["wecom"].state == OPEN, 15)
            assert opened is not None and opened < 15                   # fail fast, not 2,000 × timeout
            with services.session_factory() as db:
                enqueue(db, platform="wecom", recipients=["zhaomin"], priority=Priority.URGENT,
                        reply=Card(title="标记谈话 #9", buttons=(Button("认领", "case:9:ack"),), card_id="case9_flag"))
                db.commit()
            time.sleep(2.0)                                              # the outage goes on: probes fail
            assert statuses(services).get(OutboxStatus.DEAD, 0) == 0
            fake.recover()
            back = time.monotonic()
            assert wait_for(lambda: fake.to("zhaomin"), 10) is not None
            urgent_after = fake.sent_at[fake.sent.index(fake.to("zhaomin")[0])] - back
            assert urgent_after < 5, urgent_after                       # not behind the 2,000 broadcasts
            assert len(fake.sent) < 1000                                 # (it did not wait for them)
        finally:
            stop.set()
            thread.join(20)
        assert not thread.is_alive()
        got = statuses(services)
        assert got.get(OutboxStatus.DEAD, 0) == 0                        # the outage killed no row
        assert sum(got.values()) == 2001
        print(f"breaker open after {opened:.2f} s of hang ({time.monotonic() - hung_at:.1f} s run); "
              f"urgent sent {urgent_after:.2f} s after recovery")


DISPATCH = [sys.executable, "-c", "from bot.cli.main import main; main()", "dispatch"]


def test_sigterm_relay_exits_within_deadline_nothing_lost_duplicates_flagged(stack, clock, tmp_path, caplog):
    engine, r = stack
    with FakeWeComServer(delay=0.2) as fake:
        services = build(stack, clock, fake.api_base)
        bulk_insert(services, 200, "通知")
        # SQLite: the file is shared, Redis is the relay's own in-process fakeredis (nothing to share)
        redis_url = "" if engine.dialect.name == "sqlite" else \
            f"redis://127.0.0.1:6379/{r.connection_pool.connection_kwargs.get('db', 0)}"
        env = dict(os.environ, PYTHONPATH=str(ROOT), LIANXIN_NOTES_KEYS=NOTES_KEY,
                   DATABASE_URL=engine.url.render_as_string(hide_password=False), REDIS_URL=redis_url,
                   LIANXIN_DELIVERY__PLATFORMS="wecom", LIANXIN_WECOM__API_BASE=fake.api_base,
                   LIANXIN_WECOM__SECRET="test-secret-0123456789", LIANXIN_OUTBOX__POOL_SIZE="4",
                   LIANXIN_OUTBOX__STOP_DEADLINE_SECONDS="3", LIANXIN_WECOM__HTTP_TIMEOUT_SECONDS="2",
                   LIANXIN_OUTBOX__COALESCE_MIN="0")
        proc = subprocess.Popen(DISPATCH, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert wait_for(lambda: len(fake.sent) >= 20 or proc.poll() is not None, 60) is not None
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            proc.send_signal(signal.SIGTERM)
            t = time.monotonic()
            proc.wait(15)
            took = time.monotonic() - t
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        assert took < 3 + 2, took                                        # within its deadline (+ exit)
        assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        first = len(fake.sent)
        assert 20 <= first < 200
        with services.session_factory() as db:
            claimed = db.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.PENDING,
                                                           OutboxMessage.claimed_until.is_not(None)))
        assert claimed == 0                                              # everything not sent was given back
        assert statuses(services).get(OutboxStatus.PENDING, 0) + statuses(services)[OutboxStatus.SENT] == 200
        # another relay sends the rest
        caplog.set_level("WARNING", logger="lianxin.outbox")
        services.outbox_dispatcher().drain()
        with services.session_factory() as db:
            rows = db.scalars(select(OutboxMessage)).all()
        assert all(r.status == OutboxStatus.SENT for r in rows)
        users = [m["touser"] for m in fake.sent]
        assert set(users) == {f"leader{i}" for i in range(200)}           # nothing lost
        twice = {u for u in users if users.count(u) > 1}
        flagged = {r.recipients[0] for r in rows if r.last_error and "possible duplicate" in r.last_error}
        assert twice <= flagged                                          # nothing sent twice undetected
