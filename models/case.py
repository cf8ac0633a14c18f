"""Care items (关爱事项; the table keeps its first name, care_case): one flagged talk or one care
request, followed from report to a closed outcome.

A care request has a type, an optional amount and an approval chain: the roles whose approval it
needs, level after level (`approval_chain`, `approval_step`), chosen at submission from the
declared table in config (handlers/cases/chain.py). One level's approval is one conditional
UPDATE on (id, state, approval_step), so the first approver of a level wins.

A case moves through a checked state table (`TRANSITIONS`); every move is one conditional
UPDATE ... WHERE state = :expected whose rowcount is checked, so two approvers clicking at the
same moment, or WeCom replaying a click, change the state exactly once (SQLite ignores
FOR UPDATE; the conditional UPDATE works on both backends). `CaseEvent` is the append-only
history: who, when, from which state to which, and a comment.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from .base import Base, utcnow
from .crypto import EncryptedText
from .enums import Role
from .org import Person, Unit

__all__ = [
    "CARE_REASONS",
    "CARE_TYPES",
    "OPEN_STATES",
    "STATE_LABELS",
    "TRANSITIONS",
    "Case",
    "CaseEvent",
    "CaseState",
    "InvalidTransition",
    "add_event",
    "approve_level",
    "move",
]


class CaseState(StrEnum):
    REPORTED = "reported"                # 已上报（待书记确认）
    ACKNOWLEDGED = "acknowledged"        # 已确认
    FOLLOW_UP = "follow_up"              # 跟进谈话中
    CARE_REQUESTED = "care_requested"    # 关爱申请待审批
    APPROVED = "approved"                # 已同意（待指派帮扶人）
    REJECTED = "rejected"                # 已驳回
    HELPER_ASSIGNED = "helper_assigned"  # 已指派帮扶人
    IN_PROGRESS = "in_progress"          # 帮扶中
    CLOSED = "closed"                    # 已结案


S = CaseState
STATE_LABELS = {
    S.REPORTED: "待确认", S.ACKNOWLEDGED: "已确认", S.FOLLOW_UP: "跟进谈话中", S.CARE_REQUESTED: "关爱申请待审批",
    S.APPROVED: "已同意·待指派帮扶人", S.REJECTED: "已驳回", S.HELPER_ASSIGNED: "已指派帮扶人",
    S.IN_PROGRESS: "帮扶中", S.CLOSED: "已结案",
}

# care request types (DESIGN §3.3); 慰问 has a reason
CARE_TYPES = {"hardship": "困难帮扶", "condolence": "慰问", "counselling": "心理疏导", "schooling": "子女就学",
              "other": "其他"}
CARE_REASONS = {"illness": "生病住院", "bereavement": "丧事", "childbirth": "生育"}

# from-state → allowed to-states
TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    S.REPORTED: frozenset({S.ACKNOWLEDGED, S.FOLLOW_UP, S.CARE_REQUESTED, S.CLOSED}),
    S.ACKNOWLEDGED: frozenset({S.FOLLOW_UP, S.CARE_REQUESTED, S.CLOSED}),
    S.FOLLOW_UP: frozenset({S.CARE_REQUESTED, S.CLOSED}),
    S.CARE_REQUESTED: frozenset({S.APPROVED, S.REJECTED, S.ACKNOWLEDGED}),   # → acknowledged: 撤回
    S.APPROVED: frozenset({S.HELPER_ASSIGNED}),
    S.REJECTED: frozenset({S.CARE_REQUESTED, S.CLOSED}),
    # → approved: the helper left (handover), the secretary assigns another
    S.HELPER_ASSIGNED: frozenset({S.IN_PROGRESS, S.HELPER_ASSIGNED, S.APPROVED, S.CLOSED}),
    S.IN_PROGRESS: frozenset({S.HELPER_ASSIGNED, S.APPROVED, S.CLOSED}),
    S.CLOSED: frozenset(),
}
OPEN_STATES = tuple(s.value for s in CaseState if s is not S.CLOSED)


class InvalidTransition(ValueError):
    """The requested step is not allowed from the case's current state (message is user-facing)."""


