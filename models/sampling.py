"""抽查回访: a sample of saved talks is confirmed by the employee in one tap (notes never shown).

One `TalkCheck` per sampled talk. The employee answers 属实 (confirmed) or 没有这次谈话 (denied);
a denial marks the talk `disputed` (left out of coverage) and waits for the branch secretary to
resolve it; silence past the answer window counts as no answer (computed, not stored).
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .crypto import EncryptedText
from .org import Person, Unit
from .talk import Talk

__all__ = ["CheckState", "TalkCheck"]


class CheckState(StrEnum):
    PENDING = "pending"        # card sent, no answer yet
    CONFIRMED = "confirmed"    # 属实
    DENIED = "denied"          # 没有这次谈话 (waits for the secretary)
    RESOLVED = "resolved"      # denied, then resolved by the secretary


class TalkCheck(Base):
    __tablename__ = "talk_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talk.id", ondelete="CASCADE"), unique=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)        # the subject's team
    quarter: Mapped[str] = mapped_column(String(7), index=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(10), default=CheckState.PENDING.value)
    answered_at: Mapped[datetime | None] = mapped_column()
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolution: Mapped[str | None] = mapped_column(EncryptedText)

    talk: Mapped[Talk] = relationship(lazy="joined")
    unit: Mapped[Unit] = relationship(lazy="joined")
    subject: Mapped[Person] = relationship(foreign_keys=[subject_id], lazy="joined")
    author: Mapped[Person] = relationship(foreign_keys=[author_id], lazy="joined")

    @property
    def scope_unit(self) -> Unit:
        """Whose secretaries resolve a denial: the subject's team (so its branch)."""
        return self.unit
