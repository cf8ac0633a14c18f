"""Writing to the outbox (in the caller's transaction) and the dispatcher that drains it.

Delivery policy: at-least-once with duplicate detection. A row is claimed with a lease
(claimed_until), sent, and marked sent with the platform msgid. If a dispatcher dies between
the send and the mark, the lease expires and the row is sent again; the second send is detected
(the row already had an attempt whose outcome is unknown: attempts > 0 and claimed before) and
logged as `outbox.possible_duplicate`, and for WeCom the send uses `enable_duplicate_check` with
the row's idempotent content so the platform itself drops the repeat within its 30-minute window.
"""
from __future__ import annotations

import logging
import random
import socket
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Protocol, Sequence

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from models.base import utcnow
from models.outbox import OutboxMessage, OutboxStatus

from .messages import Reply, reply_from_dict, reply_to_dict

log = logging.getLogger("lianxin.outbox")

__all__ = ["enqueue", "Dispatcher", "Sender", "SendResult", "TransientError", "PermanentError",
           "TokenExpired", "chunked"]

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
        """Send one batch; returns how many rows were attempted."""
        ids = self.claim(now)
        for row_id in ids:
            self._deliver(row_id)
        return len(ids)

    def drain(self, max_rounds: int = 1000) -> int:
        total = 0
        for _ in range(max_rounds):
            n = self.run_once()
            total += n
            if n == 0:
                break
        return total

    # delivering -----------------------------------------------------------------------------
    def _deliver(self, row_id: int) -> None:
        with self.sf() as db:
            row = db.get(OutboxMessage, row_id)
            if row is None or row.status != OutboxStatus.PENDING or row.claimed_by != self.name:
                return
            if row.attempts > 0 and row.last_error and row.last_error.startswith("in flight"):
                # the previous holder crashed after sending may have started: report it
                log.warning("outbox.possible_duplicate", extra={"outbox_id": row.id, "ref": row.ref})
            sender = self.senders[row.platform]
            reply = reply_from_dict(row.payload)
            recipients = list(row.recipients or [])
            # mark "in flight" first: a crash after this point is detectable on the next claim
            row.attempts += 1
            row.last_error = f"in flight by {self.name}"
            db.commit()
            try:
                if row.kind == "update_card":
                    result = sender.update_card(recipients, reply, row)
                else:
                    result = sender.send(recipients, reply, row)
            except TokenExpired as exc:
                self._retry(db, row, str(exc), delay=0)
                return
            except TransientError as exc:
                self._retry(db, row, str(exc), delay=exc.retry_after)
                return
            except PermanentError as exc:
                self._dead(db, row, str(exc))
                return
            except Exception as exc:  # unknown failure: retry with backoff, never lose the row
                log.exception("outbox.send_crashed", extra={"outbox_id": row.id})
                self._retry(db, row, f"{type(exc).__name__}", delay=None)
                return
            row.status = OutboxStatus.SENT
            row.sent_at = utcnow()
            row.platform_msgid = result.msgid
            if result.response_code:
                row.response_code = result.response_code
            row.invalid_users = result.invalid_users
            row.last_error = None
            row.claimed_until = None
            db.commit()
            if self.metrics:
                self.metrics.outbox_sent.labels(row.platform).inc()
            log.info("outbox.sent", extra={"outbox_id": row.id, "platform": row.platform,
                                           "msgid": result.msgid, "n": len(recipients)})

    def _retry(self, db: Session, row: OutboxMessage, error: str, delay: float | None) -> None:
        if row.attempts >= self.max_attempts:
            self._dead(db, row, error)
            return
        if delay is None:
            cap = min(self.backoff_cap, self.backoff_base * (2 ** (row.attempts - 1)))
            delay = random.uniform(cap / 2, cap)  # "equal jitter": never zero, never above the cap
        row.next_attempt_at = utcnow() + timedelta(seconds=delay)
        row.last_error = error[:500]
        row.claimed_until = None
        db.commit()
        if self.metrics:
            self.metrics.outbox_failures.labels(row.platform).inc()
        log.warning("outbox.retry", extra={"outbox_id": row.id, "attempts": row.attempts, "error": error[:200]})

    def _dead(self, db: Session, row: OutboxMessage, error: str) -> None:
        row.status = OutboxStatus.DEAD
        row.last_error = error[:500]
        row.claimed_until = None
        db.commit()
        if self.metrics:
            self.metrics.outbox_failures.labels(row.platform).inc()
        log.error("outbox.dead", extra={"outbox_id": row.id, "attempts": row.attempts, "error": error[:200]})


def resend_dead(db: Session, ids: Sequence[int] | None = None) -> int:
    """Put dead rows back in the queue (admin command)."""
    stmt = update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
    if ids:
        stmt = stmt.where(OutboxMessage.id.in_(list(ids)))
    result = db.execute(stmt.values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utcnow(),
                                    claimed_until=None, last_error=None))
    return result.rowcount or 0
