"""Duplicate deliveries are processed once: Redis SET NX with a TTL on the delivery key.

WeCom retries an unanswered delivery up to three times; the key is the MsgId for messages and
FromUserName+CreateTime+Event+EventKey+TaskId for events (the adapter builds it). The database
keeps a second layer (models.outbox.ProcessedDelivery) inside the handling transaction.
"""
from __future__ import annotations

import redis

__all__ = ["Deduper"]


class Deduper:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.r = client
        self.ttl = ttl_seconds

    def claim(self, platform: str, delivery_key: str) -> bool:
        """True for the first delivery of this key, False for every repeat within the TTL."""
        return bool(self.r.set(f"dedupe:{platform}:{delivery_key}", b"1", nx=True, ex=self.ttl))

    def release(self, platform: str, delivery_key: str) -> None:
        """Forget a claim whose handling failed, so the platform's retry is processed."""
        self.r.delete(f"dedupe:{platform}:{delivery_key}")
