"""Cases' part of 待办 (bot.pending): items to handle (secretary), to approve (committee), to help
with (helper), and under supervision; each with its next command."""
from __future__ import annotations

from sqlalchemy import select

from bot.context import Context
from bot.pending import PendingItem
from bot.router import Router
from models.case import Case, CaseState
from models.enums import Role

from .service import cases_in_scope, fmt_time

S = CaseState
router = Router("cases")



def _line(ctx: Context, case: Case) -> str:
    return (f"#{case.id} {case.subject.name}（{case.unit.full_name.split('/')[-1]}）"
            f"「{case.state_label}」自{fmt_time(case.state_since, ctx.config.timezone)}")


@router.pending
def pending_cases(ctx: Context) -> list[PendingItem]:
    """Open cases where the sender must act: handle (secretary), approve (committee), help (helper)."""
    db, me = ctx.db, ctx.person
    sections: list[tuple[str, list[Case], str]] = [
        ("待我处理", cases_in_scope(db, me, [S.REPORTED, S.ACKNOWLEDGED, S.FOLLOW_UP, S.APPROVED, S.REJECTED],
                                    Role.SECRETARY), "案件 {n}"),
        ("待我审批", cases_in_scope(db, me, [S.CARE_REQUESTED], Role.COMMITTEE), "案件 {n}"),
        ("我的帮扶", list(db.scalars(select(Case).where(Case.helper_id == me.id,
                                                     Case.state.in_([S.HELPER_ASSIGNED, S.IN_PROGRESS]))
                                    .order_by(Case.id))), "进展 {n} 内容"),
        ("帮扶中（督办）", cases_in_scope(db, me, [S.HELPER_ASSIGNED, S.IN_PROGRESS], Role.SECRETARY), "案件 {n}"),
    ]
    return [PendingItem(title, _line(ctx, c), (command.format(n=c.id),), "案件", c.id, c.state_since)
            for title, cases, command in sections for c in cases]
