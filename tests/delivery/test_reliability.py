"""Faults survived: kill -9 of a web worker mid-dialog and of the outbox dispatcher mid-send,
Redis restarted during traffic, PostgreSQL connections dropped (issue 10).

All of these run against the real PostgreSQL and Redis (they are about real connections and
real processes); each is bounded in time. They skip without the servers, unless
LIANXIN_REQUIRE_SERVERS=1 (CI), where they fail.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import xmltodict
from sqlalchemy import create_engine, func, select, text
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.cli.demo import seed_demo
from models.audit import AuditEvent
from models.base import utcnow
from models.db import make_session_factory, session_scope
from models.outbox import OutboxMessage, OutboxStatus, ProcessedDelivery
from tests.conftest import NOTES_KEY, PG_ADMIN_URL, REDIS_HOST, make_config, require_or_skip, truncate_all
from tests.helpers import AGENT_ID, stop_process_group, text_xml
from tests.payloads import wecom_xml

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"
CRYPTO = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
_ids = iter(range(int(time.time() * 1000) * 100, 10**18))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed(user: str, content: str, msg_id: int | None = None, ts: int | None = None) -> tuple[str, bytes]:
    """(query string, body) of a WeCom text callback, encrypted and signed as WeCom does."""
    msg_id = msg_id or next(_ids)
    ts = ts or int(time.time())
    plain = text_xml(user, content, CORP_ID, msg_id=msg_id, create=ts)
    nonce = uuid.uuid4().hex[:10]
    doc = xmltodict.parse(CRYPTO.encrypt_message(plain, nonce, str(ts)))["xml"]
    body = wecom_xml("envelope", ToUserName=CORP_ID, AgentID=AGENT_ID, Encrypt=doc["Encrypt"]).encode()
    return f"msg_signature={doc['MsgSignature']}&timestamp={ts}&nonce={nonce}", body


def reply_text(body: bytes) -> str:
    if not body:
        return ""
    doc = xmltodict.parse(body)["xml"]
    plain = CRYPTO.decrypt_message(body, doc["MsgSignature"], doc["TimeStamp"], doc["Nonce"])
    return xmltodict.parse(plain)["xml"]["Content"]


def count(engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def pg(pg_engine):
    """The session's PostgreSQL database, emptied and seeded with the demo organisation."""
    truncate_all(pg_engine)
    with session_scope(make_session_factory(pg_engine)) as db:
        seed_demo(db)
    return pg_engine


# --- 1. kill -9 of a web worker in the middle of a dialog ---------------------------------------

@pytest.fixture
def gunicorn_app(pg, real_redis, redis_db):
    port = free_port()
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": pg.url.render_as_string(hide_password=False), "REDIS_URL": f"redis://{REDIS_HOST}:6379/{redis_db}",
        "LIANXIN_NOTES_KEYS": NOTES_KEY, "LIANXIN_DELIVERY__PLATFORMS": "wecom", "LIANXIN_SERVER__SIMULATOR": "false",
        "LIANXIN_CONVERSATION__LOCK_TIMEOUT_SECONDS": "3", "LIANXIN_CONFIG": str(ROOT / "config.yaml"),
        "PYTHONPATH": str(ROOT),
    })
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-k", "sync", "-b", f"127.0.0.1:{port}",
                             "--timeout", "30", "--log-level", "warning", "tests.delivery.test_reliability_app:create()"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=3).status_code == 200:
                break
        except requests.RequestException:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("gunicorn did not start")
    yield base, proc
    stop_process_group(proc)


def _post(base: str, qs: str, body: bytes, timeout: float = 15) -> requests.Response:
    return requests.post(f"{base}/wecom/callback?{qs}", data=body, headers={"Content-Type": "text/xml"},
                         timeout=timeout)


