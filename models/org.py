"""Organisation tree, people and role assignments.

Units carry a materialised path ("/1/4/9/") so that "is X inside Y's subtree" is a string
prefix test and subtree queries are one indexed LIKE, even for 2,000 teams.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, TimestampMixin, utcnow
from .enums import Role, UnitKind


class Unit(Base, TimestampMixin):
    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(String(400), default="", index=True)
    full_name: Mapped[str] = mapped_column(String(800), default="")  # 技术公司党委/…/四车间班组
    wecom_dept_id: Mapped[int | None] = mapped_column(index=True)
    dingtalk_dept_id: Mapped[int | None] = mapped_column(index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    # loaded on access only: nothing on a hot path walks up the tree (`path` answers "is it below"),
    # and a joined parent widened every query that loads a unit, starting with each message's sender
    parent: Mapped[Unit | None] = relationship(remote_side="Unit.id")

    __table_args__ = (UniqueConstraint("full_name"),)

    def contains(self, other: Unit) -> bool:
        """True if `other` is this unit or below it."""
        return bool(self.path) and other.path.startswith(self.path)

    @property
    def unit_kind(self) -> UnitKind:
        return UnitKind(self.kind)


class Person(Base, TimestampMixin):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    name_pinyin: Mapped[str] = mapped_column(String(200), default="", index=True)
    wecom_userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    dingtalk_userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(30))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    is_party_member: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column()  # set when a full import/sync drops them

    unit: Mapped[Unit | None] = relationship(lazy="joined")
    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="person", lazy="selectin", cascade="all, delete-orphan"
    )

    def platform_id(self, platform: str) -> str | None:
        if platform in ("wecom", "sim"):
            return self.wecom_userid
        if platform == "dingtalk":
            return self.dingtalk_userid
        return None


class RoleAssignment(Base, TimestampMixin):
    __tablename__ = "role_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    # who manages this assignment: "roster" (import-roster replaces it) or "chat" (granted by an
    # admin in chat; imports never revoke it, only 撤销/revoke does)
    source: Mapped[str] = mapped_column(String(10), default="roster", server_default="roster")

    person: Mapped[Person] = relationship(back_populates="roles")
    unit: Mapped[Unit] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("person_id", "role", "unit_id"),
        Index("ix_role_assignment_role_unit", "role", "unit_id"),
    )

    @property
    def role_enum(self) -> Role:
        return Role(self.role)
