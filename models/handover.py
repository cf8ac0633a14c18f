"""When people leave (deactivated by a roster import or a contacts sync), their open care items
change hands, so nothing waits on someone who is gone: helper duties go back to the secretary
(the item returns to "approved, assign a helper"), a departed secretary's items go to the other
secretaries of the unit, and the flags a departed team leader raised report back to the team's
new leader. Each change is a history entry and a message through the outbox.

One function, `hand_over`, called on every deactivation path (roster.apply, the contacts syncs).
It lives in models because roster/ may import nothing else; it writes outbox rows itself.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .case import Case, CaseState, add_event, move
from .enums import Role
from .org import Person, RoleAssignment, Unit
from .outbox import OutboxMessage

__all__ = ["hand_over"]

S = CaseState
OPEN = [s.value for s in S if s is not S.CLOSED]


def _nearest(db: Session, role: Role, unit: Unit | None, leaving: set[int]) -> list[Person]:
    """Active holders of `role` on the deepest unit covering `unit` (the leavers excluded)."""
    if unit is None:
        return []
    rows = db.scalars(select(RoleAssignment).where(RoleAssignment.role == role.value)).all()
    found = [(r.unit.path.count("/"), r.person) for r in rows
             if r.unit.contains(unit) and r.person.active and r.person_id not in leaving]
    if not found:
        return []
    deepest = max(d for d, _ in found)
    return list({p.id: p for d, p in found if d == deepest}.values())


def _send(db: Session, people: Iterable[Person], text: str, ref: str, platforms: Sequence[str] | None) -> None:
    for p in people:
        for platform in platforms or (["wecom"] if p.wecom_userid else ["dingtalk"] if p.dingtalk_userid else []):
            uid = p.platform_id(platform)
            if uid:
                db.add(OutboxMessage(platform=platform, kind="send", recipients=[uid],
                                     payload={"type": "text", "text": text}, ref=ref))


def hand_over(db: Session, person_ids: Iterable[int], now: datetime, *,
              platforms: Sequence[str] | None = None) -> int:
    """Reassign the open items of the people just deactivated; returns the number of items changed.
    `platforms`: where the messages go (default: WeCom if the person has an id there, else DingTalk)."""
    leaving = set(person_ids)
    if not leaving:
        return 0
    changed = 0
    items = db.scalars(select(Case).where(Case.state.in_(OPEN)).where(
        Case.helper_id.in_(leaving) | Case.secretary_id.in_(leaving) | Case.reporter_id.in_(leaving)
        | (Case.reporter_id.is_(None) & Case.opened_by_id.in_(leaving))).order_by(Case.id)).all()
    for case in items:
        name = f"事项 {case.id}（{case.subject.name}）"
        if case.secretary_id in leaving:
            others = _nearest(db, Role.SECRETARY, case.unit, leaving)
            old = case.secretary.name if case.secretary else "原书记"
            case.secretary_id = others[0].id if len(others) == 1 else None
            if case.holder_id in leaving:
                case.holder_id = case.secretary_id
            heirs = "、".join(p.name for p in others) or "（暂无书记）"
            add_event(db, case, kind="handover", actor=None, now=now, comment=f"{old}已停用，由{heirs}接办")
            _send(db, others, f"{name}原由{old}办理，{old}已停用（离职或调出），现转由您办理。发送“事项 {case.id}”查看。",
                  f"case:{case.id}", platforms)
        if case.helper_id in leaving and case.state in (S.HELPER_ASSIGNED, S.IN_PROGRESS):
            old = case.helper.name if case.helper else "帮扶人"
            secretaries = ([case.secretary] if case.secretary is not None and case.secretary.active
                           else _nearest(db, Role.SECRETARY, case.unit, leaving))
            move(db, case, S.APPROVED, actor=None, now=now, comment=f"帮扶人{old}已停用，帮扶任务退回书记",
                 helper_id=None, holder_id=secretaries[0].id if len(secretaries) == 1 else None)
            _send(db, secretaries, f"{name}的帮扶人{old}已停用（离职或调出），帮扶任务已退回您。"
                                   f"请重新指派：指派 {case.id} 姓名", f"case:{case.id}", platforms)
        reporter = case.reporter_id or case.opened_by_id
        if case.talk_id and reporter in leaving:
            leaders = _nearest(db, Role.TEAM_LEADER, case.unit, leaving)
            case.reporter_id = leaders[0].id if leaders else None
            add_event(db, case, kind="handover", actor=None, now=now,
                      comment=f"标记人已停用，进展改告{leaders[0].name if leaders else '（班组暂无班组长）'}")
            _send(db, leaders[:1], f"{name}：原班组长标记的谈话事项，今后确认和办结情况将告知您。",
                  f"case:{case.id}", platforms)
        changed += 1
    db.flush()
    return changed