@pytest.mark.slow
def test_kill_9_of_a_web_worker_mid_dialog_loses_nothing(gunicorn_app, pg, real_redis):
    base, master = gunicorn_app
    say = lambda text: reply_text(_post(base, *signed("zhangsan", text)).content)  # noqa: E731

    # a dialog that finishes before the crash: committed, must survive
    assert "第一步" in say("开始测试")
    assert "第二步" in say("甲")
    assert "完成：甲/乙" in say("乙")

    # a second dialog; the answer to step 1 is being handled when its worker is killed
    assert "第一步" in say("开始测试")
    real_redis.set("reliability:slow", 1)
    qs, body = signed("zhangsan", "慢丙")
    outcome: dict = {}
    t = threading.Thread(target=lambda: outcome.setdefault("resp", _try_post(base, qs, body)))
    t.start()
    deadline = time.time() + 10
    while not real_redis.get("reliability:busy_pid") and time.time() < deadline:
        time.sleep(0.05)
    victim = int(real_redis.get("reliability:busy_pid"))
    assert victim != master.pid
    os.kill(victim, signal.SIGKILL)
    t.join(15)
    assert not isinstance(outcome.get("resp"), requests.Response) or outcome["resp"].status_code != 200
    real_redis.delete("reliability:slow")

    # WeCom retries the same delivery (same MsgId); another worker continues the dialog from Redis
    retry = _post(base, qs, body)
    assert retry.status_code == 200
    answer = reply_text(retry.content)
    assert "第二步" in answer and f"[pid {victim}]" not in answer
    assert "完成：慢丙/丁" in say("丁")

    # nothing committed was lost, nothing was done twice
    assert count(pg, AuditEvent, AuditEvent.action == "reliability_done") == 2
    assert count(pg, ProcessedDelivery) == 2   # the turns that wrote: 乙 and 丁 (dialog steps live in Redis)
    # a late duplicate of the retried delivery is still recognised
    again = _post(base, qs, body)
    assert again.status_code == 200 and again.content == b""


def _try_post(base, qs, body):
    try:
        return _post(base, qs, body)
    except requests.RequestException as exc:
        return exc


# --- 2. kill -9 of the outbox dispatcher in the middle of sending --------------------------------

DISPATCHER_SCRIPT = textwrap.dedent("""
    import sys, time
    import redis
    from bot.outbox import SendResult
    from bot.relay import OutboxRelay
    from models.db import make_engine, make_session_factory

    r = redis.Redis.from_url(sys.argv[2])

    class SlowSender:
        def send(self, recipients, reply, row):
            r.rpush("sent", row.id)          # the platform has the message from here on
            time.sleep(0.15)
            return SendResult(msgid=f"m{row.id}")
        update_card = send

    d = OutboxRelay(make_session_factory(make_engine(sys.argv[1])), {"wecom": SlowSender()},
                    batch_size=10, lease_seconds=60, pool_size=4)
    r.set("dispatcher_ready", 1)
    while True:
        if d.run_once() == 0:
            time.sleep(0.05)
""")


class RecordingSender:
    def __init__(self, r) -> None:
        self.r = r

    def send(self, recipients, reply, row):
        from bot.outbox import SendResult

        self.r.rpush("sent", row.id)
        return SendResult(msgid=f"m{row.id}")

    update_card = send


