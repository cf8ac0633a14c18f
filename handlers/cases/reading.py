"""Reading the care items: their part of 待办 (pending_items, gathered by handlers.todo), 事项 N
(details and the whole history; `案件 N` stays as a hidden alias) and 卡片 事项 N (re-send the card).

Numbering: an item keeps its own number (事项 N), always written with the word 事项, while a talk is
always 谈话 #N; an item need not come from a talk (a direct care request, later a 心声), so the
talk number cannot be its name — the flag card and 事项 N show the talk's number beside it.
"""
from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import select

from bot.context import Context
from bot.router import Router
from models.case import CARE_TYPES, STATE_LABELS, Case, CaseEvent, CaseState
from models.enums import APPROVER_ROLES, Role

from . import approvals, cards, chain, flows
from .service import cases_in_scope, fmt_time, name_of, request_event

S = CaseState
router = Router("cases")

__all__ = ["pending_items", "router"]


def _line(ctx: Context, case: Case) -> str:
    return (f"事项 {case.id} {case.subject.name}（{case.unit.full_name.split('/')[-1]}）"
            f"「{case.state_label}」自{fmt_time(case.state_since, ctx.config.timezone)}")


_NEXT = {S.REPORTED: "确认 {n} · 跟进 {n} · 关爱 {n}", S.ACKNOWLEDGED: "跟进 {n} · 关爱 {n} · 结案 {n} 结果",
         S.FOLLOW_UP: "关爱 {n} · 结案 {n} 结果", S.REJECTED: "关爱 {n}（重新申请）· 结案 {n} 结果",
         S.APPROVED: "指派 {n} 姓名", S.CARE_REQUESTED: "催办 {n} · 撤回 {n}",
         S.HELPER_ASSIGNED: "指派 {n} 姓名（改派）· 结案 {n} 结果", S.IN_PROGRESS: "指派 {n} 姓名（改派）· 结案 {n} 结果"}


def _awaiting_me(ctx: Context) -> list[Case]:
    """Requests waiting for a level whose role the sender holds over the subject's unit."""
    roles = [r for r in APPROVER_ROLES if any(Role(a.role) is r for a in ctx.me.roles)]
    found = cases_in_scope(ctx.db, ctx.me, [S.CARE_REQUESTED], *roles) if roles else []
    return [c for c in found if ctx.can("care.approve", c)]


def pending_items(ctx: Context) -> list[tuple[str, str]]:
    """(section, line ending with the next command) for each care item the sender must act on;
    the cross-domain 待办 gathers these."""
    db, me = ctx.db, ctx.person
    if me is None:
        return []
    out: list[tuple[str, str]] = []
    for case in _awaiting_me(ctx):
        level = chain.LEVEL_LABELS[case.approver_role]
        out.append(("待我审批", f"{_line(ctx, case)}（{level}）→ 同意 {case.id} · 驳回 {case.id} 理由 · 卡片 {case.id}"))
    if ctx.can("case.handle"):
        handling = cases_in_scope(db, me, [S.REPORTED, S.ACKNOWLEDGED, S.FOLLOW_UP, S.APPROVED, S.REJECTED,
                                           S.CARE_REQUESTED], Role.SECRETARY)
        for case in handling:
            section = "已提交待审批" if case.state == S.CARE_REQUESTED else "待我处理"
            out.append((section, f"{_line(ctx, case)} → {_NEXT[S(case.state)].format(n=case.id)}"))
    helping = db.scalars(select(Case).where(Case.helper_id == me.id, Case.state.in_([S.HELPER_ASSIGNED, S.IN_PROGRESS]))
                         .order_by(Case.id)).all()
    out += [("我的帮扶", f"{_line(ctx, c)} → 进展 {c.id} 内容") for c in helping]
    if ctx.can("case.handle"):
        watching = cases_in_scope(db, me, [S.HELPER_ASSIGNED, S.IN_PROGRESS], Role.SECRETARY)
        out += [("帮扶中（督办）", f"{_line(ctx, c)}，帮扶人{name_of(db, c.helper_id)} → 事项 {c.id}")
                for c in watching if c.helper_id != me.id]
    return out


