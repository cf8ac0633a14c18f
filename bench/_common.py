"""Shared pieces of the bench scripts: the output convention, servers, payloads, load generation.

Output convention (every bench script, whoever writes it): one line per figure on stdout,

    BENCH <name>=<value> <unit> goal=<goal or -> ok=<yes|no|->

e.g. `BENCH webhook.ratio=0.82 x goal=>=0.7 ok=yes`. Anything else a script prints is ignored
by run_all.py (and shown with --verbose). `emit()` below prints exactly that line.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("LIANXIN_BENCH_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_HOST = os.environ.get("LIANXIN_BENCH_REDIS_HOST", "127.0.0.1")

# WeCom test credentials (the official sample's, also in config.yaml)
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"


def emit(name: str, value, unit: str, goal: str = "-", ok: bool | None = None) -> None:
    """Print one figure in the shared `BENCH name=value unit goal=... ok=...` form."""
    if isinstance(value, float):
        value = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    flag = "-" if ok is None else ("yes" if ok else "no")
    print(f"BENCH {name}={value} {unit} goal={goal} ok={flag}", flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# --- storage: a throwaway PostgreSQL database and a claimed Redis db ---------------------------

@contextmanager
def bench_database(seed: bool = True) -> Iterator[str]:
    """Create a fresh PostgreSQL database (schema + demo organisation), yield its URL, drop it."""
    from sqlalchemy import create_engine, text

    import models
    from bot.cli.demo import seed_demo
    from models.db import make_engine, make_session_factory, session_scope

    name = f"lianxin_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = make_engine(url)
        models.Base.metadata.create_all(engine)
        if seed:
            with session_scope(make_session_factory(engine)) as db:
                seed_demo(db)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextmanager
def bench_redis_db() -> Iterator[str]:
    """Claim a free Redis db number (same claim keys as the test suite), yield its URL, flush it."""
    import redis

    admin = redis.Redis(host=REDIS_HOST, port=6379, db=0)
    for n in range(15, 0, -1):
        if admin.set(f"lianxin:testdb:{n}", f"bench:{os.getpid()}", nx=True, ex=3600):
            client = redis.Redis(host=REDIS_HOST, port=6379, db=n)
            client.flushdb()
            try:
                yield f"redis://{REDIS_HOST}:6379/{n}"
            finally:
                client.flushdb()
                admin.delete(f"lianxin:testdb:{n}")
            return
    raise RuntimeError("no free Redis db number")


def servers_available() -> bool:
    return reachable("127.0.0.1", 5432) and reachable(REDIS_HOST, 6379)


# --- gunicorn -------------------------------------------------------------------------------

@dataclass
class GunicornSettings:
    workers: int = 2
    threads: int = 1
    worker_class: str = "sync"   # sync, gthread

    @property
    def label(self) -> str:
        if self.worker_class == "gthread":
            return f"gthread w{self.workers}t{self.threads}"
        return f"{self.worker_class} w{self.workers}"

    def args(self) -> list[str]:
        args = ["-w", str(self.workers), "-k", self.worker_class]
        if self.worker_class == "gthread":
            args += ["--threads", str(self.threads)]
        return args


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_gunicorn(app: str, settings: GunicornSettings, env: dict[str, str] | None = None,
                   log_dir: Path | None = None, extra: Sequence[str] = ()) -> Server:
    port = free_port()
    log_dir = log_dir or Path("/tmp")
    log_path = log_dir / f"gunicorn-{app.replace(':', '_')}-{port}.log"
    cmd = [sys.executable, "-m", "gunicorn", *settings.args(), "-b", f"127.0.0.1:{port}",
           "--timeout", "30", "--log-level", "warning", *extra, app]
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    fh = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=fh, stderr=subprocess.STDOUT,
                            start_new_session=True)
    server = Server(proc, port, log_path)
    deadline = time.time() + 30
    import urllib.request

    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: see {log_path}\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.base}/healthz", timeout=1) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not become ready: {log_path}")


# --- payloads ---------------------------------------------------------------------------------

_msgids = itertools.count(int(time.time() * 1000) * 1000)


def text_xml(user: str, content: str, msg_id: int, create: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{create}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>")


def card_event_xml(user: str, key: str, task_id: str, create: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{create}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
            f"<TaskId><![CDATA[{task_id}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
            f"<ResponseCode><![CDATA[RC{uuid.uuid4().hex[:8]}]]></ResponseCode><AgentID>1000002</AgentID></xml>")


@dataclass
class Payload:
    path: str      # /wecom/callback?msg_signature=..&timestamp=..&nonce=..
    body: bytes
    msg_id: int


def make_payloads(n: int, pairs: Sequence[tuple[str, str]], path: str = "/wecom/callback",
                  clicks: bool = False) -> list[Payload]:
    """n unique, correctly signed WeCom text callbacks with a fresh timestamp (valid ±300 s).

    `pairs` are (user, text) cycled through; "{i}" in a text becomes the payload's index.
    With clicks=True the pairs are (user, button key) and the payloads are template_card_events.
    """
    import xmltodict
    from wechatpy.enterprise.crypto import WeChatCrypto

    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    now = int(time.time())
    out = []
    for i in range(n):
        msg_id = next(_msgids)
        nonce = uuid.uuid4().hex[:12]
        user, text = pairs[i % len(pairs)]
        if clicks:
            plain = card_event_xml(user, text, f"task{msg_id}", now)
        else:
            plain = text_xml(user, text.replace("{i}", str(i)), msg_id, now)
        envelope = crypto.encrypt_message(plain, nonce, str(now))
        doc = xmltodict.parse(envelope)["xml"]
        body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
                f"<Encrypt><![CDATA[{doc['Encrypt']}]]></Encrypt></xml>").encode()
        out.append(Payload(f"{path}?msg_signature={doc['MsgSignature']}&timestamp={now}&nonce={nonce}",
                           body, msg_id))
    return out


# --- load generation (asyncio + aiohttp, loopback only) -----------------------------------------

@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    statuses: dict = field(default_factory=dict)
    latencies: list = field(default_factory=list)   # seconds, successful requests
    elapsed: float = 0.0
    empty_bodies: int = 0

    def merge(self, other: LoadResult) -> LoadResult:
        self.sent += other.sent
        self.ok += other.ok
        for k, v in other.statuses.items():
            self.statuses[k] = self.statuses.get(k, 0) + v
        self.latencies += other.latencies
        self.elapsed += other.elapsed
        self.empty_bodies += other.empty_bodies
        return self

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000  # ms


async def _one(session, base: str, p: Payload, result: LoadResult, start: float) -> None:
    try:
        async with session.post(base + p.path, data=p.body, headers={"Content-Type": "text/xml"}) as resp:
            body = await resp.read()
            status = resp.status
    except Exception as exc:  # connection refused / reset: count, never crash the run
        status = type(exc).__name__
        body = b""
    result.sent += 1
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if status == 200:
        result.ok += 1
        result.latencies.append(time.perf_counter() - start)
        if not body:
            result.empty_bodies += 1


async def closed_loop(base: str, payloads: Sequence[Payload], concurrency: int) -> LoadResult:
    """`concurrency` clients each send the next payload as soon as their last one is answered."""
    import aiohttp

    result = LoadResult()
    it = iter(payloads)
    conn = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        async def worker():
            for p in it:
                await _one(session, base, p, result, time.perf_counter())

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - t0
    return result


async def open_loop(base: str, payloads: Sequence[Payload], rate: float) -> LoadResult:
    """Send at a fixed offered rate; latency counts from the scheduled send time (no coordinated omission)."""
    import aiohttp

    result = LoadResult()
    conn = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        t0 = time.perf_counter()
        tasks = []
        for i, p in enumerate(payloads):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(_one(session, base, p, result, due)))
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - t0
    return result


def run(coro):
    return asyncio.run(coro)
