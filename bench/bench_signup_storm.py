"""Signup storm: 2,000 people press 报名 at once for 50 seats, through the app.

    .venv/bin/python bench/bench_signup_storm.py --db postgres                  # gunicorn, 2 workers, HTTP
    .venv/bin/python bench/bench_signup_storm.py --db postgres --via wsgi --threads 8
    .venv/bin/python bench/bench_signup_storm.py --db sqlite                    # SQLite file + fakeredis
    options: --people 2000 --seats 50 --via gunicorn|wsgi|dispatcher --workers 2 --concurrency 16
             --threads 16 --profile --peer

--via gunicorn (default on PostgreSQL) runs the storm the way production runs: `bench.lianxin_wsgi:app`
under gunicorn (sync workers, --workers N) against a throwaway PostgreSQL database and a claimed
Redis db, and N concurrent HTTP clients (asyncio + aiohttp on loopback) post pre-generated, correctly
signed and encrypted template_card_event callbacks. The app CPU per click is the CPU time of the
gunicorn processes (read from /proc), the load generator's own CPU is printed apart.
--via wsgi (default on SQLite) posts the same callbacks through the Flask WSGI test client from a
thread pool in this process (signature check, AES decrypt, parse, dispatcher, encrypted passive
reply); --via dispatcher calls the dispatcher directly (no crypto, no Flask). In these two modes the
app CPU is this process's and the SQL statements per click are counted (SQLAlchemy cursor events;
on PostgreSQL each transaction adds BEGIN and COMMIT round trips and each pool checkout a pre-ping).
--profile: cProfile of the clicks of --threads client threads (200 each at most) through the dispatcher or
the WSGI client, every thread's profile added up (--threads 1: sequential clicks, batches of one).

Prints total time, throughput, p50/p99 latency per click, app CPU per click, the 1-minute load
average, and the confirmed/waitlisted counts read from the database after the run (goal: < 5 s
total, exactly 50 confirmed, everyone else waitlisted, nobody twice), then the BENCH lines
(bench/_common.py). LIANXIN_BENCH_QUICK=1: 500 people instead of 2,000.
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
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    GunicornSettings,
    bench_database,
    bench_redis_db,
    closed_loop,
    emit,
    make_payloads,
    percentile,
    servers_available,
    start_gunicorn,
)
from bench._common import run as run_async

WARMUP_PEOPLE = 64


def _config(db_url: str):
    from bot.config import load_config

    base = load_config(Path(__file__).resolve().parent.parent / "config.yaml", env={})
    return base.with_overrides({"database.url": db_url, "redis.url": "", "delivery.platforms": ["wecom"],
                                "server.simulator": False, "wecom.secret": "bench-secret"})


def _seed(session_factory, people: int, seats: int, now: datetime, run: str, *, demo: bool = True,
          warmup: int = 0) -> tuple[int, list[str], int | None, list[str]]:
    """The storm activity for a new unit of `people`; with `warmup`, a second activity (5 seats)
    for that many other people of the unit, so a warm-up run goes through both the seat and the
    waitlist path before the measured one."""
    from sqlalchemy import insert, select

    from bot.cli.demo import BRANCH_A, seed_demo
    from handlers.activities import service
    from models.db import session_scope
    from models.org import Person
    from models.orgtree import ensure_unit_path

    with session_scope(session_factory) as db:
        if demo:
            seed_demo(db)
        unit = ensure_unit_path(db, f"{BRANCH_A}/抢票{run}")
        users = [f"b{run}{i:05d}" for i in range(people)]
        extra = [f"w{run}{i:05d}" for i in range(warmup)]
        db.execute(insert(Person), [{"name": f"队员{i}", "name_pinyin": "", "wecom_userid": u, "unit_id": unit.id,
                                     "active": True, "is_party_member": False} for i, u in enumerate(users + extra)])
        org = db.scalars(select(Person).where(Person.wecom_userid == "liqiang")).one()

        def activity(title: str, n: int) -> int:
            return service.create_activity(db, creator=org, organiser=org, title=title, kind="youth",
                                           starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=3, hours=2),
                                           place="机库", seats=n, deadline=now + timedelta(days=2), audience=unit).id
        act_id = activity("抢票压测", seats)
        warm_id = activity("预热", 5) if warmup else None
        return act_id, users, warm_id, extra


def _counts(engine, act_id: int) -> dict:
    """What the database holds after the run (the exactly-50 check reads only this)."""
    from sqlalchemy import func, select

    from models.activity import Activity, Signup

    with engine.connect() as conn:
        counts = dict(conn.execute(select(Signup.status, func.count()).where(Signup.activity_id == act_id)
                                   .group_by(Signup.status)).all())
        taken = conn.scalar(select(Activity.seats_taken).where(Activity.id == act_id))
        distinct = conn.scalar(select(func.count(func.distinct(Signup.person_id))).where(Signup.activity_id == act_id))
    return {"confirmed": counts.get("confirmed", 0), "waitlisted": counts.get("waitlisted", 0),
            "seats_taken": taken, "distinct_people": distinct}


class SqlCounter:
    """Statements, transactions and pool checkouts (= pre-pings on PostgreSQL) on an engine."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.n = {"sql": 0, "txn": 0, "checkout": 0}
        lock = threading.Lock()

        def bump(key):
            def fn(*_a, **_k):
                with lock:
                    self.n[key] += 1
            return fn
        event.listen(engine, "before_cursor_execute", bump("sql"))
        event.listen(engine, "commit", bump("txn"))
        event.listen(engine, "rollback", bump("txn"))
        event.listen(engine.pool, "checkout", bump("checkout"))

    def snapshot(self) -> dict:
        return dict(self.n)


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


