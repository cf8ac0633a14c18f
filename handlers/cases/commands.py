"""Chat commands and the small forms of the case flow.

案件 N/case N · 关爱申请 N|姓名 需求/care · 指派 N 姓名/assign · 进展 [N] 内容/progress ·
结案 N 结果/close. The forms they start live in forms.py.
"""
from __future__ import annotations

from sqlalchemy import select

from bot.args import split_item_number
from bot.context import Context
from bot.router import Router
from models.case import STATE_LABELS, Case, CaseState

from . import flows
from .service import fmt_time, name_of, subjects_in_scope

S = CaseState
router = Router("cases")


def _split_id(args: str) -> tuple[int | None, str]:
    case_id, rest, typed = split_item_number(args)
    # a number out of range names no case: 0 finds nothing and load_case says so
    return (case_id if case_id is not None else (0 if typed else None)), rest


def _may_handle(ctx: Context) -> bool:
    return ctx.can("case.handle")


# --- reading -----------------------------------------------------------------------------------

def _line(ctx: Context, case: Case) -> str:
    return (f"#{case.id} {case.subject.name}（{case.unit.full_name.split('/')[-1]}）"
            f"「{case.state_label}」自{fmt_time(case.state_since, ctx.config.timezone)}")


@router.command("案件", "case", help="查看案件详情和全部处理记录", usage="案件 N",
                allowed=lambda ctx: ctx.can("case.read"))
def show_case(ctx: Context, args: str) -> None:
    case_id, _ = _split_id(args)
    if case_id is None:
        ctx.reply("请写上案件编号，例如：案件 12。发送“待办”查看您的案件。")
        return
    case = flows.load_case(ctx, case_id)
    if case is None or not ctx.require("case.read", case):
        return
    tz = ctx.config.timezone
    lines = [f"案件 #{case.id}：{case.subject.name}（{case.unit.full_name}）",
             f"状态：{case.state_label}（自{fmt_time(case.state_since, tz)}）"]
    if case.holder_id:
        lines.append(f"待办人：{name_of(ctx.db, case.holder_id)}")
    if case.need:
        lines.append(f"关爱需求：{case.need}")
    if case.decision:
        verb = "同意" if case.decision == S.APPROVED else "驳回"
        lines.append(f"审批：{name_of(ctx.db, case.decided_by_id)} {fmt_time(case.decided_at, tz)} {verb}"
                     + (f"，理由：{case.reject_reason}" if case.reject_reason else ""))
    if case.helper_id:
        lines.append(f"帮扶人：{name_of(ctx.db, case.helper_id)}")
    if case.outcome:
        lines.append(f"结果：{case.outcome}")
    lines.append("处理记录：")
    for ev in case.events:
        what = {"progress": "进展", "reminder": "超时提醒", "escalation": "超时上报"}.get(ev.kind)
        if what is None:
            frm = STATE_LABELS[S(ev.from_state)] if ev.from_state else "—"
            what = f"{frm} → {STATE_LABELS[S(ev.to_state)]}"
        comment = f"：{ev.comment}" if ev.comment else ""
        lines.append(f"· {fmt_time(ev.at, tz)} {name_of(ctx.db, ev.actor_id)} {what}{comment}")
    ctx.audit("read", "case", case.id)
    ctx.reply("\n".join(lines))


# --- secretary ---------------------------------------------------------------------------------

@router.command("关爱申请", "care", help="发起关爱申请", usage="关爱申请 案件号或姓名 需求",
                allowed=_may_handle)
def care(ctx: Context, args: str) -> None:
    case_id, rest = _split_id(args)
    if case_id is not None:
        case = flows.load_case(ctx, case_id)
        if case is None:
            return
        if not rest:
            if ctx.require("case.handle", case):
                ctx.start_form("case_care", {"case_id": case.id})
            return
        flows.submit_care(ctx, case, rest)
        return
    name, _, need = rest.partition(" ")
    if not name:
        ctx.reply("用法：关爱申请 案件号 需求，或 关爱申请 姓名 需求。")
        return
    people = subjects_in_scope(ctx.db, ctx.person, name)
    exact = [p for p in people if p.name == name]
    people = exact or people
    if not people:
        ctx.reply(f"在您负责的范围内没有找到“{name}”。")
        return
    if len(people) > 1:
        ctx.reply("找到多人，请写全名：" + "、".join(f"{p.name}（{p.unit.full_name.split('/')[-1]}）" for p in people))
        return
    if not need.strip():
        ctx.reply(f"请写明关爱需求，例如：关爱申请 {people[0].name} 家属住院，需探望慰问")
        return
    flows.open_direct(ctx, people[0], need)


@router.command("指派", "assign", help="指派一对一帮扶人", usage="指派 案件号 姓名", allowed=_may_handle)
def assign(ctx: Context, args: str) -> None:
    case_id, name = _split_id(args)
    if case_id is None:
        ctx.reply("用法：指派 案件号 姓名，例如：指派 12 李四")
        return
    case = flows.load_case(ctx, case_id)
    if case is None or not ctx.require("case.handle", case):
        return
    if not name:
        ctx.start_form("case_assign", {"case_id": case.id})
        return
    people = subjects_in_scope(ctx.db, ctx.person, name, party_only=True)
    exact = [p for p in people if p.name == name]
    people = exact or people
    if len(people) != 1:
        ctx.start_form("case_assign", {"case_id": case.id})
        return
    flows.assign_helper(ctx, case, people[0])


@router.command("结案", "close", help="结案并记录结果", usage="结案 案件号 结果", allowed=_may_handle)
def close_case(ctx: Context, args: str) -> None:
    case_id, outcome = _split_id(args)
    if case_id is None:
        ctx.reply("用法：结案 案件号 结果，例如：结案 12 已发放困难补助，家属康复出院")
        return
    case = flows.load_case(ctx, case_id)
    if case is not None:
        flows.close(ctx, case, outcome)


# --- helper ------------------------------------------------------------------------------------

@router.command("进展", "progress", help="汇报帮扶进展", usage="进展 [案件号] 内容",
                allowed=lambda ctx: ctx.can("case.progress"))
def progress(ctx: Context, args: str) -> None:
    mine = list(ctx.db.scalars(select(Case).where(Case.helper_id == ctx.person.id,
                                                  Case.state.in_([S.HELPER_ASSIGNED, S.IN_PROGRESS]))
                               .order_by(Case.id)))
    case_id, text = _split_id(args)
    if case_id is not None and case_id not in {c.id for c in mine}:
        # "进展 3 天后再去" without a case number: treat the number as text if it is not one of mine
        if len(mine) == 1 and ctx.db.get(Case, case_id) is None:
            case_id, text = None, args.strip()
        else:
            case = ctx.db.get(Case, case_id)
            if case is None:
                ctx.reply(f"没有找到案件 #{case_id}。")
            else:
                ctx.require("case.progress", case, what=f"您不是案件 #{case_id} 的帮扶人，或该案件已结束。")
            return
    if case_id is None:
        text = args.strip()
        if not mine:
            ctx.reply("您目前没有进行中的帮扶任务。")
            return
        if len(mine) > 1:
            ctx.reply("您有多个帮扶任务，请写上案件号，例如：进展 " + str(mine[0].id) + " 内容\n"
                      + "\n".join(_line(ctx, c) for c in mine))
            return
        case_id = mine[0].id
    case = next(c for c in mine if c.id == case_id)
    flows.report_progress(ctx, case, text)
