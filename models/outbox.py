"""Transactional outbox: every message caused by a database change is a row here first.

Rows are written in the same transaction as the change; `bot.relay.OutboxRelay` claims them
(FOR UPDATE SKIP LOCKED on PostgreSQL, a conditional UPDATE on SQLite), most urgent first,
sends, and marks them.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow
from .crypto import EncryptedJSON


class Priority:
    """Claim order: lower first. Urgent: flag cards, approvals, SLA escalations; bulk: digests,
    reminders, activity broadcasts; normal: everything else (replies, card updates)."""

    URGENT = 0
    NORMAL = 1
    BULK = 2
    NAMES = {0: "urgent", 1: "normal", 2: "bulk"}


class OutboxStatus:
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"
    MERGED = "merged"   # coalesced into another row (last_error names it); never sent itself


class OutboxMessage(Base):
    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    platform: Mapped[str] = mapped_column(String(20))            # wecom, dingtalk, sim
    kind: Mapped[str] = mapped_column(String(20), default="send")  # send, update_card
    recipients: Mapped[list] = mapped_column(JSON, default=list)  # platform user ids (≤ 1,000 for WeCom)
    payload: Mapped[dict] = mapped_column(EncryptedJSON)         # serialised bot.messages Reply, encrypted
    ref: Mapped[str] = mapped_column(String(80), default="", index=True)  # e.g. "case:12", "activity:3"
    idem_key: Mapped[str | None] = mapped_column(String(160))    # optional: enqueue once
    status: Mapped[str] = mapped_column(String(10), default=OutboxStatus.PENDING)
    priority: Mapped[int] = mapped_column(default=1, server_default="1")  # 0 urgent, 1 normal, 2 bulk
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)  # also "not before" (spread mass sends)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    platform_msgid: Mapped[str | None] = mapped_column(String(128))
    response_code: Mapped[str | None] = mapped_column(String(256))  # WeCom: one card update
    invalid_users: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
        Index("ix_outbox_message_claim", "status", "priority", "id"),
        UniqueConstraint("idem_key"),
    )


class ProcessedDelivery(Base):
    """Second dedupe layer: an inbound delivery key, inserted in the handling transaction."""

    __tablename__ = "processed_delivery"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SeenSignature(Base):
    """A callback signature seen once, bound to the delivery it came with (replay refusal).

    DingTalk's robot callback signs only its timestamp, so the (timestamp, sign) pair could be
    replayed with another body; bot.replay records each pair here as well as in Redis."""

    __tablename__ = "seen_signature"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)   # sha256 of platform|timestamp|sign
    delivery: Mapped[str] = mapped_column(String(200))                # the first delivery (msgId) it came with
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