# --- in this process: WSGI test client or the dispatcher, from a thread pool --------------------

def run_inprocess(db: str, people: int, seats: int, threads: int, via: str, profile: bool) -> dict:
    import models
    from bot.cli.wiring import build_services
    from models.crypto import configure_keys, generate_key
    from models.db import make_engine

    configure_keys([generate_key()])
    run_id = uuid.uuid4().hex[:6]
    with _storage(db) as (url, r):
        engine = make_engine(url, pool_size=max(10, threads + 2))
        models.Base.metadata.create_all(engine)
        now = datetime.now(UTC).replace(microsecond=0)
        config = _config(url)
        services = build_services(config, redis_client=r, clock=FixedClock(now), engine=engine)
        act_id, users, _, _ = _seed(services.session_factory, people, seats, now, run_id)
        send = _sender(services, config, via, now)
        counter = SqlCounter(engine)
        latencies: list[float] = []
        lock = threading.Lock()

        def one(user: str) -> None:
            t = time.perf_counter()
            send(user, f"act:{act_id}:join", f"act{act_id}_bench_0")
            dt = time.perf_counter() - t
            with lock:
                latencies.append(dt)

        if profile:   # every client thread profiles its own clicks; the profiles are added up
            import cProfile
            import pstats
            profiles: list[cProfile.Profile] = []
            local = threading.local()

            def profiled(user: str) -> None:
                prof = getattr(local, "prof", None)
                if prof is None:
                    prof = local.prof = cProfile.Profile(time.thread_time)  # this thread's CPU, not waits
                    with lock:
                        profiles.append(prof)
                prof.enable()
                try:
                    one(user)
                finally:
                    prof.disable()
            sample = users[:max(200, min(len(users), 200 * threads))]
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(profiled, sample))
            stats = pstats.Stats(profiles[0])
            for extra in profiles[1:]:
                stats.add(extra)
            if os.environ.get("PROFILE_OUT"):
                stats.dump_stats(os.environ["PROFILE_OUT"])
            stats.sort_stats(os.environ.get("SORT", "cumulative")).print_stats(int(os.environ.get("TOP", "40")))
            n = counter.snapshot()
            print(f"{len(sample)} clicks from {threads} threads; per click: {n['sql'] / len(sample):.1f} statements, "
                  f"{n['txn'] / len(sample):.1f} transactions, {n['checkout'] / len(sample):.1f} pool checkouts")
            engine.dispose()
            return {}
        start = time.perf_counter()
        cpu_start = time.process_time()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, users))
        total = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        n = counter.snapshot()
        clicks = len(latencies)
        result = {"db": db, "via": via, "threads": threads, "clicks": clicks, "total_s": round(total, 2),
                  "clicks_per_s": round(clicks / total), "p50_ms": round(statistics.median(latencies) * 1000, 1),
                  "p99_ms": round(percentile(latencies, 99) * 1000, 1),
                  "app_cpu_ms_per_click": round(cpu / clicks * 1000, 2),
                  "sql_per_click": round(n["sql"] / clicks, 2), "txn_per_click": round(n["txn"] / clicks, 2),
                  "checkouts_per_click": round(n["checkout"] / clicks, 2), "load_avg": os.getloadavg()[0],
                  "failed": people - clicks}
        result.update(_counts(engine, act_id))
        engine.dispose()
        return result