@pytest.mark.slow
def test_kill_9_of_the_outbox_dispatcher_mid_send(pg, real_redis, redis_db, caplog):
    from bot.messages import Text
    from bot.outbox import enqueue
    from bot.relay import OutboxRelay

    sf = make_session_factory(pg)
    with session_scope(sf) as db:
        for i in range(30):
            enqueue(db, platform="wecom", recipients=[f"user{i}"], reply=Text(f"通知 {i}"), ref=f"t:{i}")
    env = dict(os.environ, PYTHONPATH=str(ROOT), LIANXIN_NOTES_KEYS=NOTES_KEY)  # outbox payloads are encrypted
    proc = subprocess.Popen([sys.executable, "-c", DISPATCHER_SCRIPT, pg.url.render_as_string(hide_password=False),
                             f"redis://{REDIS_HOST}:6379/{redis_db}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 20
        while real_redis.llen("sent") < 5 and time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # in the middle of a send: after the platform got it, before "sent"
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    first_run = [int(x) for x in real_redis.lrange("sent", 0, -1)]
    assert 5 <= len(first_run) < 30

    # nothing is lost: every row is still pending or sent, none dead, none forgotten
    with sf() as db:
        statuses = dict(db.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    assert statuses.get(OutboxStatus.PENDING, 0) + statuses.get(OutboxStatus.SENT, 0) == 30

    # a new dispatcher takes over once the dead one's lease has expired
    caplog.set_level(logging.WARNING, logger="lianxin.outbox")
    survivor = OutboxRelay(sf, {"wecom": RecordingSender(real_redis)}, batch_size=10)
    later = utcnow() + timedelta(seconds=61)
    while survivor.run_once(now=later):
        pass
    sent = [int(x) for x in real_redis.lrange("sent", 0, -1)]
    with sf() as db:
        rows = db.scalars(select(OutboxMessage)).all()
    assert all(r.status == OutboxStatus.SENT for r in rows), [(r.id, r.status, r.last_error) for r in rows]
    assert set(sent) == {r.id for r in rows}                       # every message reached the platform
    twice = {i for i in set(sent) if sent.count(i) > 1}
    flagged = {getattr(rec, "outbox_id", None) for rec in caplog.records if rec.getMessage() == "outbox.possible_duplicate"}
    assert twice <= flagged                                        # every double send was detected and logged
    assert len(twice) <= 4                                         # only those in flight at the kill (pool of 4)


# --- 3. Redis restarted during traffic -------------------------------------------------------------

@pytest.fixture
def own_redis(tmp_path):
    """A throwaway redis-server on a free port (never the shared one), restartable."""
    exe = shutil.which("redis-server")
    if exe is None:
        require_or_skip("the redis-server binary")
    port = free_port()

    class Own:
        url = f"redis://127.0.0.1:{port}/0"
        proc = None

        def start(self):
            self.proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--dir", str(tmp_path)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError("redis-server did not start")

        def stop(self):
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)

    own = Own()
    own.start()
    yield own
    own.stop()


@pytest.fixture
def inproc(pg, own_redis):
    """lianxin in-process (Flask test client) on the real PostgreSQL and the throwaway Redis,
    with the two-step test dialog of tests/delivery/test_reliability_app.py registered."""
    import importlib

    import handlers
    from bot.cli.wiring import build_services, create_app
    from bot.redis_client import make_redis
    from bot.router import Registry

    config = make_config(pg.url.render_as_string(hide_password=False), **{"delivery.platforms": ["wecom"]})
    services = build_services(config, redis_client=make_redis(own_redis.url), engine=pg)
    routers = [importlib.import_module(n).router for n in handlers.ROUTER_MODULES]
    routers.append(importlib.import_module("tests.delivery.test_reliability_app").router)
    services.dispatcher.registry = services.registry = Registry(routers)
    app = create_app(config, services=services)
    client = app.test_client()

    def post(qs, body):
        return client.post(f"/wecom/callback?{qs}", data=body, content_type="text/xml")

    return post, services


@pytest.mark.slow
def test_redis_restart_during_traffic_degrades_with_503_and_recovers(inproc, own_redis, pg):
    post, _services = inproc
    first = [signed(u, f"记录测试 {u}") for u in ("zhangsan", "lisi", "wangwu")]   # turns that write
    for qs, body in first:
        resp = post(qs, body)
        assert resp.status_code == 200 and "已记录" in reply_text(resp.data)

    own_redis.stop()
    during = [signed(u, "我的信息") for u in ("zhangsan", "lisi", "wangwu", "zhaoliu")]
    for qs, body in during:
        resp = post(qs, body)
        assert resp.status_code == 503          # WeCom treats non-200 as failure and retries
        assert b"unavailable" in resp.data
    assert count(pg, ProcessedDelivery) == 3    # nothing half-done was committed

    own_redis.start()                           # empty: dedupe keys and dialog state are gone
    for qs, body in during:                     # WeCom's retries
        resp = post(qs, body)
        assert resp.status_code == 200 and "姓名" in reply_text(resp.data)
    for qs, body in first:                      # a late duplicate of a delivery handled before the restart
        resp = post(qs, body)
        assert resp.status_code == 200 and resp.data == b""   # the database layer still knows it
    assert count(pg, AuditEvent, AuditEvent.action == "reliability_note") == 3   # nothing done twice
    assert count(pg, ProcessedDelivery) == 3    # read-only turns (我的信息) record no delivery


# --- 4. PostgreSQL connections dropped ------------------------------------------------------------

def _terminate_app_connections(engine) -> int:
    name = engine.url.database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name}).all())
    finally:
        admin.dispose()