class Case(Base):
    __tablename__ = "care_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    talk_id: Mapped[int | None] = mapped_column(ForeignKey("talk.id"), unique=True)  # one case per flagged talk
    subject_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)  # subject's unit when opened
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    flag: Mapped[str] = mapped_column(String(10), default="watch")          # models.talk.Flag
    category: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default=S.REPORTED.value)
    state_since: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))   # who must act now (None: a group)
    secretary_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))  # who handles it
    helper_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    # SLA bookkeeping: the clock restarts at each transition (and at each progress report)
    sla_since: Mapped[datetime] = mapped_column(default=utcnow)
    sla_step: Mapped[int] = mapped_column(default=0)   # 0 none sent, 1 reminder sent, 2 escalated
    # care request
    need: Mapped[str | None] = mapped_column(EncryptedText)
    decision: Mapped[str | None] = mapped_column(String(10))    # approved / rejected
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    reject_reason: Mapped[str | None] = mapped_column(EncryptedText)
    outcome: Mapped[str | None] = mapped_column(EncryptedText)
    closed_at: Mapped[datetime | None] = mapped_column()
    # care request details and approval chain
    care_type: Mapped[str | None] = mapped_column(String(20))     # CARE_TYPES
    care_reason: Mapped[str | None] = mapped_column(String(20))   # CARE_REASONS (慰问)
    amount: Mapped[int | None] = mapped_column()                  # yuan
    youth: Mapped[bool] = mapped_column(Boolean, default=False)   # 团员 / under 35: may route to 团委
    discreet: Mapped[bool] = mapped_column(Boolean, default=False)  # the subject is not told
    media_ids: Mapped[list | None] = mapped_column(JSON, default=list)   # photos of documents (platform media ids)
    approval_chain: Mapped[str | None] = mapped_column(String(80))  # "committee,union"
    approval_step: Mapped[int] = mapped_column(default=0)         # levels approved so far
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))  # hears back on ack / close
    nudged_at: Mapped[datetime | None] = mapped_column()          # last 催办

    subject: Mapped[Person] = relationship(foreign_keys=[subject_id], lazy="joined")
    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id], lazy="joined")
    helper: Mapped[Person | None] = relationship(foreign_keys=[helper_id])
    secretary: Mapped[Person | None] = relationship(foreign_keys=[secretary_id])
    holder: Mapped[Person | None] = relationship(foreign_keys=[holder_id])
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id])
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id",
                                                     lazy="selectin")

    __table_args__ = (Index("ix_case_state_since", "state", "sla_since"),)

    @property
    def scope_unit(self) -> Unit:
        """Whose secretaries and committee may see and handle it: the subject's unit."""
        return self.unit

    @property
    def chain(self) -> tuple[Role, ...]:
        return tuple(Role(r) for r in (self.approval_chain or "committee").split(",") if r)

    @property
    def approval_roles(self) -> tuple[Role, ...]:
        return self.chain

    @property
    def approver_role(self) -> Role:
        """The role whose approval the request waits for now (the last level once decided)."""
        chain = self.chain
        return chain[min(self.approval_step, len(chain) - 1)]

    @property
    def case_state(self) -> CaseState:
        return CaseState(self.state)

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.case_state]


class CaseEvent(Base):
    """Append-only: rows are only ever inserted (no update/delete in the code base)."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("care_case.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))   # None: the system (SLA job)
    kind: Mapped[str] = mapped_column(String(20), default="transition")  # transition, progress, reminder, escalation
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(EncryptedText)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[Person | None] = relationship(lazy="joined")


def check_transition(frm: str, to: str) -> None:
    a, b = CaseState(frm), CaseState(to)
    if b not in TRANSITIONS[a]:
        if a is S.CLOSED:
            raise InvalidTransition("该事项已结案，不能再变更。")
        raise InvalidTransition(f"该事项当前状态为「{STATE_LABELS[a]}」，不能转为「{STATE_LABELS[b]}」。")


def move(db: Session, case: Case, to: CaseState | str, *, actor: Person | None, now: datetime,
         comment: str | None = None, expected: CaseState | str | None = None, step: int | None = None,
         **values) -> bool:
    """Move `case` to `to` if it is still in `expected` (default: the state we read).

    `step`: also require this approval_step (a decision at one approval level).
    Returns False (and changes nothing) if another transaction moved it first; raises
    InvalidTransition if the step is not in the table. On success the event is recorded and
    `case` is refreshed from the database.
    """
    to = CaseState(to).value
    frm = CaseState(expected or case.state).value
    check_transition(frm, to)
    where = [Case.id == case.id, Case.state == frm] + ([Case.approval_step == step] if step is not None else [])
    result = db.execute(
        update(Case).where(*where)
        .values(state=to, state_since=now, sla_since=now, sla_step=0, version=Case.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.refresh(case)
        return False
    db.add(CaseEvent(case_id=case.id, at=now, actor_id=actor.id if actor else None, kind="transition",
                     from_state=frm, to_state=to, comment=comment))
    db.flush()
    db.refresh(case)
    return True


def add_event(db: Session, case: Case, *, kind: str, actor: Person | None, now: datetime,
              comment: str | None = None) -> CaseEvent:
    """A history entry without a state change (progress report, reminder, escalation)."""
    ev = CaseEvent(case_id=case.id, at=now, actor_id=actor.id if actor else None, kind=kind,
                   from_state=case.state, to_state=case.state, comment=comment)
    db.add(ev)
    db.flush()
    return ev


def approve_level(db: Session, case: Case, step: int, *, actor: Person, now: datetime, comment: str) -> bool:
    """Approve level `step` of a care request that has more levels after it; False if someone of
    that level decided first (or the request moved on)."""
    result = db.execute(
        update(Case).where(Case.id == case.id, Case.state == S.CARE_REQUESTED.value, Case.approval_step == step)
        .values(approval_step=step + 1, sla_since=now, sla_step=0, version=Case.version + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.refresh(case)
        return False
    db.add(CaseEvent(case_id=case.id, at=now, actor_id=actor.id, kind="approval", from_state=S.CARE_REQUESTED.value,
                     to_state=S.CARE_REQUESTED.value, comment=comment))
    db.flush()
    db.refresh(case)
    return True
