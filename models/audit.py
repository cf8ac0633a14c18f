"""Append-only audit log: who did or read what, when, through which command. Never note text."""
from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ForeignKey, Index, String, Table, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))           # read, create, update, role_grant, authz_fail…
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64), default="")
    via: Mapped[str] = mapped_column(String(60), default="")  # command or job name
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    detail: Mapped[str] = mapped_column(String(500), default="")

    __table_args__ = (Index("ix_audit_event_target", "target_type", "target_id"),)


def audit(session: Session, *, actor_id: int | None, action: str, target_type: str,
          target_id: object = "", via: str = "", outcome: str = "ok", detail: str = "") -> AuditEvent:
    """Add an audit row to the caller's transaction (written together with the change)."""
    row = AuditEvent(**audit_values(actor_id=actor_id, action=action, target_type=target_type, target_id=target_id,
                                    via=via, outcome=outcome, detail=detail))
    session.add(row)
    return row


def audit_values(*, actor_id: int | None, action: str, target_type: str, target_id: object = "", via: str = "",
                 outcome: str = "ok", detail: str = "") -> dict[str, Any]:
    """One audit row's values, for `write_audits`."""
    return {"actor_id": actor_id, "action": action, "target_type": target_type, "target_id": str(target_id),
            "via": via, "outcome": outcome, "detail": detail[:500], "at": utcnow()}


_INSERT = insert(cast(Table, AuditEvent.__table__))   # built once: a Core statement, no unit of work


def write_audits(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write audit rows at once in one INSERT (a hot path's rows: a saved talk, a batch of sign-ups);
    the actors are existing people, so nothing pending has to be flushed first."""
    if rows:
        session.connection().execute(_INSERT, rows[0] if len(rows) == 1 else rows)   # one row: no executemany
