"""Group commit of join clicks (handlers/activities/storm.py) under a real gunicorn: kill -9 of the worker
while a batch is gathered loses nothing and, once WeCom retries, settles every click exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
import xmltodict
from sqlalchemy import select

from models.activity import Activity, Signup
from models.outbox import ProcessedDelivery
from tests.activities.test_signup_storm import make_storm
from tests.conftest import NOTES_KEY, REDIS_HOST
from tests.delivery.test_reliability import CORP_ID, CRYPTO, ROOT, count, free_port, pg, reply_text  # noqa: F401
from tests.helpers import stop_process_group

PEOPLE, SEATS = 40, 10


def clicked(user: str, key: str, ts: int) -> tuple[str, bytes]:
    """(query string, body) of a template_card_event click, encrypted and signed as WeCom does."""
    plain = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
             f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
             f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
             f"<TaskId><![CDATA[t-{user}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
             f"<ResponseCode><![CDATA[RC-{user}]]></ResponseCode><AgentID>1000002</AgentID></xml>")
    nonce = uuid.uuid4().hex[:10]
    doc = xmltodict.parse(CRYPTO.encrypt_message(plain, nonce, str(ts)))["xml"]
    body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{doc['Encrypt']}]]></Encrypt></xml>").encode()
    return f"msg_signature={doc['MsgSignature']}&timestamp={ts}&nonce={nonce}", body


class _Services:   # what make_storm needs
    def __init__(self, engine):
        from models.db import make_session_factory
        self.session_factory = make_session_factory(engine)


def _gunicorn(pg_engine, redis_db, window_ms: int):
    port = free_port()
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": pg_engine.url.render_as_string(hide_password=False),
        "REDIS_URL": f"redis://{REDIS_HOST}:6379/{redis_db}", "LIANXIN_NOTES_KEYS": NOTES_KEY,
        "LIANXIN_DELIVERY__PLATFORMS": "wecom", "LIANXIN_SERVER__SIMULATOR": "false",
        "LIANXIN_ACTIVITIES__STORM_WINDOW_MS": str(window_ms), "LIANXIN_CONFIG": str(ROOT / "config.yaml"),
        "PYTHONPATH": str(ROOT)})
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "64",
                             "-b", f"127.0.0.1:{port}", "--timeout", "60", "--log-level", "warning",
                             "tests.delivery.test_reliability_app:create()"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=3).status_code == 200:
                return base, proc
        except requests.RequestException:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.2)
    proc.kill()
    pytest.fail("gunicorn did not start")


def _workers(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _post(base, qs, body):
    try:
        return requests.post(f"{base}/wecom/callback?{qs}", data=body, headers={"Content-Type": "text/xml"}, timeout=30)
    except requests.RequestException as exc:
        return exc


@pytest.mark.slow
def test_kill_9_while_a_batch_gathers_then_retries_settle_each_click_once(pg, real_redis, redis_db):  # noqa: F811
    now = datetime.now(UTC).replace(microsecond=0)
    import tests.activities.test_signup_storm as storm_tests
    storm_tests.T0, saved = now, storm_tests.T0   # make_storm dates the activity from T0
    try:
        act_id, users = make_storm(_Services(pg), people=PEOPLE, seats=SEATS)
    finally:
        storm_tests.T0 = saved
    ts = int(time.time())
    clicks = [clicked(u, f"act:{act_id}:join", ts) for u in users]

    # the batch gathers for 10 s and the worker is killed after 1 s: the kill comes long before the batch
    # could commit even on a loaded machine (with 3 s, a slow start of the threads and of `ps` left ~2 s)
    base, master = _gunicorn(pg, redis_db, window_ms=10_000)
    try:
        workers = _workers(master.pid)
        first = [None] * PEOPLE
        threads = [threading.Thread(target=lambda i=i: first.__setitem__(i, _post(base, *clicks[i])))
                   for i in range(PEOPLE)]
        for t in threads:
            t.start()
        time.sleep(1.0)                                        # the clicks are waiting in the batch
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        for t in threads:
            t.join(30)
        assert not any(isinstance(r, requests.Response) and r.status_code == 200 for r in first)
        assert count(pg, Signup, Signup.activity_id == act_id) == 0          # nothing half-done
        assert count(pg, ProcessedDelivery) == 0
    finally:
        stop_process_group(master)

    base, master = _gunicorn(pg, redis_db, window_ms=20)     # WeCom retries every delivery, twice
    try:
        with ThreadPoolExecutor(max_workers=PEOPLE) as pool:
            retries = list(pool.map(lambda c: _post(base, *c), clicks))
            again = list(pool.map(lambda c: _post(base, *c), clicks))
    finally:
        stop_process_group(master)
    texts = [reply_text(r.content) for r in retries]
    assert all(r.status_code == 200 for r in retries + again)
    assert sum("报名成功" in t for t in texts) == SEATS
    assert sum("进入候补" in t for t in texts) == PEOPLE - SEATS
    assert all(r.content == b"" for r in again)               # repeats of settled deliveries: nothing
    positions = sorted(int(t.split("候补第 ")[1].split(" 位")[0]) for t in texts if "候补第" in t)
    assert positions == list(range(1, PEOPLE - SEATS + 1))     # answered positions: gap-free, each once
    with pg.connect() as conn:
        rows = conn.execute(select(Signup.person_id, Signup.status).where(Signup.activity_id == act_id)
                            .order_by(Signup.id)).all()
        taken = conn.scalar(select(Activity.seats_taken).where(Activity.id == act_id))
    assert len(rows) == PEOPLE == len({p for p, _ in rows}) and taken == SEATS
    assert [s for _, s in rows].count("confirmed") == SEATS
    assert count(pg, ProcessedDelivery) == PEOPLE
