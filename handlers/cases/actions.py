"""Card buttons: case:<id>:<op>. A replayed or late click is answered, never applied twice."""
from __future__ import annotations

from bot.context import Context
from bot.router import Router
from models.case import CaseState as S

from . import flows
from .cards import CaseAction

router = Router("cases")


@router.action(CaseAction)
def on_case_button(ctx: Context, data: CaseAction) -> None:
    case = flows.load_case(ctx, data.id)
    if case is None:
        return
    if data.op == "ack":
        flows.acknowledge(ctx, case)
    elif data.op == "follow":
        flows.follow_up(ctx, case)
    elif data.op == "care":
        if not ctx.require("case.handle", case):
            return
        if case.state not in (S.REPORTED, S.ACKNOWLEDGED, S.FOLLOW_UP, S.REJECTED):
            flows._already(ctx, case, "发起关爱申请")
            return
        ctx.start_form("case_care", {"case_id": case.id})
    elif data.op == "approve":
        flows.decide(ctx, case, approve=True)
    elif data.op == "reject":
        if not ctx.require("care.approve", case):
            return
        if case.state != S.CARE_REQUESTED:
            flows.refuse_decided(ctx, case)
            return
        ctx.start_form("case_reject", {"case_id": case.id, "rc": ctx.clicked_card_code})
    elif data.op == "assign":
        if not ctx.require("case.handle", case):
            return
        if case.state not in (S.APPROVED, S.HELPER_ASSIGNED, S.IN_PROGRESS):
            flows._already(ctx, case, "指派帮扶人")
            return
        ctx.start_form("case_assign", {"case_id": case.id})
