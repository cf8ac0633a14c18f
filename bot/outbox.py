"""Writing to the outbox (in the caller's transaction) and the dispatcher that drains it.

Delivery policy: at-least-once, with every possible duplicate detected and logged.
1. claim: a lease on due rows (claimed_by, claimed_until), FOR UPDATE SKIP LOCKED on PostgreSQL,
   BEGIN IMMEDIATE on SQLite; a live dispatcher never outlives its lease (lease 120 s ≫ HTTP
   timeout 5 s + one token refresh).
2. before the HTTP call the row is committed as "in flight" (attempts + 1). If the process dies
   between the send and the mark, the lease expires and another dispatcher re-claims the row;
   it sees the "in flight" marker (or an "unknown outcome" read timeout), logs
   `outbox.possible_duplicate`, sends again and notes the suspicion on the row (last_error of a
   sent row). Losing a message is worse than a rare repeat, so we re-send rather than drop.
3. the repeat is harmless on WeCom: message/send goes out with enable_duplicate_check=1 and the
   same body (same task_id for cards), and WeCom drops an identical message to the same user
   within duplicate_check_interval (1,800 s ≫ the lease).
4. the mark is conditional on still holding the claim (claimed_by = me); a dispatcher that lost
   its lease logs `outbox.lease_lost` instead of overwriting the new holder's outcome.
Errors: TokenExpired → the sender already refreshed (single flight) and retried once; the row is
retried at once. RateLimited → this platform pauses for retry_after and the rest of the batch
for it is released without using an attempt. TransientError → capped exponential backoff with
jitter. PermanentError or max_attempts → dead (admins: 死信 / 重发).
"""
from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from models.base import utcnow
from models.outbox import OutboxMessage, OutboxStatus

from .messages import Reply, reply_from_dict, reply_to_dict

log = logging.getLogger("lianxin.outbox")

__all__ = [
    "Dispatcher",
    "PermanentError",
    "RateLimited",
    "SendResult",
    "Sender",
    "TokenExpired",
    "TransientError",
    "chunked",
    "enqueue",
    "resend_dead",
]

WECOM_MAX_RECIPIENTS = 1000