def _event_text(ctx: Context, ev: CaseEvent) -> str:
    what = {"progress": "进展", "reminder": "超时提醒", "escalation": "超时上报", "note": "备注", "nudge": "催办",
            "approval": "审批同意", "handover": "交接"}.get(ev.kind)
    if what is None:
        frm = STATE_LABELS[S(ev.from_state)] if ev.from_state else "—"
        what = f"{frm} → {STATE_LABELS[S(ev.to_state)]}"
    if ev.kind == "nudge":
        return f"{what}（提醒：{ev.comment}）"
    return what + (f"：{ev.comment}" if ev.comment else "")


@router.command("事项", "item", "案件", "case", help="查看关爱事项详情和全部处理记录", usage="事项 N",
                allowed=lambda ctx: ctx.can("case.read"))
def show_item(ctx: Context, args: str) -> None:
    case, _rest = flows.numbered_case(ctx, args, "事项 12")
    if case is None or not ctx.require("case.read", case):
        return
    tz = ctx.config.timezone
    lines = [f"关爱事项 {case.id}：{case.subject.name}（{case.unit.full_name}）",
             f"状态：{case.state_label}（自{fmt_time(case.state_since, tz)}）"]
    if case.talk_id:
        lines.append(f"来源：谈话 #{case.talk_id}，{name_of(ctx.db, case.opened_by_id)}记录，标记「{cards.flag_label(case)}」"
                     + (f"（谈话详情 {case.talk_id}）" if ctx.can("talk.read") else ""))
    if case.holder_id:
        lines.append(f"待办人：{name_of(ctx.db, case.holder_id)}")
    if case.care_type in CARE_TYPES:
        lines.append(f"关爱类型：{cards.care_label(case)}" + ("（不告知本人）" if case.discreet else ""))
    if case.need:
        lines.append(f"关爱需求：{case.need}")
    if case.media_ids:
        lines.append(f"证明材料：{len(case.media_ids)} 张照片")
    if case.approval_chain and case.care_type:
        lines.append(f"审批流程：{chain.chain_text(case.chain)}")
    if case.decision:
        verb = "同意" if case.decision == S.APPROVED else "驳回"
        lines.append(f"审批：{name_of(ctx.db, case.decided_by_id)} {fmt_time(case.decided_at, tz)} {verb}"
                     + (f"，理由：{case.reject_reason}" if case.reject_reason else ""))
    if case.helper_id:
        lines.append(f"帮扶人：{name_of(ctx.db, case.helper_id)}")
    if case.outcome:
        lines.append(f"结果：{case.outcome}")
    lines.append("处理记录：")
    lines += [f"· {fmt_time(ev.at, tz)} {name_of(ctx.db, ev.actor_id)} {_event_text(ctx, ev)}" for ev in case.events]
    ctx.audit("read", "case", case.id)
    ctx.reply("\n".join(lines))


@router.card_source("事项", default=True)      # 卡片 N has always meant 事项 N
def resend_card(ctx: Context, number: int) -> None:
    """卡片 事项 N (bot.pending): the card the sender would act on now, sent again (a new card id: WeCom
    never reuses one), under the same outbox ref so a later decision updates it like the first copy;
    sent here rather than returned, for that ref."""
    case = flows.load_case(ctx, number)
    if case is None or not ctx.require("case.read", case):
        return None
    tz, state = ctx.config.timezone, S(case.state)
    card = None
    if state == S.CARE_REQUESTED and ctx.can("care.approve", case):
        req = request_event(case)
        card = approvals.level_card(ctx, case, case.approval_step) if req else None
    elif state in (S.REPORTED, S.ACKNOWLEDGED, S.FOLLOW_UP) and case.talk_id and ctx.can("case.handle", case):
        card = cards.flag_card(case, name_of(ctx.db, case.opened_by_id), tz,
                               status=None if state == S.REPORTED else case.state_label)
    elif state == S.APPROVED and ctx.can("case.handle", case):
        card = cards.approved_card(case, name_of(ctx.db, case.decided_by_id), tz)
    elif state in (S.HELPER_ASSIGNED, S.IN_PROGRESS) and case.helper_id == ctx.me.id:
        card = cards.helper_card(case, name_of(ctx.db, case.secretary_id))
    if card is None:
        ctx.reply(f"事项 {case.id} 目前没有需要您操作的卡片（状态「{case.state_label}」）。发送“事项 {case.id}”查看详情。")
        return None
    ref = card.card_id
    ctx.notify(ctx.me, replace(card, card_id=f"{ref}_r{uuid.uuid4().hex[:6]}"), ref=ref)
    ctx.reply(f"已重发事项 {case.id} 的卡片。")
    return None
