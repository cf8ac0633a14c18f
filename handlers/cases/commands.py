"""The acting commands of the care flow; each card button has one here with the item number,
running the same function (same policy, same state machine, same replies).

确认 N/ack · 跟进 N/follow · 关爱 N, 关爱申请 N|姓名 …/care · 同意 N/approve · 驳回 N [理由]/reject ·
撤回 N/withdraw · 催办 N/remind · 指派 N [姓名]/assign · 结案 N [结果]/close · 进展 [N] 内容/progress.
Numbers are parsed with bounds (bot.args): an absurd number names no item.
"""
from __future__ import annotations

from sqlalchemy import select

from bot.args import not_found, split_item_number
from bot.context import Context
from bot.router import Router
from models.case import Case, CaseState
from models.org import Person

from . import approvals, flows, forms
from .service import subjects_in_scope

S = CaseState
router = Router("cases")


def _may_handle(ctx: Context) -> bool:
    return ctx.can("case.handle")


def _may_approve(ctx: Context) -> bool:
    return ctx.can("care.approve")


@router.command("确认", "ack", help="确认收到谈话标记（同卡片“确认收到”）", usage="确认 事项号", allowed=_may_handle)
def ack(ctx: Context, args: str) -> None:
    case, _ = flows.numbered_case(ctx, args, "确认 12")
    if case is not None:
        flows.acknowledge(ctx, case)


@router.command("跟进", "follow", help="安排跟进谈话（同卡片“安排跟进谈话”）", usage="跟进 事项号", allowed=_may_handle)
def follow(ctx: Context, args: str) -> None:
    case, _ = flows.numbered_case(ctx, args, "跟进 12")
    if case is not None:
        flows.follow_up(ctx, case)


def start_care_for(ctx: Context, case: Case, rest: str = "") -> None:
    """The 发起关爱申请 button and `关爱 N`: the care form, with whatever the line already says."""
    if not ctx.require("case.handle", case):
        return
    if case.state not in flows.EARLY:
        flows.already(ctx, case, "发起关爱申请")
        return
    forms.start_care(ctx, {"case_id": case.id, **forms.prefill_from_line(rest)})


@router.command("关爱申请", "care", "关爱", help="发起关爱申请（类型、金额、需求，提交前确认）",
                usage="关爱 事项号，或 关爱申请 姓名 [类型] [金额] 需求，例：关爱申请 杨帆 困难帮扶 2000 父亲重病",
                allowed=_may_handle)
def care(ctx: Context, args: str) -> None:
    if split_item_number(args)[2]:         # 关爱 N …
        case, rest = flows.numbered_case(ctx, args, "关爱 12")
        if case is not None:
            start_care_for(ctx, case, rest)
        return
    name, _, line = args.strip().partition(" ")
    if not name:
        ctx.reply("用法：关爱 事项号，或 关爱申请 姓名 需求。")
        return
    people = subjects_in_scope(ctx.db, ctx.me, name)
    people = [p for p in people if p.name == name or p.wecom_userid == name] or people
    if not people:
        ctx.reply(f"在您负责的范围内没有找到“{name}”。")
        return
    if len(people) > 1:
        ctx.reply("找到多人，请写全名或账号：" + "、".join(
            f"{p.name}（{p.unit.full_name.split('/')[-1] if p.unit else '—'}，{p.wecom_userid}）" for p in people))
        return
    if not ctx.require("case.handle", people[0]):
        return
    forms.start_care(ctx, {"subject_id": people[0].id, **forms.prefill_from_line(line)})


@router.command("同意", "approve", help="同意关爱申请（同卡片“同意”）", usage="同意 事项号", allowed=_may_approve)
def approve(ctx: Context, args: str) -> None:
    case, _ = flows.numbered_case(ctx, args, "同意 12")
    if case is not None:
        approvals.decide(ctx, case, approve=True)


@router.command("驳回", "reject", help="驳回关爱申请并写明理由（同卡片“驳回”）", usage="驳回 事项号 理由",
                allowed=_may_approve)
