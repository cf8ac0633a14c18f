"""The sender of a turn without a database query: a per-worker cache checked against the roster version.

Every turn used to load the sender with unit and roles from the database (~1 ms of a read-only
turn's ~3). Now each worker keeps what it loaded (a miss: one Core statement, load_sender), stamped
with the roster version that the turn gate's begin script returns (bot.turn, the same round trip as
the dedupe claim). The version is a token in Redis (ROSTER_VERSION_KEY) replaced whenever a
transaction that wrote `person`, `unit` or `role_assignment` commits, whatever wrote it — roster
import, WeCom or DingTalk sync, grant, revoke, deactivation, the demo seed, a hand-written UPDATE
through the app's engine — because the watcher below looks at the statements themselves, not at a
list of call sites. A stamp that differs from the current version reloads the sender, so
authorization is decided on current data: the turn after a revoke's reply is answered with the roles
as they are now, on every worker.

The token is replaced before the commit and again after it (when the connection returns to the
pool): a worker that loaded between the two saw the old rows under the first token, and the second
one invalidates it. Tokens are random (never reused), so a Redis that lost its memory cannot bring
back an old stamp. An entry also expires after `max_age` seconds, a bound for writes made by a
process that has no watcher (another program writing the tables directly).
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy import bindparam, event, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, joinedload, sessionmaker

from models.org import Person, RoleAssignment

from .roster_snapshot import ROWS, RosterSnapshot, build_people, build_snapshot

if TYPE_CHECKING:
    from .config import Config

__all__ = ["ROSTER_TABLES", "ROSTER_VERSION_KEY", "TALKS_VERSION_KEY", "VERSIONED", "Identities",
           "bump_roster_version", "load_sender", "person_for", "roster_engine", "watch_roster"]

log = logging.getLogger("lianxin.identity")

ROSTER_VERSION_KEY = "roster:version"
TALKS_VERSION_KEY = "talks:version"     # cached views that count talks (我的班组) follow this one too
ROSTER_TABLES = frozenset({"person", "unit", "role_assignment"})
VERSIONED = {**dict.fromkeys(ROSTER_TABLES, ROSTER_VERSION_KEY), "talk": TALKS_VERSION_KEY}
_WRITE = re.compile(r'\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
# Replaced before the commit as well as after it: the roster (authorization; see the module's text).
# The talks version only after it (one Redis round trip fewer on every talk save): a worker that
# dies between its commit and that bump leaves 我的班组 a talk behind until the next talk written
# anywhere, or views.ttl_seconds.
_BEFORE_TOO = frozenset({ROSTER_VERSION_KEY})
_DIRTY = "lianxin_roster_dirty"
_BUMP_AFTER = "lianxin_roster_bump_after"
_TARGET = "_lianxin_roster_redis"
_MAX_CLIENTS = 8

_WITH_ROLES = select(Person).options(joinedload(Person.roles))
_SENDER = {  # built once: the statement runs on every cache miss
    "dingtalk": _WITH_ROLES.where(Person.dingtalk_userid == bindparam("uid")),
    "wecom": _WITH_ROLES.where(Person.wecom_userid == bindparam("uid")),
}
# WeCom returns user ids lower-cased in some answers; matched case-insensitively as a fallback
_SENDER_ANY_CASE = _WITH_ROLES.where(func.lower(Person.wecom_userid) == bindparam("uid"))


def person_for(db: Session, platform: str, user_id: str) -> Person | None:
    """The active sender with unit and roles, in one query."""
    person = db.scalars(_SENDER.get(platform, _SENDER["wecom"]), {"uid": user_id}).unique().first()
    if person is None and platform != "dingtalk":
        person = db.scalars(_SENDER_ANY_CASE, {"uid": user_id.lower()}).unique().first()
    return person if person is not None and person.active else None


_PC, _BY_ROLE = Person.__table__.c, ROWS.order_by(RoleAssignment.__table__.c.id)
_ROWS_BY = {"dingtalk": _BY_ROLE.where(_PC.dingtalk_userid == bindparam("uid")),
            "wecom": _BY_ROLE.where(_PC.wecom_userid == bindparam("uid"))}
_ROWS_ANY_CASE = _BY_ROLE.where(func.lower(_PC.wecom_userid) == bindparam("uid"))
_ACTIVE = list(_PC.keys()).index("active")


def load_sender(conn: Connection, platform: str, user_id: str) -> Person | None:
    """person_for without the ORM's loading: one Core statement, the objects built from its rows.

    The same detached objects (person, its unit, its roles and their units, every column loaded,
    nothing pending) for ~30 % less CPU than the relationship load (0.30 against 0.43 ms on the
    bench host, PostgreSQL): every sender new to a worker costs one (a sign-up storm's every click)."""
    rows = conn.execute(_ROWS_BY.get(platform, _ROWS_BY["wecom"]), {"uid": user_id}).all()
    if not rows and platform != "dingtalk":
        rows = conn.execute(_ROWS_ANY_CASE, {"uid": user_id.lower()}).all()
    rows = [r for r in rows if r[0] == rows[0][0]]   # any case: the first person only
    if not rows or not rows[0][_ACTIVE]:
        return None
    return build_people(rows)[0]


def bump_roster_version(client: redis.Redis, keys: Iterable[str] = (ROSTER_VERSION_KEY,)) -> None:
    token = uuid.uuid4().hex
    client.mset(dict.fromkeys(keys, token))


def watch_roster(engine: Engine, client: redis.Redis) -> None:
    """Replace the roster version whenever a transaction on `engine` that wrote a roster table commits.

    One watcher per engine (it also covers engine.execution_options() copies, which share the
    engine's events); every Redis client registered for the engine is told (a process normally has
    one; tests and tools that build several Services on one engine must not see stale senders)."""
    target: list[redis.Redis] | None = getattr(engine, _TARGET, None)
    if target is not None:
        if not any(c is client for c in target):
            target.append(client)
            del target[:-_MAX_CLIENTS]      # a long-lived engine with many short-lived Services
        return
    target = [client]
    setattr(engine, _TARGET, target)

    def before_commit(conn: Connection) -> None:
        keys = conn.info.pop(_DIRTY, None)
        if keys:
            clients = list(target)
            before = _BEFORE_TOO & keys   # the talks version only after the commit: see _BEFORE_TOO
            if before:
                for c in clients:
                    _bump(c, before)
            conn.info[_BUMP_AFTER] = (clients, keys)

    event.listen(engine, "before_cursor_execute", _note_write)
    event.listen(engine, "commit", before_commit)
    event.listen(engine, "rollback", _forget)
    event.listen(engine, "checkin", _after_commit)   # engine-level: survives the pool's recreation


def roster_engine(config: Config) -> Engine:
    """An engine for a command-line process that writes the roster (import, sync, demo seed)."""
    from models.db import make_engine

    from .redis_client import make_redis

    engine = make_engine(config.database_url)
    watch_roster(engine, make_redis(config.redis_url))
    return engine


def _note_write(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    m = _WRITE.match(statement)
    key = VERSIONED.get(m.group(1).lower()) if m is not None else None
    if key is not None:
        conn.info.setdefault(_DIRTY, set()).add(key)


def _bump(client: redis.Redis, keys: Iterable[str]) -> None:
    """A Redis that cannot be told refuses the turns too (503), and one that restarted empty has
    lost every version anyway; a worker that still reaches a Redis this writer cannot reach is
    covered by the cache's max_age. So a failed bump is logged, and the write goes on."""
    try:
        bump_roster_version(client, tuple(keys))
    except redis.exceptions.RedisError as exc:
        log.warning("roster.version_bump_failed", extra={"error": type(exc).__name__})


def _forget(conn: Connection) -> None:
    if not conn.invalidated:   # a dropped connection has no info to clear (and raises on access)
        conn.info.pop(_DIRTY, None)


def _after_commit(dbapi_conn: Any, record: Any) -> None:
    """The connection came back to the pool: its transaction has committed (or rolled back)."""
    pending = record.info.pop(_BUMP_AFTER, None)
    if pending is not None:
        clients, keys = pending
        for c in clients:
            _bump(c, keys)


class Identities:
    """Per-worker cache of senders: the roster snapshot of the turn's version (bot.roster_snapshot),
    else (platform, user id) → (roster version, loaded at, Person or None), loaded one by one.

    The Person objects are detached and shared by the worker's threads: read them, never attach
    them to a session (the dispatcher merges a copy into the turn's session when it opens one)."""

    def __init__(self, session_factory: sessionmaker[Session], *, max_age: float = 300.0,
                 max_entries: int = 50_000, snapshot_interval: float = 30.0, snapshot_people: int = 50_000) -> None:
        self.sf = session_factory
        self.engine: Engine | None = session_factory.kw.get("bind")
        self.max_age = max_age
        self.max_entries = max_entries
        self.snapshot_interval = snapshot_interval
        self.snapshot_people = snapshot_people
        self._cache: dict[tuple[str, str], tuple[object, float, Person | None]] = {}
        self._snapshot: RosterSnapshot | None = None
        self._last_build = float("-inf")
        self._building = threading.Lock()

    def sender(self, platform: str, user_id: str, version: object) -> Person | None:
        snapshot = self.snapshot(version)
        if snapshot is not None:
            return snapshot.sender(platform, user_id)
        key = (platform, user_id)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] == version and now - hit[1] < self.max_age:
            return hit[2]
        person = self._load(platform, user_id)
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[key] = (version, now, person)
        return person

    def snapshot(self, version: object) -> RosterSnapshot | None:
        """The roster snapshot of `version`: the one kept, or one built now unless the last build
        is under `snapshot_interval` seconds old (or another thread is building); else None."""
        if version is None or self.snapshot_people <= 0:
            return None
        now = time.monotonic()
        kept = self._snapshot
        if kept is not None and kept.version == version and now - kept.built < self.max_age:
            return kept
        if now - self._last_build < self.snapshot_interval or not self._building.acquire(blocking=False):
            return None
        try:
            self._last_build = now
            with self._connect() as conn:
                self._snapshot = build_snapshot(conn, version, self.snapshot_people)
            if self._snapshot is not None:
                log.info("roster.snapshot_built", extra={"people": len(self._snapshot),
                                                         "ms": round((time.monotonic() - now) * 1000, 1)})
            return self._snapshot
        finally:
            self._building.release()

    def _load(self, platform: str, user_id: str) -> Person | None:
        with self._connect() as conn:
            return load_sender(conn, platform, user_id)

    def _connect(self) -> AbstractContextManager[Connection]:
        if self.engine is None:   # a factory without a bind (tools): through a session
            return _session_connection(self.sf)
        return self.engine.connect()


@contextmanager
def _session_connection(sf: sessionmaker[Session]) -> Iterator[Connection]:
    with sf() as db:
        yield db.connection()
