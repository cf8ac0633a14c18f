"""Card buttons: case:<id>:<op>, each the same function as its text command. A replayed or late
click is answered, never applied twice."""
from __future__ import annotations

from bot.context import Context
from bot.router import Router

from . import approvals, flows
from .cards import CaseAction
from .commands import start_assign_for, start_care_for

router = Router("cases")


def show_talk(ctx: Context, talk_id: int) -> None:
    """查看谈话: the talks command `谈话详情 N` itself (its policy, its audit of the read)."""
    found = ctx.registry.match_command(f"谈话详情 {talk_id}")
    if found is None:
        ctx.reply(f"请发送“谈话详情 {talk_id}”。")
        return
    cmd, rest = found
    ctx.command = cmd.names[0]
    cmd.handler(ctx, rest)


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
        start_care_for(ctx, case)
    elif data.op == "approve":
        approvals.decide(ctx, case, approve=True)
    elif data.op == "reject":
        if approvals.may_decide_now(ctx, case):
            ctx.start_form("case_reject", {"case_id": case.id, "rc": ctx.clicked_card_code, "clicked": True})
    elif data.op == "assign":
        start_assign_for(ctx, case)
    elif data.op == "talk":
        if case.talk_id and ctx.require("case.read", case):
            show_talk(ctx, case.talk_id)
