"""The README's promise: on a fresh directory the demo comes up and `lianxin chat --as` answers 帮助."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

EXE = Path(sys.executable).parent / "lianxin"


def _env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env["HOME"] = str(tmp_path)
    return env


def test_chat_as_demo_user_answers_help(tmp_path):
    proc = subprocess.run([str(EXE), "chat", "--as", "zhangsan", "-m", "帮助", "-m", "我的信息"],
                          capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "可用命令" in proc.stdout and "我的信息" in proc.stdout
    assert "张三" in proc.stdout and "四车间班组" in proc.stdout
    assert (tmp_path / "lianxin.db").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_the_simulator(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([str(EXE), "demo", "--port", str(port)], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        page = urllib.request.urlopen(base + "/sim", timeout=5).read().decode()
        assert "连心" in page
        users = json.load(urllib.request.urlopen(base + "/sim/api/users", timeout=5))
        assert {"zhangsan", "liqiang", "wangwei", "admin"} <= {u["id"] for u in users}
        req = urllib.request.Request(base + "/sim/api/send", data=json.dumps({"user": "zhangsan", "text": "帮助"}).encode(),
                                     headers={"Content-Type": "application/json"})
        reply = json.load(urllib.request.urlopen(req, timeout=10))
        assert "可用命令" in reply["replies"][0]["text"]
        # the dashboard link points at the port this demo listens on (--port), not the configured one
        req = urllib.request.Request(base + "/sim/api/send", data=json.dumps({"user": "liqiang", "text": "统计"}).encode(),
                                     headers={"Content-Type": "application/json"})
        text = "\n".join(r.get("text", "") for r in json.load(urllib.request.urlopen(req, timeout=10))["replies"])
        assert f"http://127.0.0.1:{port}/dashboard/login#" in text, text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
