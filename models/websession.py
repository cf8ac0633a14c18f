"""Dashboard sessions and spent login links, in the database so that logout and single use hold.

The browser's signed cookie carries a random session id; only its SHA-256 is stored, so a copy of
this table opens nothing. Logout ends the row, which every request checks. A login link's nonce is
recorded on first use (primary key): the link stays spent even if Redis is flushed or restarted.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base, utcnow

__all__ = ["DashboardSession", "SpentLoginLink", "end_session", "find_session", "spend_login_link", "start_session"]


class DashboardSession(Base):
    __tablename__ = "dashboard_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)     # sha256 of the cookie's id
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None] = mapped_column()                     # logout


class SpentLoginLink(Base):
    __tablename__ = "dashboard_login_spent"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)               # after this the token is dead anyway


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def spend_login_link(db: Session, nonce: str, *, ttl_seconds: int, now: datetime | None = None) -> bool:
    """Record the link's nonce; False if it was used before (commits on success)."""
    now = now or utcnow()
    db.execute(delete(SpentLoginLink).where(SpentLoginLink.expires_at < now))
    db.add(SpentLoginLink(nonce=nonce[:64], used_at=now, expires_at=now + timedelta(seconds=ttl_seconds + 60)))
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return False
    return True


def start_session(db: Session, person_id: int, *, hours: float, now: datetime | None = None) -> str:
    """A new session for `person_id`; returns the id for the cookie (the caller commits)."""
    now = now or utcnow()
    db.execute(delete(DashboardSession).where(DashboardSession.expires_at < now))
    session_id = secrets.token_urlsafe(32)
    db.add(DashboardSession(id_hash=_hash(session_id), person_id=person_id, created_at=now,
                            expires_at=now + timedelta(hours=hours)))
    return session_id


def find_session(db: Session, session_id: str, now: datetime | None = None) -> DashboardSession | None:
    """The live session with this id, or None (unknown, ended or expired)."""
    row = db.scalars(select(DashboardSession).where(DashboardSession.id_hash == _hash(session_id))).first()
    if row is None or row.ended_at is not None or row.expires_at <= (now or utcnow()):
        return None
    return row


def end_session(db: Session, session_id: str, now: datetime | None = None) -> bool:
    row = find_session(db, session_id, now)
    if row is None:
        return False
    row.ended_at = now or utcnow()
    return True