@pytest.fixture
def pg_private(pg_url, request):
    """An engine of its own on the test database (its connections are the ones we kill).
    Parametrised (indirect) with the idle time after which a pooled connection is tested."""
    from models.db import PING_AFTER_IDLE_SECONDS, make_engine

    engine = make_engine(pg_url, pool_size=2, ping_after_idle=getattr(request, "param", PING_AFTER_IDLE_SECONDS))
    yield engine
    engine.dispose()


@pytest.fixture
def inproc_pg(pg, pg_private, real_redis):
    from bot.cli.wiring import build_services, create_app

    config = make_config(pg_private.url.render_as_string(hide_password=False), **{"delivery.platforms": ["wecom"]})
    services = build_services(config, redis_client=real_redis, engine=pg_private)
    app = create_app(config, services=services)
    client = app.test_client()
    return (lambda qs, body: client.post(f"/wecom/callback?{qs}", data=body, content_type="text/xml")), services


@pytest.mark.slow
@pytest.mark.parametrize("pg_private", [0.0], indirect=True)   # "idle for longer than the ping threshold"
def test_postgres_connections_dropped_while_idle_are_replaced_unnoticed(inproc_pg, pg_private, pg):
    post, _ = inproc_pg
    resp = post(*signed("zhangsan", "我的信息"))
    assert resp.status_code == 200 and "张三" in reply_text(resp.data)
    assert _terminate_app_connections(pg_private) >= 1   # the pooled connection is now dead
    resp = post(*signed("lisi", "我的信息"))             # tested before use, replaced
    assert resp.status_code == 200 and "李四" in reply_text(resp.data)


@pytest.mark.slow
def test_postgres_connections_dropped_during_traffic_fail_one_request_cleanly(inproc_pg, pg_private, pg):
    post, _ = inproc_pg
    assert post(*signed("zhangsan", "我的信息")).status_code == 200
    assert _terminate_app_connections(pg_private) >= 1   # dropped between two busy requests: not tested
    qs, body = signed("lisi", "活动")      # a turn that reads the database (a sender comes from the roster snapshot)
    resp = post(qs, body)
    assert resp.status_code == 503 and b"unavailable" in resp.data   # clean failure, WeCom will retry
    retry = post(qs, body)                                           # the pool was invalidated: fresh connection
    assert retry.status_code == 200 and "活动" in reply_text(retry.data)
    assert post(*signed("wangwu", "我的信息")).status_code == 200


@pytest.mark.slow
def test_postgres_connection_dropped_mid_request_fails_cleanly_and_the_retry_succeeds(inproc_pg, pg_private, pg):
    from sqlalchemy import event

    post, _ = inproc_pg
    assert post(*signed("zhangsan", "我的信息")).status_code == 200
    armed = {"on": True}

    def kill_mid_transaction(conn, cursor, statement, params, context, executemany):
        if armed["on"] and "FROM activity" in statement:
            armed["on"] = False    # the turn's transaction is open: drop the connection
            _terminate_app_connections(pg_private)

    event.listen(pg_private, "before_cursor_execute", kill_mid_transaction)
    try:
        qs, body = signed("lisi", "活动")
        resp = post(qs, body)
        assert resp.status_code == 503 and b"unavailable" in resp.data   # clean failure, WeCom will retry
        retry = post(qs, body)
        assert retry.status_code == 200 and "活动" in reply_text(retry.data)
        dup = post(qs, body)
        assert dup.status_code == 200 and dup.data == b""
    finally:
        event.remove(pg_private, "before_cursor_execute", kill_mid_transaction)


