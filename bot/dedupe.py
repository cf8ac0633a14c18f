"""Duplicate deliveries are processed once: Redis SET NX with a TTL on the delivery key.

WeCom retries an unanswered delivery up to three times; the key is the MsgId for messages and
FromUserName+CreateTime+Event+EventKey+TaskId for events (the adapter builds it). The database
keeps a second layer (models.outbox.ProcessedDelivery) inside the handling transaction.

The dispatcher makes the claim inside bot.turn's start-of-turn script; `claim` here serves the
callers outside a turn (DingTalk group messages). The claim is two-phase: `claim` marks the key "in progress", `done` marks it "handled" after the
transaction committed. A repeat of a handled key is answered at once; a repeat of a key still
"in progress" goes on to the database layer, because the worker that claimed it may have died
(kill -9, OOM) before committing — then its transaction rolled back and the retry must be
processed; if that worker is alive, the per-user lock and the ProcessedDelivery row make the
repeat a duplicate there.
"""
from __future__ import annotations

import logging

import redis

log = logging.getLogger("lianxin.dispatch")

__all__ = ["Deduper"]

IN_PROGRESS = b"p"
HANDLED = b"d"


class Deduper:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.r = client
        self.ttl = ttl_seconds

    @staticmethod
    def key(platform: str, delivery_key: str) -> str:
        return f"dedupe:{platform}:{delivery_key}"

    def claim(self, platform: str, delivery_key: str) -> bool:
        """False only for a repeat of a delivery already handled within the TTL."""
        key = self.key(platform, delivery_key)
        if self.r.set(key, IN_PROGRESS, nx=True, ex=self.ttl):
            return True
        return self.r.get(key) == IN_PROGRESS  # claimed but never finished: let the DB layer decide

    def done(self, platform: str, delivery_key: str) -> None:
        """The delivery's transaction committed (or the DB layer found it handled).

        Best effort: the work is committed and the reply must still go out; if Redis is gone
        now, a repeat is caught by the ProcessedDelivery row instead.
        """
        try:
            self.r.set(self.key(platform, delivery_key), HANDLED, ex=self.ttl)
        except redis.exceptions.RedisError as exc:
            log.warning("dedupe.mark_failed", extra={"delivery": delivery_key, "error": type(exc).__name__})

    def release(self, platform: str, delivery_key: str) -> None:
        """Forget a claim whose handling failed, so the platform's retry is processed."""
        self.r.delete(self.key(platform, delivery_key))
