"""A callback signature is accepted once: a (timestamp, sign) pair seen before is refused.

DingTalk's robot callback signs the timestamp only (sign = HMAC(appSecret, timestamp + "\\n" +
appSecret)), not the body. A captured pair was therefore valid with any other body for as long
as the timestamp stayed fresh: a replayed header with the admin's id and "授权 …" in the body
granted a role. Each pair is now bound to the first delivery (msgId) it came with:

* the same pair with the same msgId is the platform repeating that delivery: it goes on to the
  msgId dedupe (bot.turn), which answers it once;
* the same pair with another msgId is a replay: refused.

Like the WeCom dedupe, Redis answers first (SET NX with the window's TTL) and the database
keeps a second record (models.outbox.SeenSignature), consulted when Redis has no key for the
pair, so a Redis restart or eviction does not reopen the window. Rows older than the window are
deleted now and then by the inserts themselves (no scheduler job needed).
"""
from __future__ import annotations

import hashlib
import logging
import random
from datetime import timedelta

import redis
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from models.base import utcnow
from models.outbox import SeenSignature

__all__ = ["SignatureGuard"]

log = logging.getLogger("lianxin.replay")

PURGE_ONE_IN = 64


class SignatureGuard:
    def __init__(self, client: redis.Redis, session_factory: sessionmaker[Session], window_seconds: int) -> None:
        self.r = client
        self.sf = session_factory
        # a pair is acceptable while its timestamp is within ±window of our clock: remember it
        # for both halves, plus a minute for clock steps
        self.ttl = 2 * window_seconds + 60

    @staticmethod
    def key(platform: str, timestamp: str, signature: str) -> str:
        return hashlib.sha256(f"{platform}|{timestamp}|{signature}".encode()).hexdigest()

    def claim(self, platform: str, timestamp: str, signature: str, delivery: str) -> bool:
        """True when the pair is new, or was first seen with this same delivery; False: a replay."""
        key = self.key(platform, timestamp, signature)
        delivery = delivery[:200]
        try:
            if not self.r.set(f"sigseen:{key}", delivery, nx=True, ex=self.ttl):
                first = self.r.get(f"sigseen:{key}")
                if first is not None:
                    return first.decode() == delivery
        except redis.exceptions.RedisError as exc:
            log.warning("replay.redis_unavailable", extra={"error": type(exc).__name__})
        return self._claim_in_db(key, delivery)

    def _claim_in_db(self, key: str, delivery: str) -> bool:
        with self.sf() as db:
            try:
                db.add(SeenSignature(key=key, delivery=delivery))
                if random.randrange(PURGE_ONE_IN) == 0:
                    db.execute(delete(SeenSignature).where(SeenSignature.at < utcnow() - timedelta(seconds=self.ttl)))
                db.commit()
                return True
            except IntegrityError:
                db.rollback()
                first = db.scalar(select(SeenSignature.delivery).where(SeenSignature.key == key))
                if first == delivery:
                    return True
        log.warning("replay.refused_from_database", extra={"key": key[:12]})
        return False
