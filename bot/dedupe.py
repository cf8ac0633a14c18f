"""Duplicate deliveries are processed once: Redis SET NX with a TTL on the delivery key.

WeCom retries an unanswered delivery up to three times; the key is the MsgId for messages and
FromUserName+CreateTime+Event+EventKey+TaskId for events (the adapter builds it). For turns that
change the database, the database keeps a second layer (models.outbox.ProcessedDelivery) in the
turn's own transaction.

The claim is two-phase: it marks the key "in progress", and the end of the turn marks it
"handled" after the transaction committed (the dispatcher does both inside bot.turn's scripts;
`claim` here serves callers outside a turn, such as DingTalk group messages). A repeat of a
handled key is refused at once. A repeat of a key still "in progress" goes on: it waits for the
user's lock, and if the first worker finishes meanwhile the handled mark refuses it; if that
worker died (kill -9, OOM) before committing, its transaction rolled back and the retry must be
processed, which it then is.
"""
from __future__ import annotations

import redis

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

    def release(self, platform: str, delivery_key: str) -> None:
        """Forget a claim whose handling failed, so the platform's retry is processed."""
        self.r.delete(self.key(platform, delivery_key))
