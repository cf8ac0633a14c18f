"""Activities (Party organisational life, team activities, volunteering, youth outings), sign-ups
with seats and a waitlist, and attendance.

Party activities (主题党日, 党课, 组织生活会) are offered only to the Party members of the audience
(`party_only`, checked by models.policy); attendance of 主题党日 and 党课 counts in the KPI
(reports.queries.kpi, `KPI_PARTY_KINDS`).

Seats are a counter on the activity guarded by a CHECK constraint and taken with a conditional
UPDATE (`seats_taken < seats`, rowcount 1), never by counting rows in Python: that is the only
pattern that does not oversell on both SQLite and PostgreSQL (RELIABILITY.md §4). The counter
equals the number of confirmed sign-ups; the service keeps the two in the same transaction.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .org import Person, Unit

__all__ = [
    "KIND_LABELS",
    "KPI_PARTY_KINDS",
    "PARTY_ONLY_KINDS",
    "STATUS_LABELS",
    "Activity",
    "ActivityKind",
    "ActivityStatus",
    "Attendance",
    "Signup",
    "SignupStatus",
]


class ActivityKind(StrEnum):
    PARTY_DAY = "party_day"        # 主题党日
    PARTY_LESSON = "party_lesson"  # 党课
    ORG_LIFE = "org_life"          # 组织生活会
    TEAM = "team"            # 团队活动
    VOLUNTEER = "volunteer"  # 志愿服务
    YOUTH = "youth"          # 青年活动


class ActivityStatus(StrEnum):
    OPEN = "open"            # taking sign-ups
    CLOSED = "closed"        # sign-up closed by the organiser (still takes place)
    CANCELLED = "cancelled"  # will not take place


class SignupStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


KIND_LABELS = {ActivityKind.PARTY_DAY: "主题党日", ActivityKind.PARTY_LESSON: "党课", ActivityKind.ORG_LIFE: "组织生活会",
               ActivityKind.TEAM: "团队活动", ActivityKind.VOLUNTEER: "志愿服务", ActivityKind.YOUTH: "青年活动"}
# offered only to the Party members of the audience
PARTY_ONLY_KINDS = frozenset({ActivityKind.PARTY_DAY.value, ActivityKind.PARTY_LESSON.value, ActivityKind.ORG_LIFE.value})
# whose attendance counts in the secretaries' KPI (party_life)
KPI_PARTY_KINDS = frozenset({ActivityKind.PARTY_DAY.value, ActivityKind.PARTY_LESSON.value})
STATUS_LABELS = {ActivityStatus.OPEN: "报名中", ActivityStatus.CLOSED: "已截止报名",
                 ActivityStatus.CANCELLED: "已取消"}


class Activity(Base):
    __tablename__ = "activity"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default=ActivityKind.TEAM.value)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    place: Mapped[str] = mapped_column(String(200), default="")
    seats: Mapped[int | None] = mapped_column()              # None: unlimited
    seats_taken: Mapped[int] = mapped_column(default=0)      # = confirmed sign-ups
    waitlist: Mapped[bool] = mapped_column(Boolean, default=True)  # queue when full, or refuse
    deadline: Mapped[datetime] = mapped_column()             # no sign-up after this moment
    audience_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    organiser_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    status: Mapped[str] = mapped_column(String(12), default=ActivityStatus.OPEN.value)
    checkin_code: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    audience_unit: Mapped[Unit] = relationship(lazy="joined")
    organiser: Mapped[Person] = relationship(foreign_keys=[organiser_id], lazy="joined")

    __table_args__ = (
        CheckConstraint("seats_taken >= 0", name="seats_taken_nonneg"),
        CheckConstraint("seats IS NULL OR seats_taken <= seats", name="seats_taken_le_seats"),
        CheckConstraint("seats IS NULL OR seats >= 1", name="seats_positive"),
        Index("ix_activity_status_starts", "status", "starts_at"),
    )

    @property
    def scope_unit(self) -> Unit:
        """Whose secretaries and committee may manage it (models.policy): the audience subtree."""
        return self.audience_unit

    @property
    def party_only(self) -> bool:
        """Only Party members of the audience may see and join it (models.policy `activity.join`)."""
        return self.kind in PARTY_ONLY_KINDS

    @property
    def unlimited(self) -> bool:
        return self.seats is None

    @property
    def seats_left(self) -> int | None:
        return None if self.seats is None else max(0, self.seats - self.seats_taken)


class Signup(Base):
    """One person on one activity. Cancelled rows are replaced (delete + insert) on re-joining,
    so the id order is the queue order."""

    __tablename__ = "signup"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("activity_id", "person_id"),
        Index("ix_signup_activity_status", "activity_id", "status", "id"),
    )


class Attendance(Base):
    """A check-in: participation recorded for statistics (by code or by the organiser)."""

    __tablename__ = "attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    checked_in_at: Mapped[datetime] = mapped_column(default=utcnow)
    method: Mapped[str] = mapped_column(String(12))          # code | organiser
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))

    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="joined")

    __table_args__ = (UniqueConstraint("activity_id", "person_id"),)