# --- the dedupe claim of a worker that died (both storage stacks, fast) -----------------------------

def test_a_retry_after_a_worker_died_holding_the_dedupe_claim_is_processed_once(wecom, services):
    from tests.helpers import text_xml

    xml = text_xml("zhangsan", "我的信息", wecom.corp_id, msg_id=424242, create=int(wecom.clock.now().timestamp()))
    # the dead worker claimed the delivery in Redis and died before its transaction committed
    services.redis.set("dedupe:wecom:m424242", b"p")
    resp = wecom.post_xml(xml)
    assert resp.status_code == 200 and "张三" in wecom.decrypt_reply(resp)["Content"]
    again = wecom.post_xml(xml)
    assert again.status_code == 200 and again.data == b""


@pytest.fixture
def sim_with_dialog(sim, services):
    """The simulator with the two-step test dialog of tests/delivery/test_reliability_app.py registered."""
    import importlib

    import handlers
    from bot.router import Registry

    routers = [importlib.import_module(n).router for n in handlers.ROUTER_MODULES]
    routers.append(importlib.import_module("tests.delivery.test_reliability_app").router)
    services.dispatcher.registry = services.registry = Registry(routers)
    return sim


@pytest.mark.parametrize("ending", ["finish", "cancel"])
def test_a_dialog_that_ended_normally_is_not_reported_as_expired(sim_with_dialog, clock, ending):
    sim = sim_with_dialog
    assert "第一步" in sim.say("zhangsan", "开始测试").text
    if ending == "finish":
        sim.say("zhangsan", "甲")
        assert "完成：甲/乙" in sim.say("zhangsan", "乙").text
    else:
        assert "已取消" in sim.say("zhangsan", "取消").text
    after = sim.say("zhangsan", "我的信息").text
    assert "张三" in after and "自动结束" not in after


def test_a_dialog_left_idle_past_its_ttl_is_reported_once(sim_with_dialog, services):
    sim = sim_with_dialog
    assert "第一步" in sim.say("zhangsan", "开始测试").text
    services.redis.delete("conv:sim:zhangsan")          # what the TTL does
    first = sim.say("zhangsan", "我的信息").text
    assert "「可靠性测试」对话因长时间未操作已自动结束" in first and "张三" in first
    assert "自动结束" not in sim.say("zhangsan", "我的信息").text


# --- read-only turns write nothing; a turn that writes records its delivery with its work -------------

def test_read_only_turns_write_nothing_and_a_writing_turn_records_its_delivery(sim_with_dialog, services):
    from sqlalchemy import event

    seen: list[str] = []
    listener = lambda conn, cur, statement, *a: seen.append(statement)  # noqa: E731
    event.listen(services.engine, "before_cursor_execute", listener)
    try:
        def writes(text: str) -> list[str]:
            seen.clear()
            sim_with_dialog.say("zhangsan", text)
            return [s.split("(")[0].strip() for s in seen
                    if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
                    and "active_day" not in s]      # the active-day row has its own transaction

        assert writes("帮助") == []
        assert writes("我的信息") == []
        assert writes("开始测试") == []       # dialog state lives in Redis
        assert writes("甲") == []
        done = writes("乙")                   # finishing writes an audit row, and the delivery with it
        assert any("audit" in s for s in done) and any("processed_delivery" in s for s in done)
    finally:
        event.remove(services.engine, "before_cursor_execute", listener)