@contextmanager
def _storage(db: str):
    """(database URL, Redis client): a SQLite file + fakeredis, or a throwaway PostgreSQL
    database + a claimed real Redis db."""
    if db == "sqlite":
        import fakeredis
        tmp = tempfile.mkdtemp(prefix="lianxin-bench-")
        yield f"sqlite:///{tmp}/bench.db", fakeredis.FakeRedis(server=fakeredis.FakeServer())
        return
    import redis
    with bench_database(seed=False) as url, bench_redis_db() as redis_url:
        yield url, redis.Redis.from_url(redis_url)


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

    from bot.cli.wiring import create_app

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


# --- production shape: gunicorn workers over HTTP ------------------------------------------------

def _cpu_seconds(master_pid: int) -> float:
    """User + system CPU of the gunicorn master and its workers, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == master_pid or int(fields[1]) == master_pid:   # fields[1]: ppid
            total += int(fields[11]) + int(fields[12])                   # utime, stime
    return total / tick


def run_gunicorn(people: int, seats: int, workers: int, concurrency: int, wthreads: int = 1,
                 peer: bool = False) -> dict:
    from models.crypto import generate_key
    from models.db import make_engine, make_session_factory

    run_id = uuid.uuid4().hex[:6]
    with bench_database() as url, bench_redis_db() as redis_url:
        engine = make_engine(url)
        now = datetime.now(UTC).replace(microsecond=0)
        act_id, users, warm_id, extra = _seed(make_session_factory(engine), people, seats, now, run_id, demo=False,
                                              warmup=WARMUP_PEOPLE)
        env = {"DATABASE_URL": url, "REDIS_URL": redis_url, "LIANXIN_NOTES_KEYS": generate_key(),
               "LIANXIN_SERVER__SIMULATOR": "false", "LIANXIN_DELIVERY__PLATFORMS": "wecom",
               "LIANXIN_CONFIG": str(Path(__file__).resolve().parent.parent / "config.yaml")}
        settings = GunicornSettings(workers, wthreads, "gthread" if wthreads > 1 else "sync")
        srv = start_gunicorn("bench.lianxin_wsgi:app", settings, env)
        try:
            warm = run_async(closed_loop(srv.base, make_payloads(len(extra), [(u, f"act:{warm_id}:join") for u in extra],
                                                                 clicks=True), concurrency))
            payloads = make_payloads(people, [(u, f"act:{act_id}:join") for u in users], clicks=True)
            load_before = os.getloadavg()[0]
            cpu0, gen0 = _cpu_seconds(srv.proc.pid), time.process_time()
            res = run_async(closed_loop(srv.base, payloads, concurrency))
            cpu, gen = _cpu_seconds(srv.proc.pid) - cpu0, time.process_time() - gen0
        finally:
            srv.stop()
        result = {"db": "postgres", "via": "gunicorn", "gunicorn": settings.label.replace(" ", "_"),
                  "concurrency": concurrency, "non_200": sum(v for k, v in res.statuses.items() if k != 200),
                  "clicks": res.ok, "total_s": round(res.elapsed, 2), "clicks_per_s": round(res.rps),
                  "p50_ms": round(res.p(50), 1), "p99_ms": round(res.p(99), 1),
                  "app_cpu_ms_per_click": round(cpu / max(res.ok, 1) * 1000, 2),
                  "loadgen_cpu_ms_per_click": round(gen / max(res.ok, 1) * 1000, 2),
                  "load_avg": f"{load_before:.2f}->{os.getloadavg()[0]:.2f}", "failed": people - res.ok,
                  "empty_replies": res.empty_bodies, "warmup_ok": warm.ok}
        result.update(_counts(engine, act_id))
        engine.dispose()
        if peer:
            result.update(_peer(settings, users, concurrency))
        return result


def _peer(settings: GunicornSettings, users: list[str], concurrency: int) -> dict:
    """The same clicks against the echo bot (bench/echo_bot.py: verify, decrypt, echo; no storage)
    under the same gunicorn settings: the floor of HTTP + gunicorn + Flask + crypto on this host."""
    srv = start_gunicorn("bench.echo_bot:app", settings, {})
    try:
        payloads = make_payloads(len(users), [(u, "act:0:join") for u in users], clicks=True)
        cpu0, gen0 = _cpu_seconds(srv.proc.pid), time.process_time()
        res = run_async(closed_loop(srv.base, payloads, concurrency))
        cpu, gen = _cpu_seconds(srv.proc.pid) - cpu0, time.process_time() - gen0
    finally:
        srv.stop()
    return {"echo_total_s": round(res.elapsed, 2), "echo_non_200": sum(v for k, v in res.statuses.items() if k != 200),
            "echo_app_cpu_ms_per_click": round(cpu / max(res.ok, 1) * 1000, 2),
            "echo_loadgen_cpu_ms_per_click": round(gen / max(res.ok, 1) * 1000, 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--people", type=int, default=None, help="default 2000 (500 with LIANXIN_BENCH_QUICK=1)")
    p.add_argument("--seats", type=int, default=50)
    p.add_argument("--via", choices=["gunicorn", "wsgi", "dispatcher"], default=None,
                   help="default: gunicorn on PostgreSQL, wsgi on SQLite")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--wthreads", type=int, default=1, help="threads per gunicorn worker (>1: gthread)")
    p.add_argument("--concurrency", type=int, default=16, help="HTTP clients (gunicorn)")
    p.add_argument("--threads", type=int, default=16, help="client threads (wsgi, dispatcher)")
    p.add_argument("--profile", action="store_true", help="profile the clicks (per client thread, added up) instead")
    p.add_argument("--peer", action="store_true", help="gunicorn: then the same clicks against bench/echo_bot.py")
    a = p.parse_args()
    people = a.people or (500 if os.environ.get("LIANXIN_BENCH_QUICK") else 2000)
    via = a.via or ("gunicorn" if a.db == "postgres" and not a.profile else "wsgi")
    if a.db == "postgres" and not servers_available():
        print("SKIP: PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379 are needed")
        return 3
    if via == "gunicorn" and (a.db != "postgres" or a.profile):
        p.error("--via gunicorn needs --db postgres (the workers share a real Redis) and no --profile")
    import logging
    logging.disable(logging.WARNING)
    if via == "gunicorn":
        res = run_gunicorn(people, a.seats, a.workers, a.concurrency, a.wthreads, a.peer)
    else:
        res = run_inprocess(a.db, people, a.seats, a.threads, via, a.profile)
    if not res:
        return 0
    print(" ".join(f"{k}={v}" for k, v in res.items()))
    exact = (res["confirmed"] == a.seats and res["seats_taken"] == a.seats
             and res["waitlisted"] == people - a.seats and res["distinct_people"] == people)
    print(f"OK: exactly {a.seats} confirmed, {people - a.seats} waitlisted, nobody twice" if exact
          else "MISMATCH: oversold, lost or doubled clicks!")
    mode = f"{res['via']}_w{a.workers}" if via == "gunicorn" else f"{res['via']}_t{a.threads}"
    emit("signup.mode", f"{a.db}_{mode}", "", "-", None)
    full = people == 2000
    emit("signup.total", res["total_s"], f"s/{people} clicks", "<5" if full else "-", res["total_s"] < 5 if full else None)
    emit("signup.confirmed", res["confirmed"], "seats", f"={a.seats}", exact)
    emit("signup.p99", res["p99_ms"], "ms")
    emit("signup.clicks_per_s", res["clicks_per_s"], "clicks/s")
    emit("signup.app_cpu_per_click", res["app_cpu_ms_per_click"], "ms")
    if "echo_total_s" in res:
        emit("signup.echo_total", res["echo_total_s"], f"s/{people} clicks")
        emit("signup.echo_app_cpu_per_click", res["echo_app_cpu_ms_per_click"], "ms")
    if "sql_per_click" in res:
        emit("signup.sql_per_click", res["sql_per_click"], "statements")
    return 0 if res["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
