"""Read-only views (我的班组) cached for every worker: built once per roster and talks version, not once per worker.

A view is the list of text replies a read-only command produced. It is stored under a key made
of the view's name, the turn's versions (bot.identity: the roster version changes with every
write to person/unit/role_assignment, the talks version with every talk write, whatever wrote
them) and the handler's own key parts, which must name everything the answer depends on besides
the data those versions cover (quarter, day, the scope the sender's roles give). Two senders
whose parts are equal get the same answer, so the handler decides who may share it: nothing is
stored but the text the view shows. Each worker keeps what it saw or built (the same key can
never mean other data) and Redis keeps it for the other workers for `views.ttl_seconds`.
A Redis that cannot be reached only means the view is built here.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import redis

from .messages import Reply, Text

if TYPE_CHECKING:
    from .context import Context

__all__ = ["VIEW_PREFIX", "Views"]

log = logging.getLogger("lianxin.views")

VIEW_PREFIX = "lianxin:view:"


class Views:
    def __init__(self, client: redis.Redis | None, ttl: int, *, max_local: int = 10_000) -> None:
        self.r = client
        self.ttl = ttl
        self.max_local = max_local
        self._local: dict[str, list[Reply]] = {}

    def show(self, ctx: Context, name: str, parts: tuple[Hashable, ...], build: Callable[[], None]) -> None:
        """Reply with the cached view, or run `build` (which replies) and keep what it replied."""
        if not ctx.versions or any(v is None for v in ctx.versions):
            build()
            return
        key = self.key(name, ctx.versions, parts)
        cached = self._local.get(key)
        if cached is None:
            cached = self._fetch(key)
            if cached is not None:
                self._keep(key, cached)
        if cached is not None:
            ctx.replies.extend(cached)
            return
        before = len(ctx.replies)
        build()
        made = ctx.replies[before:]
        self._keep(key, made)
        if all(isinstance(r, Text) for r in made):
            self._store(key, [r.text for r in made if isinstance(r, Text)])

    @staticmethod
    def key(name: str, versions: tuple[object, ...], parts: tuple[Hashable, ...]) -> str:
        digest = hashlib.sha256(repr((versions, parts)).encode()).hexdigest()[:32]
        return f"{VIEW_PREFIX}{name}:{digest}"

    def _keep(self, key: str, replies: list[Reply]) -> None:
        if len(self._local) >= self.max_local:
            self._local.clear()
        self._local[key] = replies

    def _fetch(self, key: str) -> list[Reply] | None:
        if self.r is None:
            return None
        try:
            raw = self.r.get(key)
        except redis.exceptions.RedisError as exc:
            log.warning("views.fetch_failed", extra={"error": type(exc).__name__})
            return None
        if raw is None:
            return None
        return [Text(t) for t in json.loads(raw)]

    def _store(self, key: str, texts: list[str]) -> None:
        if self.r is None:
            return
        try:
            self.r.set(key, json.dumps(texts, ensure_ascii=False), ex=self.ttl)
        except redis.exceptions.RedisError as exc:
            log.warning("views.store_failed", extra={"error": type(exc).__name__})
