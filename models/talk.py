"""Talk and home-visit records (谈心谈话/走访). Summary and needs are encrypted at rest."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .crypto import EncryptedText
from .org import Person, Unit


class TalkKind(StrEnum):
    QUARTERLY = "quarterly"     # 季度谈心
    SPECIAL = "special"         # 专项谈话
    HOME_VISIT = "home_visit"   # 走访/家访


class Mood(StrEnum):
    STABLE = "stable"                  # 稳定
    SOME_CONCERN = "some_concern"      # 有些波动
    SERIOUS_CONCERN = "serious_concern"  # 波动较大


class Flag(StrEnum):
    NONE = "none"       # 无
    WATCH = "watch"     # 关注
    URGENT = "urgent"   # 紧急


class Category(StrEnum):
    PAY = "pay"               # 薪酬绩效
    FAMILY = "family"         # 家庭
    HEALTH = "health"         # 健康
    WORKLOAD = "workload"     # 工作负荷
    RELATIONS = "relations"   # 人际关系
    OTHER = "other"           # 其他


KIND_LABELS = {TalkKind.QUARTERLY: "季度谈心", TalkKind.SPECIAL: "专项谈话", TalkKind.HOME_VISIT: "走访"}
MOOD_LABELS = {Mood.STABLE: "稳定", Mood.SOME_CONCERN: "有些波动", Mood.SERIOUS_CONCERN: "波动较大"}
FLAG_LABELS = {Flag.NONE: "无", Flag.WATCH: "关注", Flag.URGENT: "紧急"}
CATEGORY_LABELS = {Category.PAY: "薪酬绩效", Category.FAMILY: "家庭", Category.HEALTH: "健康",
                   Category.WORKLOAD: "工作负荷", Category.RELATIONS: "人际关系", Category.OTHER: "其他"}


def quarter_of(moment: datetime, tz: str = "Asia/Shanghai") -> str:
    """"2026Q4" for a moment, in the company's time zone (quarter boundaries are local)."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


class Talk(Base):
    __tablename__ = "talk"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column()
    quarter: Mapped[str] = mapped_column(String(7))
    summary: Mapped[str] = mapped_column(EncryptedText)
    mood: Mapped[str] = mapped_column(String(20), default=Mood.STABLE.value)
    flag: Mapped[str] = mapped_column(String(10), default=Flag.NONE.value)
    category: Mapped[str | None] = mapped_column(String(20))
    needs: Mapped[str | None] = mapped_column(EncryptedText)
    follows_up_id: Mapped[int | None] = mapped_column(ForeignKey("talk.id"))
    version: Mapped[int] = mapped_column(default=1)
    # 抽查回访: the subject said it did not happen; kept, marked, left out of coverage until resolved
    disputed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # 补录原因: why a talk was entered more than talks.late_after_days after it happened
    late_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    author: Mapped[Person] = relationship(foreign_keys=[author_id], lazy="joined")
    subject: Mapped[Person] = relationship(foreign_keys=[subject_id], lazy="joined")

    __table_args__ = (
        Index("ix_talk_subject_quarter", "subject_id", "quarter"),
        Index("ix_talk_quarter_subject", "quarter", "subject_id"),
        Index("ix_talk_subject_occurred", "subject_id", "occurred_at"),  # last talk per person
        Index("ix_talk_flag", "flag", "created_at"),
    )

    @property
    def scope_unit(self) -> Unit | None:
        """The unit whose secretaries and committee may read this talk: the subject's unit."""
        return self.subject.unit if self.subject else None


class TalkVersion(Base):
    """Every edit keeps the previous content (encrypted) with who changed it and when."""

    __tablename__ = "talk_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talk.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column()
    edited_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    edited_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(EncryptedText)
    mood: Mapped[str] = mapped_column(String(20))
    flag: Mapped[str] = mapped_column(String(10))
    category: Mapped[str | None] = mapped_column(String(20))
    needs: Mapped[str | None] = mapped_column(EncryptedText)

    __table_args__ = (UniqueConstraint("talk_id", "version"),)
