"""Leader election: only the instance holding the lock runs an APScheduler (and its job store).

APScheduler 3.x must not share a job store between running schedulers (FAQ; agronholm #231),
so every `lianxin scheduler` instance stands by until it wins the lock, and steps down (stops its
scheduler) when it loses it.

- PostgreSQL: a session-level advisory lock on a dedicated connection. No expiry to tune; the
  server releases it when the session dies (process killed, network cut), and the holder checks
  its connection and its lock at every heartbeat.
- Otherwise, with a Redis server configured: a Redis lock with a TTL, extended at every
  heartbeat (token-checked by redis-py); failing to extend means stepping down. A TTL lock is a
  lease: a process paused longer than the TTL may wake up still running jobs, which is why each
  job occurrence is also claimed in the database (models/jobrun.py).
- SQLite without Redis (the embedded default, one host by nature): an flock() on a file next
  to the database, released by the kernel when the process dies. (The in-process fakeredis
  would not be seen by a second process.)
"""
from __future__ import annotations

import fcntl
import logging
import os
import uuid
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("lianxin.scheduler")

__all__ = ["FileLeader", "Leader", "PgAdvisoryLeader", "RedisLeader", "make_leader"]

# "lianxin" in ASCII: one constant advisory-lock key for the scheduler of this database
ADVISORY_KEY = 0x6C69616E78696E


class Leader(Protocol):
    name: str

    def acquire(self) -> bool: ...      # non-blocking; True if we now hold the lock
    def refresh(self) -> bool: ...      # heartbeat; False means we lost it: step down at once
    def release(self) -> None: ...


class PgAdvisoryLeader:
    def __init__(self, engine: Engine, key: int = ADVISORY_KEY) -> None:
        self.engine = engine
        self.key = key
        self.name = "postgres-advisory"
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return self.refresh()
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            conn.commit()
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def refresh(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = :k"),
                {"k": self.key}).scalar()
            self._conn.commit()
        except Exception:
            log.warning("scheduler.leader_connection_lost", exc_info=True)
            self._drop()
            return False
        if not held:
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._conn.commit()
        except Exception:
            log.warning("scheduler.leader_unlock_failed", exc_info=True)
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()   # never hand a session that may still hold the lock back to the pool
                conn.close()
            except Exception:
                pass


class RedisLeader:
    def __init__(self, redis, name: str = "lianxin:scheduler:leader", ttl: float = 30.0) -> None:
        self.redis = redis
        self.key = name
        self.ttl = ttl
        self.name = "redis-lock"
        self._lock = None

    def acquire(self) -> bool:
        if self._lock is not None:
            return self.refresh()
        # a fresh Lock object per attempt, with its own token (avoids "already acquired" states)
        lock = self.redis.lock(self.key, timeout=self.ttl, blocking=False, thread_local=False)
        if lock.acquire(blocking=False, token=uuid.uuid4().hex):
            self._lock = lock
            return True
        return False

    def refresh(self) -> bool:
        if self._lock is None:
            return False
        try:
            self._lock.reacquire()          # token-checked: fails if the lease expired and was taken
            return True
        except Exception:
            log.warning("scheduler.leader_lease_lost", exc_info=True)
            self._lock = None
            return False

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            try:
                lock.release()
            except Exception:
                log.info("scheduler.leader_release_not_owned")


class FileLeader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.name = "file-lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def refresh(self) -> bool:
        return self._fd is not None          # the kernel holds it until release or death

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def make_leader(engine: Engine, redis, kind: str = "auto", ttl: float = 30.0, *, redis_url: str = "") -> Leader:
    """`auto`: PostgreSQL → advisory lock; a Redis server → Redis lease; SQLite file → file lock."""
    if kind == "auto":
        database = engine.url.database or ""
        if engine.dialect.name == "postgresql":
            kind = "postgres"
        elif redis_url or engine.dialect.name != "sqlite" or database in ("", ":memory:"):
            kind = "redis"
        else:
            kind = "file"
    if kind == "postgres":
        return PgAdvisoryLeader(engine)
    if kind == "redis":
        return RedisLeader(redis, ttl=ttl)
    if kind == "file":
        return FileLeader(os.path.abspath(engine.url.database or "") + ".scheduler.lock")
    from bot.config import ConfigError

    raise ConfigError(f"setting scheduler.leader: expected auto, postgres, redis or file, got {kind!r}")