def reject(ctx: Context, args: str) -> None:
    case, reason = flows.numbered_case(ctx, args, "驳回 12 请补充证明材料")
    if case is None:
        return
    if reason:
        approvals.decide(ctx, case, approve=False, reason=reason[:300])
    elif approvals.may_decide_now(ctx, case):
        ctx.start_form("case_reject", {"case_id": case.id})


@router.command("撤回", "withdraw", help="撤回自己提交、尚未审批完的关爱申请", usage="撤回 事项号", allowed=_may_handle)
def withdraw(ctx: Context, args: str) -> None:
    case, _ = flows.numbered_case(ctx, args, "撤回 12")
    if case is not None:
        approvals.withdraw(ctx, case)


@router.command("催办", "remind", help="提醒审批人审批关爱申请（每天最多一次）", usage="催办 事项号", allowed=_may_handle)
def remind(ctx: Context, args: str) -> None:
    case, _ = flows.numbered_case(ctx, args, "催办 12")
    if case is not None:
        approvals.nudge(ctx, case)


def start_assign_for(ctx: Context, case: Case, helper: Person | None = None) -> None:
    if not ctx.require("case.handle", case):
        return
    if case.state not in (S.APPROVED, S.HELPER_ASSIGNED, S.IN_PROGRESS):
        ctx.reply(f"事项 {case.id} 当前状态「{case.state_label}」，关爱申请同意后才能指派帮扶人。")
        return
    forms.start_assign(ctx, case, helper)


@router.command("指派", "assign", help="指派或改派一对一帮扶人（改派前确认）", usage="指派 事项号 姓名", allowed=_may_handle)
def assign(ctx: Context, args: str) -> None:
    case, name = flows.numbered_case(ctx, args, "指派 12 李四")
    if case is None:
        return
    people = subjects_in_scope(ctx.db, ctx.me, name, party_only=True) if name else []
    people = [p for p in people if p.name == name] or people
    start_assign_for(ctx, case, people[0] if len(people) == 1 else None)


@router.command("结案", "close", help="结案并记录结果（结案前确认）", usage="结案 事项号 结果", allowed=_may_handle)
def close_case(ctx: Context, args: str) -> None:
    case, outcome = flows.numbered_case(ctx, args, "结案 12 已发放困难补助，家属康复出院")
    if case is None or not ctx.require("case.handle", case):
        return
    if case.state == S.CLOSED:
        flows.already(ctx, case, "结案")
        return
    answers: forms.CloseAnswers = {"case_id": case.id}
    if outcome:
        answers["outcome"] = outcome[:500]
    ctx.start_form("case_close", answers)


@router.command("进展", "progress", help="汇报帮扶进展", usage="进展 [事项号] 内容",
                allowed=lambda ctx: ctx.can("case.progress"))
def progress(ctx: Context, args: str) -> None:
    mine = list(ctx.db.scalars(select(Case).where(Case.helper_id == ctx.me.id,
                                                  Case.state.in_([S.HELPER_ASSIGNED, S.IN_PROGRESS]))
                               .order_by(Case.id)))
    case_id, text, typed = split_item_number(args)
    if typed and case_id not in {c.id for c in mine}:
        # "进展 3 天后再去" without an item number: the number is text if it is not one of mine
        other = ctx.db.get(Case, case_id) if case_id is not None else None
        if len(mine) == 1 and other is None:
            case_id, text = None, args.strip()
        else:
            if other is None:
                ctx.reply(not_found("关爱事项", typed))
            else:
                ctx.require("case.progress", other, what=f"您不是事项 {other.id} 的帮扶人，或该事项已结束。")
            return
    if case_id is None:
        text = args.strip()
        if not mine:
            ctx.reply("您目前没有进行中的帮扶任务。")
            return
        if len(mine) > 1:
            ctx.reply("您有多个帮扶任务，请写上事项号，例如：进展 " + str(mine[0].id) + " 内容\n"
                      + "\n".join(f"事项 {c.id} {c.subject.name}「{c.state_label}」" for c in mine))
            return
        case_id = mine[0].id
    case = next(c for c in mine if c.id == case_id)
    flows.report_progress(ctx, case, text)
