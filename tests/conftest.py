"""Shared fixtures: configs, both storage stacks, the WeCom platform double and the simulator.

Storage: `stack` runs a test twice, on the embedded default (SQLite file + fakeredis) and on
the real servers (PostgreSQL 127.0.0.1:5432/test, Redis 127.0.0.1:6379). Each test process gets
its own PostgreSQL database and its own Redis db number, so parallel runs do not collide.
When the servers are unreachable the "servers" variants skip, unless LIANXIN_REQUIRE_SERVERS=1
(set by .ci/run), where they fail.
"""
from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import models
from bot.config import load_config
from bot.context import Clock
from models.crypto import configure_keys, generate_key
from models.db import make_engine
from models.seal import configure_seal_keys
from tests.helpers import SimDriver, WeComPlatform

PG_ADMIN_URL = os.environ.get("LIANXIN_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_HOST = os.environ.get("LIANXIN_TEST_REDIS_HOST", "127.0.0.1")
REQUIRE = os.environ.get("LIANXIN_REQUIRE_SERVERS") == "1"
NOTES_KEY = generate_key()
SEAL_KEY = generate_key()

# fixtures shared beyond one module live in plugin modules (requested by name, never imported)
pytest_plugins = ["tests.dingtalk_helpers", "tests.dingtalk_stream_helpers", "tests.workers"]


def require_or_skip(what: str) -> None:
    """Skip a test whose server or binary is missing, or fail it where CI requires everything."""
    if REQUIRE:
        pytest.fail(f"{what} is required (LIANXIN_REQUIRE_SERVERS=1)")
    pytest.skip(f"{what} is not available")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _notes_key():
    os.environ.pop("LIANXIN_NOTES_KEYS", None)
    configure_keys([NOTES_KEY])
    configure_seal_keys([SEAL_KEY])
    yield


# --- frozen clock ----------------------------------------------------------------------------

class FrozenClock(Clock):
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at if at.tzinfo else at.replace(tzinfo=UTC)

    def advance(self, **kw) -> None:
        self.at += timedelta(**kw)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


# --- PostgreSQL and Redis servers --------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_url():
    if not _reachable("127.0.0.1", 5432):
        require_or_skip("PostgreSQL on 127.0.0.1:5432")
    name = f"lianxin_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        _drop_stale_test_databases(conn)
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # a throwaway test database: no fsync wait on every commit
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    # Dropping forces a checkpoint (10+ s); the next session drops it instead (its pid is gone).
    admin.dispose()


def _drop_stale_test_databases(conn) -> None:
    names = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE 'lianxin_test_%'")).scalars().all()
    for db in names:
        try:
            pid = int(db.split("_")[2])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid() or _pid_alive(pid):
            continue
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db}"'))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def pg_engine(pg_url):
    # one engine for the whole session: tests that drop connections (test_reliability.py) must not
    # leave a dead one for the next test's setup, so this engine tests every connection before use
    engine = make_engine(pg_url, pool_size=20, ping_after_idle=0)
    models.Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_db():
    """A Redis db number claimed for this test process (db 0 holds the claims)."""
    import redis

    if not _reachable(REDIS_HOST, 6379):
        require_or_skip(f"Redis on {REDIS_HOST}:6379")
    admin = redis.Redis(host=REDIS_HOST, port=6379, db=0)
    for n in range(1, 16):
        if admin.set(f"lianxin:testdb:{n}", os.getpid(), nx=True, ex=3600):
            yield n
            admin.delete(f"lianxin:testdb:{n}")
            return
    pytest.skip("no free Redis db for tests")


@pytest.fixture
def real_redis(redis_db):
    import redis

    client = redis.Redis(host=REDIS_HOST, port=6379, db=redis_db)
    client.flushdb()
    yield client
    client.flushdb()


def truncate_all(engine) -> None:
    """Empty every table and restart ids. DELETE is ~10x faster than TRUNCATE on small tables."""
    tables = [t.name for t in models.Base.metadata.sorted_tables]
    with engine.begin() as conn:
        for t in reversed(tables):
            conn.execute(text(f'DELETE FROM "{t}"'))
        if engine.dialect.name == "postgresql":
            seqs = conn.execute(text("SELECT sequence_name FROM information_schema.sequences "
                                     "WHERE sequence_schema = 'public'")).scalars().all()
            for seq in seqs:
                conn.execute(text(f'ALTER SEQUENCE "{seq}" RESTART WITH 1'))


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'lianxin.db'}")
    models.Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def fake_redis():
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


# --- the stack: embedded default or real servers -----------------------------------------------

@pytest.fixture(params=["embedded", "servers"])
def stack(request, tmp_path):
    """(engine, redis client) on SQLite+fakeredis, then on PostgreSQL+Redis."""
    if request.param == "embedded":
        engine = request.getfixturevalue("sqlite_engine")
        return engine, request.getfixturevalue("fake_redis")
    engine = request.getfixturevalue("pg_engine")
    truncate_all(engine)
    return engine, request.getfixturevalue("real_redis")


@pytest.fixture
def embedded(sqlite_engine, fake_redis):
    return sqlite_engine, fake_redis


@pytest.fixture
def db_factory(stack):
    """A session factory on the stack's database (empty schema, no demo seed)."""
    from models.db import make_session_factory

    engine, _ = stack
    return make_session_factory(engine)


def make_config(db_url: str = "sqlite:///:memory:", **overrides):
    base = load_config(Path(__file__).resolve().parent.parent / "config.yaml", env={})
    values = {"database.url": db_url, "redis.url": "", "delivery.platforms": ["sim"],
              "server.simulator": True, "wecom.secret": "test-secret-0123456789",
              "quiet.hours": "off",   # tests run at any hour; quiet-hour tests turn it on
              "sampling.share": 0,    # no random 回访 cards; the sampling tests turn it on
              "inbound.max_turns": 0,   # per-user turn limit off: scripted users type faster than people
              "outbox.spread_window_seconds": 0}  # scheduled sends leave at once (tests/delivery/test_relay.py spreads)
    values.update(overrides)
    return base.with_overrides(values)


@pytest.fixture
def config_overrides() -> dict:
    """Override in a test module to change settings for the `services` fixture."""
    return {}


@pytest.fixture
def services(stack, clock, config_overrides):
    from bot.cli.demo import seed_demo
    from bot.cli.wiring import build_services
    from models.db import make_session_factory, session_scope

    engine, r = stack
    config = make_config(engine.url.render_as_string(hide_password=False), **config_overrides)
    svc = build_services(config, redis_client=r, clock=clock, engine=engine)
    with session_scope(make_session_factory(engine)) as db:
        seed_demo(db)
    return svc


@pytest.fixture
def app(services):
    from bot.cli.wiring import create_app

    return create_app(services.config, services=services)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def wecom(client, services, clock):
    """A WeCom server double: encrypts deliveries exactly as WeCom does, decrypts our replies."""
    return WeComPlatform(client, services.config, clock)


@pytest.fixture
def api():
    """The WeCom server API faked with `responses` (records sends and card updates)."""
    import responses

    from tests.helpers import FakeWeComAPI

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeWeComAPI(rsps)


@pytest.fixture
def sim(services):
    """Transcript driver over the simulator platform (same dispatcher, passive cards)."""
    return SimDriver(services)


@pytest.fixture
def seeded(services, clock):
    """`services` with the hand-seeded talks, cases, learning and activities of tests/seeded_data.py, at its NOW."""
    from models.db import session_scope
    from tests.seeded_data import NOW, seed

    clock.set(NOW)
    with session_scope(services.session_factory) as db:
        seed(db)
    return services
