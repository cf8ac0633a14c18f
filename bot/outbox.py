"""Writing to the outbox (in the caller's transaction), and the contract between relay and senders.

The relay that drains the outbox is `bot.relay.OutboxRelay` (delivery policy there); pacing per
recipient is `bot.pacing`, the per-platform circuit breaker `bot.breaker`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Table, insert, update
from sqlalchemy.orm import Session

from models.base import utcnow
from models.db import rowcount
from models.outbox import OutboxMessage, OutboxStatus, Priority

from .messages import Reply, reply_to_dict

T = TypeVar("T")

__all__ = [
    "WECOM_MAX_RECIPIENTS",
    "PermanentError",
    "Priority",
    "RateLimited",
    "SendResult",
    "Sender",
    "TokenExpired",
    "TransientError",
    "chunked",
    "enqueue",
    "enqueue_now",
    "outbox_rows",
    "resend_dead",
    "write_rows",
]

WECOM_MAX_RECIPIENTS = 1000


def chunked(items: Sequence[T], size: int) -> Iterable[list[T]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


def enqueue(db: Session, *, platform: str, recipients: Sequence[str], reply: Reply,
            kind: str = "send", ref: str = "", idem_key: str | None = None,
            response_code: str | None = None, batch: int = WECOM_MAX_RECIPIENTS,
            priority: int = Priority.NORMAL, not_before: datetime | None = None) -> list[OutboxMessage]:
    """Add outbox rows to the current transaction, one per batch of ≤ `batch` recipients;
    `not_before` holds them back (scheduled mass sends are spread, see bot.pacing.spread_time)."""
    rows: list[OutboxMessage] = []
    recipients = list(dict.fromkeys(r for r in recipients if r))
    if not recipients and kind == "send":
        return rows
    for n, part in enumerate(chunked(recipients, batch) if recipients else [[]]):
        key = f"{idem_key}#{n}" if idem_key else None
        row = OutboxMessage(platform=platform, kind=kind, recipients=part, payload=reply_to_dict(reply),
                            ref=ref, idem_key=key, response_code=response_code, priority=priority)
        if not_before is not None:
            row.next_attempt_at = not_before
        db.add(row)
        rows.append(row)
    return rows


def outbox_rows(*, platform: str, recipients: Sequence[str], reply: Reply, kind: str = "send", ref: str = "",
                idem_key: str | None = None, response_code: str | None = None, priority: int = Priority.NORMAL,
                not_before: datetime | None = None) -> list[dict[str, Any]]:
    """The rows `enqueue` would add, as values for one Core INSERT (`write_rows`)."""
    recipients = list(dict.fromkeys(r for r in recipients if r))
    if not recipients and kind == "send":
        return []
    payload = reply_to_dict(reply)
    return [{"platform": platform, "kind": kind, "recipients": part, "payload": payload, "ref": ref,
             "idem_key": f"{idem_key}#{n}" if idem_key else None, "response_code": response_code,
             "priority": priority, "next_attempt_at": not_before or utcnow()}
            for n, part in enumerate(chunked(recipients, WECOM_MAX_RECIPIENTS) if recipients else [[]])]


_INSERT = insert(cast(Table, OutboxMessage.__table__))   # built once (a Core statement: no unit of work, no RETURNING)


def write_rows(db: Session, rows: list[dict[str, Any]]) -> int:
    """Write outbox rows at once in one INSERT (the payload still encrypted by its column type).
    The session's pending objects are flushed first, so rows keep the order they were queued in."""
    if rows:
        db.flush()
        db.connection().execute(_INSERT, rows[0] if len(rows) == 1 else rows)   # one row: no executemany
    return len(rows)


def enqueue_now(db: Session, **kwargs: Any) -> int:
    """`enqueue` without ORM objects, for the turn's hot path where nobody reads the rows back as
    objects (the dispatcher's replies and card updates, ctx.notify); returns how many rows."""
    return write_rows(db, outbox_rows(**kwargs))


# --- the sender contract -------------------------------------------------------------------------

@dataclass
class SendResult:
    msgid: str | None = None
    response_code: str | None = None
    invalid_users: str | None = None


class TransientError(Exception):
    """Retry later (network error, timeout, 5xx). `retry_after` overrides the backoff. Except for
    its two subclasses, each one counts towards opening the platform's circuit breaker."""

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


def resend_dead(db: Session, ids: Sequence[int] | None = None) -> int:
    """Put dead rows back in the queue (admin command)."""
    stmt = update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
    if ids:
        stmt = stmt.where(OutboxMessage.id.in_(list(ids)))
    result = db.execute(stmt.values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utcnow(),
                                    claimed_until=None, claimed_by=None, last_error=None))
    return rowcount(result)
