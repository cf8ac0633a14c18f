"""The production path end to end: `lianxin init-db --demo`, `lianxin serve` (gunicorn) and
`lianxin dispatch` as separate processes on PostgreSQL + Redis, WeCom's API faked at
`wecom.api_base` (tests/fake_wecom_server.py), signed and encrypted callbacks over HTTP.

A team leader records a flagged talk in one line and saves it with the card's button; the
secretary's flag card reaches the API; the secretary types 确认 N; the leader hears back. What
is asserted is what the users would see at the platform, and that the talk's notes appear in
no message and no log line. Servers stack only (the embedded stack is one process by design).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from bot.context import Clock
from bot.dispatcher import ERROR_TEXT
from models.crypto import generate_key
from tests.conftest import PG_ADMIN_URL, REDIS_HOST, make_config
from tests.fake_wecom_server import FakeWeComServer
from tests.helpers import WeComPlatform

pytestmark = pytest.mark.slow

NOTES = "家里老人住院压力大"
ROOT = Path(__file__).resolve().parent.parent.parent


def _lianxin() -> list[str]:
    script = Path(sys.executable).with_name("lianxin")
    return [str(script)] if script.exists() else [shutil.which("lianxin") or "lianxin"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _HTTPClient:
    """What WeComPlatform expects of a Flask test client, over real HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base

    def post(self, path: str, data: bytes, content_type: str):
        resp = requests.post(self.base + path, data=data, headers={"Content-Type": content_type}, timeout=30)
        resp.data = resp.content
        return resp


@pytest.fixture
def database(pg_url):
    """A fresh, empty database (init-db migrates it), named so that a later session drops it."""
    name = f"lianxin_test_{os.getpid()}_e2e{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_flagged_talk_reaches_the_secretary_and_the_confirmation_comes_back(database, real_redis, redis_db, tmp_path):
    fake = FakeWeComServer().start()
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": f"redis://{REDIS_HOST}:6379/{redis_db}",
           "LIANXIN_NOTES_KEYS": generate_key(), "LIANXIN_SEAL_KEYS": generate_key(),
           "LIANXIN_SECRET_KEY": uuid.uuid4().hex * 2, "LIANXIN_WECOM__SECRET": "fake-secret",
           "LIANXIN_WECOM__API_BASE": fake.api_base, "LIANXIN_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
           "LIANXIN_QUIET__HOURS": "off", "LIANXIN_SAMPLING__SHARE": "0", "LIANXIN_OUTBOX__POLL_SECONDS": "0.2",
           "XDG_RUNTIME_DIR": str(tmp_path)}   # gunicorn's control socket: not the host's ~/.gunicorn
    env.pop("LIANXIN_CONFIG", None)
    init = subprocess.run([*_lianxin(), "init-db", "--demo"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert init.returncode == 0 and "导入演示人员 32 人" in init.stdout, init.stderr[-2000:]
    logs = {name: open(tmp_path / f"{name}.log", "w+") for name in ("serve", "dispatch")}
    procs = [subprocess.Popen([*_lianxin(), "serve", "--workers", "1", "--threads", "4", "--bind",
                               f"127.0.0.1:{port}"], env=env, cwd=tmp_path, stdout=logs["serve"], stderr=subprocess.STDOUT),
             subprocess.Popen([*_lianxin(), "dispatch"], env=env, cwd=tmp_path, stdout=logs["dispatch"],
                              stderr=subprocess.STDOUT)]
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy():
            try:
                return requests.get(base + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:   # not listening yet, or the worker still booting
                return False

        _wait_until(healthy, 45, "lianxin serve to answer /healthz")
        wecom = WeComPlatform(_HTTPClient(base), make_config(), Clock())

        def card_to(user: str, title: str):
            return next((m["template_card"] for m in fake.to(user) if m.get("msgtype") == "template_card"
                         and title in m["template_card"]["main_title"]["title"]), None)

        # the team leader: a flagged talk in one line → its confirmation card → 保存
        assert wecom.say("zhouli", f"谈话 张三 季度 波动 {NOTES} #紧急 #家庭") in ("", f"内容预览：{NOTES}")
        confirm = _wait_until(lambda: card_to("zhouli", "确认谈话记录"), 15, "the talk's confirmation card")
        save = next(b for b in confirm["button_list"] if b["text"] == "保存")
        saved = wecom.click("zhouli", save["key"], task_id=confirm["task_id"])
        assert saved.startswith("已保存谈话 #1：张三") and "支部书记会收到提醒" in saved

        # the secretary's flag card arrives at the API, with its text commands, without the notes
        flag = _wait_until(lambda: card_to("liqiang", "关爱事项 1"), 15, "the secretary's flag card")
        assert "【紧急】" in flag["main_title"]["title"] and "确认 1" in flag["sub_title_text"]
        assert {b["text"] for b in flag["button_list"]} >= {"确认收到", "发起关爱申请"}

        # the secretary confirms by text; the leader hears back in one line
        assert wecom.say("liqiang", "确认 1").startswith("已确认收到事项 1（张三）")
        told = _wait_until(lambda: [m["text"]["content"] for m in fake.to("zhouli") if m.get("msgtype") == "text"],
                           15, "the leader's acknowledgement notice")
        assert told == ["您在谈话 #1 中对张三的标记（紧急·家庭）已由李强确认收到。"]
        assert wecom.say("liqiang", "确认 1").startswith("事项 1 已由李强")   # once only, said so
        assert ERROR_TEXT not in wecom.say("liqiang", "待办")

        # the secretary's quarterly report arrives as a file message (uploaded first, then sent)
        assert wecom.say("liqiang", "导出统计").startswith("已生成外航维修党支部")
        sent = _wait_until(lambda: [m for m in fake.to("liqiang") if m.get("msgtype") == "file"], 15,
                           "the report's file message")
        assert sent[0]["file"] == {"media_id": "MEDIA1"} and len(fake.uploads) == 1
        assert 'filename="统计-外航维修党支部-' in fake.uploads[0][:400].decode("utf-8", "replace")

        every_request = " ".join(fake.paths)
        assert "/cgi-bin/gettoken" in every_request and "/cgi-bin/message/send" in every_request
        assert all(NOTES not in str(m) for m in fake.sent)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        fake.stop()
    for name, f in logs.items():
        f.seek(0)
        out = f.read()
        f.close()
        assert "Traceback" not in out and " ERROR " not in out, f"{name} log:\n{out[-3000:]}"
        assert NOTES not in out, f"the talk's notes in the {name} log"
