"""Signup storm: 2,000 people press 报名 at once for 50 seats, through the app.

    .venv/bin/python bench/bench_signup_storm.py --db sqlite            # SQLite file + fakeredis
    .venv/bin/python bench/bench_signup_storm.py --db postgres          # temp PG database + real Redis
    options: --people 2000 --seats 50 --threads 16 --via wsgi|dispatcher --profile

--via wsgi (default) posts encrypted WeCom template_card_event callbacks to /wecom/callback through
the Flask WSGI test client (signature check, AES decrypt, parse, dispatcher, encrypted passive
reply); --via dispatcher calls the dispatcher directly (no crypto, no Flask). Prints total time,
throughput, p50/p99 latency per click, the app's CPU time per click (this process only; a shared
or loaded machine inflates wall times, not this figure), the 1-minute load average, and the
confirmed/waitlisted counts (goal: < 5 s total).
PostgreSQL: a temporary database is created on postgresql://postgres@127.0.0.1:5432/test and dropped.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def _config(db_url: str):
    from bot.config import load_config

    base = load_config(Path(__file__).resolve().parent.parent / "config.yaml", env={})
    return base.with_overrides({"database.url": db_url, "redis.url": "", "delivery.platforms": ["wecom"],
                                "server.simulator": False, "wecom.secret": "bench-secret"})


def _seed(services, people: int, seats: int, now: datetime, run: str) -> tuple[int, list[str]]:
    from sqlalchemy import insert, select

    from bot.demo import BRANCH_A, seed_demo
    from handlers.activities import service
    from models.db import session_scope
    from models.org import Person
    from models.orgtree import ensure_unit_path

    with session_scope(services.session_factory) as db:
        seed_demo(db)
        unit = ensure_unit_path(db, f"{BRANCH_A}/抢票{run}")
        users = [f"b{run}{i:05d}" for i in range(people)]
        db.execute(insert(Person), [{"name": f"队员{i}", "name_pinyin": "", "wecom_userid": u, "unit_id": unit.id,
                                     "active": True, "is_party_member": False} for i, u in enumerate(users)])
        org = db.scalars(select(Person).where(Person.wecom_userid == "liqiang")).one()
        act = service.create_activity(db, creator=org, organiser=org, title="抢票压测", kind="youth",
                                      starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=3, hours=2),
                                      place="机库", seats=seats, deadline=now + timedelta(days=2), audience=unit)
        return act.id, users


def _claim_redis_db():
    """A Redis db number nobody else uses right now (same claim protocol as tests/conftest.py)."""
    import redis

    admin = redis.Redis(host="127.0.0.1", port=6379, db=0)
    for n in range(15, 0, -1):
        if admin.set(f"lianxin:testdb:{n}", os.getpid(), nx=True, ex=900):
            client = redis.Redis(host="127.0.0.1", port=6379, db=n)
            client.flushdb()
            return client
    raise SystemExit("no free Redis db")


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def run(db: str, people: int, seats: int, threads: int, via: str, profile: bool) -> dict:
    import models
    from bot.services import build_services
    from models.crypto import configure_keys, generate_key
    from models.db import make_engine
    from sqlalchemy import create_engine, func, select, text

    configure_keys([generate_key()])
    run_id = uuid.uuid4().hex[:6]
    cleanup = []
    if db == "sqlite":
        tmp = tempfile.mkdtemp(prefix="lianxin-bench-")
        url = f"sqlite:///{tmp}/bench.db"
        import fakeredis
        r = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    else:
        import redis
        name = f"lianxin_bench_{run_id}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))

        def drop():
            with admin.connect() as conn:
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname='{name}' "
                                  "AND pid <> pg_backend_pid()"))
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()
        cleanup.append(drop)
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        r = _claim_redis_db()

        def release():
            r.flushdb()
            redis.Redis(host="127.0.0.1", port=6379, db=0).delete(f"lianxin:testdb:{r.connection_pool.connection_kwargs['db']}")
        cleanup.append(release)
    try:
        engine = make_engine(url, pool_size=max(10, threads + 2))
        models.Base.metadata.create_all(engine)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        config = _config(url)
        services = build_services(config, redis_client=r, clock=FixedClock(now), engine=engine)
        act_id, users = _seed(services, people, seats, now, run_id)
        send = _sender(services, config, via, now)
        latencies: list[float] = []
        lock = threading.Lock()

        def one(user: str) -> None:
            t = time.perf_counter()
            send(user, f"act:{act_id}:join", f"act{act_id}_bench_0")
            dt = time.perf_counter() - t
            with lock:
                latencies.append(dt)

        if profile:
            import cProfile
            import pstats
            prof = cProfile.Profile()
            prof.enable()
            for u in users[:200]:
                one(u)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
            return {}
        barrier_start = time.perf_counter()
        cpu_start = time.process_time()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, users))
        total = time.perf_counter() - barrier_start
        cpu = time.process_time() - cpu_start
        from models.activity import Activity, Signup
        with services.session_factory() as s:
            counts = dict(s.execute(select(Signup.status, func.count()).where(Signup.activity_id == act_id)
                                    .group_by(Signup.status)).all())
            taken = s.get(Activity, act_id).seats_taken
            distinct = s.scalar(select(func.count(func.distinct(Signup.person_id))).where(Signup.activity_id == act_id))
        lat = sorted(latencies)
        result = {"db": db, "via": via, "threads": threads, "clicks": len(lat), "total_s": round(total, 2),
                  "clicks_per_s": round(len(lat) / total), "p50_ms": round(statistics.median(lat) * 1000, 1),
                  "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1),
                  "app_cpu_ms_per_click": round(cpu / len(lat) * 1000, 2), "load_avg": os.getloadavg()[0],
                  "confirmed": counts.get("confirmed", 0), "waitlisted": counts.get("waitlisted", 0),
                  "seats_taken": taken, "distinct_people": distinct}
        engine.dispose()
        return result
    finally:
        for fn in cleanup:
            fn()


def _sender(services, config, via: str, now: datetime):
    from bot.messages import Incoming

    if via == "dispatcher":
        def send(user: str, key: str, task: str) -> None:
            services.dispatcher.handle(Incoming(platform="wecom", user_id=user, time=now,
                                                message_id=uuid.uuid4().hex, action=key, card_id=task,
                                                response_code="RC"))
        return send

    import xmltodict
    from wechatpy.enterprise.crypto import WeChatCrypto

    from bot.app import create_app

    app = create_app(config, services=services)
    client_local = threading.local()
    corp = config.get("wecom.corp_id")
    crypto = WeChatCrypto(config.get("wecom.token"), config.get("wecom.encoding_aes_key"), corp)
    ts = str(int(now.timestamp()))

    def send(user: str, key: str, task: str) -> None:
        client = getattr(client_local, "c", None)
        if client is None:
            client = client_local.c = app.test_client()
        xml = (f"<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
               f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
               f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
               f"<TaskId><![CDATA[{task}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
               f"<ResponseCode><![CDATA[RC{user}]]></ResponseCode><AgentID>1000002</AgentID></xml>")
        nonce = uuid.uuid4().hex[:10]
        doc = xmltodict.parse(crypto.encrypt_message(xml, nonce, ts))["xml"]
        body = f"<xml><ToUserName><![CDATA[{corp}]]></ToUserName><Encrypt><![CDATA[{doc['Encrypt']}]]></Encrypt></xml>"
        resp = client.post(f"/wecom/callback?msg_signature={doc['MsgSignature']}&timestamp={ts}&nonce={nonce}",
                           data=body.encode(), content_type="text/xml")
        if resp.status_code != 200:
            raise RuntimeError(f"HTTP {resp.status_code}: {resp.data[:100]!r}")
    return send


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--people", type=int, default=2000)
    p.add_argument("--seats", type=int, default=50)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--via", choices=["wsgi", "dispatcher"], default="wsgi")
    p.add_argument("--profile", action="store_true", help="profile 200 sequential clicks instead")
    a = p.parse_args()
    import logging
    logging.disable(logging.WARNING)
    res = run(a.db, a.people, a.seats, a.threads, a.via, a.profile)
    if res:
        print(" ".join(f"{k}={v}" for k, v in res.items()))
        ok = res["confirmed"] == a.seats and res["waitlisted"] == a.people - a.seats and res["distinct_people"] == a.people
        print("OK: exactly %d confirmed, %d waitlisted, nobody twice" % (a.seats, a.people - a.seats) if ok
              else "MISMATCH: oversold or lost clicks!")


if __name__ == "__main__":
    main()
