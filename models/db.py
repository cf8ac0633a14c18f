"""Engine and session setup shared by the web app, the scheduler and the CLI.

SQLite gets WAL and a busy timeout (writers are serialised, readers are not blocked) and a
real BEGIN on every transaction, because pysqlite's legacy mode does not begin before a SELECT.
Bind parameters are hidden from error messages so that talk notes never reach a log.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["is_sqlite", "make_engine", "make_session_factory", "read_session_factory", "session_scope"]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


PING_AFTER_IDLE_SECONDS = 5.0


def make_engine(url: str, echo: bool = False, pool_size: int = 10,
                ping_after_idle: float = PING_AFTER_IDLE_SECONDS) -> Engine:
    kwargs: dict = {"echo": echo, "hide_parameters": True, "future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=20, pool_recycle=1800)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        _configure_sqlite(engine)
    else:
        _ping_idle_connections(engine, ping_after_idle)
    return engine


def _ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection before use only if it sat idle for `idle_seconds`.

    pool_pre_ping would test it on every checkout: one more round trip per chat message (the
    text path's largest fixed cost after the sender lookup, bench/README.md). A connection in
    use every few milliseconds is tested by its use instead: if PostgreSQL dropped it, that
    request fails cleanly (the webhook answers 503 and the platform retries) and SQLAlchemy
    invalidates every connection of the pool opened before the failure, so only the first
    request per worker meets a dead connection. Connections left idle (a quiet night, a
    restart or failover meanwhile, a firewall's idle timeout) are tested first, as before.
    """
    import time

    from sqlalchemy import exc

    @event.listens_for(engine, "checkin")
    def _stamp(dbapi_conn, record):  # pragma: no cover - trivial
        record.info["lianxin_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, proxy):
        since = record.info.get("lianxin_idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_conn.rollback()
        except Exception:
            raise exc.DisconnectionError("connection lost while idle") from None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - trivial
        dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cur = dbapi_conn.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    # Threads of this process queue on a lock before BEGIN IMMEDIATE instead of in SQLite's busy
    # handler, which sleeps up to 100 ms per retry: under a burst (2,000 sign-up clicks) that left
    # the database idle while waiters slept, and the slowest clicks took seconds. Other processes
    # still meet SQLite's own lock and busy_timeout, as before.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - trivial
        # IMMEDIATE takes the write lock up front: read-then-write transactions cannot
        # interleave and fail with "database is locked" half-way.
        if writer.acquire(timeout=30):
            conn.info["lianxin_writer"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _release(conn):  # pragma: no cover - trivial
        if conn.info.pop("lianxin_writer", False):
            writer.release()

    @event.listens_for(engine.pool, "checkin")
    def _checkin(_dbapi_conn, record):  # pragma: no cover - safety net for an abandoned transaction
        if record.info.pop("lianxin_writer", False):
            writer.release()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reading only. PostgreSQL: autocommit connections, so no BEGIN and no COMMIT or
    ROLLBACK round trip around the reads (each statement sees the data committed when it runs).
    SQLite keeps ordinary transactions: pysqlite's autocommit switch leaves a pooled connection
    in its legacy transaction mode afterwards, and the embedded stack is not the fast one."""
    bind = engine if is_sqlite(engine) else engine.execution_options(isolation_level="AUTOCOMMIT")
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=False, future=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit on success, roll back on any error; domain code never commits itself."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
