"""心声: an employee's own concern to their branch, named or sealed-anonymous.

A voice is an item for the branch secretary with an SLA, a reply and a close, like a case. An
anonymous voice stores no sender at all; `VoiceSeal` holds the sealed mapping (models.seal) and
is read by the reply delivery only. Unit is the branch, never the team (a team of seven would
nearly name the sender).
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .crypto import EncryptedText
from .org import Person, Unit

__all__ = ["STATE_LABELS", "Voice", "VoiceSeal", "VoiceState"]


class VoiceState(StrEnum):
    OPEN = "open"          # 待回复
    REPLIED = "replied"    # 已回复
    CLOSED = "closed"      # 已办结


STATE_LABELS = {VoiceState.OPEN: "待回复", VoiceState.REPLIED: "已回复", VoiceState.CLOSED: "已办结"}


class Voice(Base):
    __tablename__ = "voice"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)      # the branch it goes to
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))      # named voices only
    text: Mapped[str] = mapped_column(EncryptedText)
    state: Mapped[str] = mapped_column(String(10), default=VoiceState.OPEN.value)
    sla_since: Mapped[datetime] = mapped_column(default=utcnow)
    sla_step: Mapped[int] = mapped_column(default=0)   # 0 none sent, 1 reminder sent, 2 escalated
    replied_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    reply: Mapped[str | None] = mapped_column(EncryptedText)
    replied_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(EncryptedText)
    closed_at: Mapped[datetime | None] = mapped_column()

    unit: Mapped[Unit] = relationship(lazy="joined")
    sender: Mapped[Person | None] = relationship(foreign_keys=[sender_id])
    replied_by: Mapped[Person | None] = relationship(foreign_keys=[replied_by_id])

    __table_args__ = (Index("ix_voice_state_sla", "state", "sla_since"),)

    @property
    def scope_unit(self) -> Unit:
        """Whose secretaries handle it: the branch."""
        return self.unit

    @property
    def state_label(self) -> str:
        return STATE_LABELS[VoiceState(self.state)]


class VoiceSeal(Base):
    """The sealed sender of one voice (named and anonymous alike, so rows do not tell them apart)."""

    __tablename__ = "voice_seal"

    voice_id: Mapped[int] = mapped_column(ForeignKey("voice.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(Text)                       # models.seal.seal(voice_id, person_id)
    sender_tag: Mapped[str] = mapped_column(String(64), index=True)  # models.seal.sender_tag(person_id)