def chunked(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


def enqueue(db: Session, *, platform: str, recipients: Sequence[str], reply: Reply,
            kind: str = "send", ref: str = "", idem_key: str | None = None,
            response_code: str | None = None, batch: int = WECOM_MAX_RECIPIENTS) -> list[OutboxMessage]:
    """Add outbox rows to the current transaction, one per batch of ≤ `batch` recipients."""
    rows = []
    recipients = list(dict.fromkeys(r for r in recipients if r))
    if not recipients and kind == "send":
        return rows
    for n, part in enumerate(chunked(recipients, batch) if recipients else [[]]):
        key = f"{idem_key}#{n}" if idem_key else None
        row = OutboxMessage(platform=platform, kind=kind, recipients=part, payload=reply_to_dict(reply),
                            ref=ref, idem_key=key, response_code=response_code)
        db.add(row)
        rows.append(row)
    return rows


# --- sending -----------------------------------------------------------------------------------

@dataclass
class SendResult:
    msgid: str | None = None
    response_code: str | None = None
    invalid_users: str | None = None


class TransientError(Exception):
    """Retry later (network error, 5xx, rate limit). `retry_after` overrides the backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The platform throttles us (WeCom 45009/45033/-1): pause the platform, not just the row."""


class TokenExpired(TransientError):
    """The access token was rejected; the sender refreshes it and the row is retried at once."""


class PermanentError(Exception):
    """The platform refused the message for good (bad recipient list, bad card)."""


class Sender(Protocol):
    def send(self, recipients: list[str], reply: Reply, row: OutboxMessage) -> SendResult: ...
    def update_card(self, recipients: list[str], reply: Reply, row: OutboxMessage) -> SendResult: ...


class Dispatcher:
    """Claims due rows, sends them through the platform senders, records the outcome."""

    def __init__(self, session_factory: sessionmaker[Session], senders: dict[str, Sender], *,
                 max_attempts: int = 8, batch_size: int = 50, backoff_base: float = 2.0,
                 backoff_cap: float = 600.0, lease_seconds: int = 120, name: str | None = None,
                 metrics=None) -> None:
        self.sf = session_factory
        self.senders = senders
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.lease = timedelta(seconds=lease_seconds)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.metrics = metrics

    # claiming -------------------------------------------------------------------------------
    def claim(self, now: datetime | None = None) -> list[int]:
        """Take a lease on up to batch_size due rows; safe with many dispatchers."""
        now = now or utcnow()
        until = now + self.lease
        with self.sf() as db, db.begin():
            due = and_(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= now,
                OutboxMessage.platform.in_(list(self.senders)),
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            if db.bind.dialect.name == "postgresql":
                ids = db.scalars(
                    select(OutboxMessage.id).where(due).order_by(OutboxMessage.id)
                    .limit(self.batch_size).with_for_update(skip_locked=True)
                ).all()
                if ids:
                    db.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                               .values(claimed_by=self.name, claimed_until=until))
                return list(ids)
            # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so select+update is atomic.
            ids = db.scalars(select(OutboxMessage.id).where(due).order_by(OutboxMessage.id)
                             .limit(self.batch_size)).all()
            if ids:
                db.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                           .values(claimed_by=self.name, claimed_until=until))
            return list(ids)

    def run_once(self, now: datetime | None = None) -> int:
        """Send one batch; returns how many rows were claimed (sent, retried, or released on a rate limit)."""
        now = now or utcnow()
        ids = self.claim(now)
        paused: dict[str, datetime] = {}
        attempted = 0
        for row_id in ids:
            attempted += 1
            self._deliver(row_id, now, paused)
        return attempted

    def run_forever(self, stop: threading.Event, poll: float = 2.0) -> None:
        """Relay loop for a process or thread: send what is due, sleep `poll` when idle, never die."""
        while not stop.is_set():
            try:
                if self.run_once() == 0:
                    stop.wait(poll)
            except Exception:
                log.exception("outbox.loop_error")
                stop.wait(poll * 5)

    def drain(self, max_rounds: int = 1000, now: datetime | None = None) -> int:
        total = 0
        for _ in range(max_rounds):
            n = self.run_once(now)
            total += n
            if n == 0:
                break
        return total

    # delivering -----------------------------------------------------------------------------
    def start(self, row_id: int, now: datetime) -> OutboxMessage | None:
        """Commit the "in flight" marker; returns the row (detached) or None if not ours."""
        with self.sf() as db:
            row = db.get(OutboxMessage, row_id)
            if row is None or row.status != OutboxStatus.PENDING or row.claimed_by != self.name:
                return None
            suspect = bool(row.attempts > 0 and row.last_error
                           and row.last_error.startswith(("in flight", "unknown outcome")))
            if suspect:
                # the previous attempt may have reached the platform: say so, then send again
                log.warning("outbox.possible_duplicate", extra={"outbox_id": row.id, "ref": row.ref,
                                                                "previous": row.last_error[:120]})
            # conditional on still holding the claim, and the lease renewed from now: a batch that
            # took long must not send a row another dispatcher has re-claimed meanwhile
            started = max(now, utcnow())
            res = db.execute(update(OutboxMessage)
                             .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.name,
                                    OutboxMessage.status == OutboxStatus.PENDING,
                                    OutboxMessage.attempts == row.attempts)
                             .values(attempts=OutboxMessage.attempts + 1, last_error=f"in flight by {self.name}",
                                     claimed_until=started + self.lease)
                             .execution_options(synchronize_session=False))
            db.commit()
            if res.rowcount != 1:
                return None
            db.refresh(row)
            row.suspect_duplicate = suspect  # type: ignore[attr-defined]  (transient, not a column)
            return row

    def send(self, row: OutboxMessage):
        sender = self.senders[row.platform]
        reply = reply_from_dict(row.payload)
        recipients = list(row.recipients or [])
        if row.kind == "update_card":
            return sender.update_card(recipients, reply, row)
        return sender.send(recipients, reply, row)

    def _deliver(self, row_id: int, now: datetime, paused: dict[str, datetime]) -> None:
        with self.sf() as db:
            platform = db.scalar(select(OutboxMessage.platform).where(OutboxMessage.id == row_id))
        if platform in paused:
            self._release(row_id, paused[platform])
            return
        row = self.start(row_id, now)
        if row is None:
            return
        try:
            result = self.send(row)
        except TokenExpired as exc:
            self._retry(row, str(exc), delay=0, now=now)
            return
        except RateLimited as exc:
            delay = exc.retry_after if exc.retry_after is not None else 60
            paused[row.platform] = now + timedelta(seconds=delay)
            self._retry(row, str(exc), delay=delay, now=now)
            return
        except TransientError as exc:
            self._retry(row, str(exc), delay=exc.retry_after, now=now)
            return
        except PermanentError as exc:
            error = str(exc)
            if getattr(row, "suspect_duplicate", False):
                # e.g. a card re-sent with the same task_id: the first attempt may well have arrived
                error = f"refused after an attempt with unknown outcome (may have been delivered): {error}"
            self._dead(row, error)
            return
        except Exception as exc:  # unknown failure: retry with backoff, never lose the row
            log.exception("outbox.send_crashed", extra={"outbox_id": row.id})
            self._retry(row, f"{type(exc).__name__}", delay=None, now=now)
            return
        self.mark_sent(row, result)

    def mark_sent(self, row: OutboxMessage, result: SendResult) -> bool:
        note = None
        if getattr(row, "suspect_duplicate", False):
            note = "possible duplicate: an earlier attempt's outcome was unknown (resent)"
        values = dict(status=OutboxStatus.SENT, sent_at=utcnow(), platform_msgid=result.msgid,
                      invalid_users=result.invalid_users, last_error=note, claimed_until=None)
        if result.response_code:
            values["response_code"] = result.response_code
        ok = self._update_mine(row, values)
        if not ok:
            log.error("outbox.lease_lost", extra={"outbox_id": row.id, "msgid": result.msgid})
            return False
        if self.metrics:
            self.metrics.outbox_sent.labels(row.platform).inc()
        log.info("outbox.sent", extra={"outbox_id": row.id, "platform": row.platform,
                                       "msgid": result.msgid, "n": len(row.recipients or [])})
        return True

    def _update_mine(self, row: OutboxMessage, values: dict) -> bool:
        with self.sf() as db, db.begin():
            res = db.execute(update(OutboxMessage).where(OutboxMessage.id == row.id,
                                                         OutboxMessage.claimed_by == self.name,
                                                         OutboxMessage.status == OutboxStatus.PENDING)
                             .values(**values))
            return res.rowcount == 1

    def _release(self, row_id: int, until: datetime) -> None:
        """Give a claimed row back without using an attempt (platform paused by a rate limit)."""
        with self.sf() as db, db.begin():
            db.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == self.name)
                       .values(claimed_until=None, next_attempt_at=until))

    def backoff(self, attempts: int) -> float:
        cap = min(self.backoff_cap, self.backoff_base * (2 ** max(attempts - 1, 0)))
        return random.uniform(cap / 2, cap)  # "equal jitter": never zero, never above the cap

    def _retry(self, row: OutboxMessage, error: str, delay: float | None, now: datetime) -> None:
        if row.attempts >= self.max_attempts:
            self._dead(row, error)
            return
        if delay is None:
            delay = self.backoff(row.attempts)
        self._update_mine(row, dict(next_attempt_at=now + timedelta(seconds=delay), last_error=error[:500],
                                    claimed_until=None))
        if self.metrics:
            self.metrics.outbox_failures.labels(row.platform).inc()
        log.warning("outbox.retry", extra={"outbox_id": row.id, "attempts": row.attempts, "error": error[:200],
                                           "delay": round(delay, 1)})

    def _dead(self, row: OutboxMessage, error: str) -> None:
        self._update_mine(row, dict(status=OutboxStatus.DEAD, last_error=error[:500], claimed_until=None))
        if self.metrics:
            self.metrics.outbox_failures.labels(row.platform).inc()
        log.error("outbox.dead", extra={"outbox_id": row.id, "attempts": row.attempts, "error": error[:200]})


def resend_dead(db: Session, ids: Sequence[int] | None = None) -> int:
    """Put dead rows back in the queue (admin command)."""
    stmt = update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
    if ids:
        stmt = stmt.where(OutboxMessage.id.in_(list(ids)))
    result = db.execute(stmt.values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utcnow(),
                                    claimed_until=None, claimed_by=None, last_error=None))
    return result.rowcount or 0
