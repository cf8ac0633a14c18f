"""Learning materials (两学一做, 网络课堂): a material published to an audience subtree, and who read it.

A `Material` carries a title, a category (两学一做, 党史, 业务, 安全 …), a text, optionally a link
or a file reference (a name or a WeCom media id kept as text; the bot does not store files) and
optionally a deadline (the daily digest reminds those who have not studied it before then). Its
audience is a unit: everybody in that unit's subtree may open it. `MaterialRead` records, once
per person and material (UNIQUE), when the person first opened it, when they marked it studied
and their short reflection (心得, at most REFLECTION_MAX characters).

Completion statistics live in reports.queries.learning; the queries of the learning chat in handlers/learning/service.py.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .org import Person, Unit

__all__ = ["CATEGORIES", "CATEGORY_MAX", "DEFAULT_CATEGORY", "REFLECTION_MAX", "Material", "MaterialRead"]

CATEGORIES = ("两学一做", "党史", "业务", "安全", "其他")   # offered as buttons; a short own word is accepted too
DEFAULT_CATEGORY = "其他"
CATEGORY_MAX = 20
REFLECTION_MAX = 500


class Material(Base):
    __tablename__ = "material"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(CATEGORY_MAX), default=DEFAULT_CATEGORY,
                                          server_default=DEFAULT_CATEGORY)
    text: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(1000))
    file_ref: Mapped[str | None] = mapped_column(String(500))
    audience_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    publisher_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    published_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    deadline: Mapped[datetime | None] = mapped_column(index=True)   # study by then (UTC); None: no deadline

    audience_unit: Mapped[Unit] = relationship(lazy="joined")
    publisher: Mapped[Person] = relationship(lazy="joined")

    @property
    def scope_unit(self) -> Unit:
        """The unit whose secretaries / committee see this material's statistics."""
        return self.audience_unit


class MaterialRead(Base):
    __tablename__ = "material_read"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id", ondelete="CASCADE"), index=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    studied_at: Mapped[datetime | None] = mapped_column()
    reflection: Mapped[str | None] = mapped_column(Text)            # 心得, ≤ REFLECTION_MAX characters

    __table_args__ = (
        UniqueConstraint("person_id", "material_id"),
        Index("ix_material_read_material_studied", "material_id", "studied_at"),
    )
