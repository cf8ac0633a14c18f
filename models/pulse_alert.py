"""共性问题 alerts: one row per (team, category, window) so the alert job fires once, and the
item (a case) the branch secretary may turn it into. No talk, no person and no note is kept here."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .org import Unit

__all__ = ["CONCERN", "PulseAlert"]

CONCERN = "concern"     # the category of a "波动+严重 share rose two quarters in a row" alert


class PulseAlert(Base):
    __tablename__ = "pulse_alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))         # a talk Category value, or CONCERN
    window: Mapped[str] = mapped_column(String(20))           # "2026-11-29/30" (flags) or "2026Q4" (concern)
    flags: Mapped[int] = mapped_column(default=0)             # flagged talks counted (0 for concern)
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("care_case.id"))   # once turned into an item

    team: Mapped[Unit] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("team_id", "category", "window"),)

    @property
    def scope_unit(self) -> Unit:
        """The branch secretary covering the team may see and act on it (models.policy)."""
        return self.team
