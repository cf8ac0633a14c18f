"""Care request approval: submit along the configured chain, decide level by level, withdraw, remind.

One level's approvers all get the level's card; the first decision wins (a conditional UPDATE on
the approval step), and every copy of that card is then replaced with who decided. Approving a
level that is not the last sends the next level's card, showing who approved before.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, update

from bot.context import Context
from bot.messages import Card
from models.case import Case, CaseEvent, CaseState, approve_level, move
from models.db import rowcount
from models.enums import Role
from models.org import Person
from models.outbox import Priority

from . import cards, chain
from .flows import last_actor, try_move
from .service import Placed, approvals_so_far, approvers_for, fmt_time, name_of, request_event, secretaries_for

if TYPE_CHECKING:
    from .forms import CareAnswers

S = CaseState
NUDGE_EVERY = timedelta(hours=24)
_CARD_LEVEL = re.compile(r"_care(\d+)_L(\d+)")

__all__ = ["decide", "level_card", "level_people", "may_decide_now", "nudge", "refresh_level_cards", "submit_care", "withdraw"]


def level_people(ctx: Context, case: Placed, role: Role) -> list[Person]:
    if role is Role.SECRETARY:
        return secretaries_for(ctx.db, case.unit)
    return approvers_for(ctx.db, case, role)


def level_card(ctx: Context, case: Case, level: int, status: str | None = None, done: str | None = None) -> Card:
    req = request_event(case)
    return cards.care_card(case, name_of(ctx.db, req.actor_id if req else case.secretary_id),
                           fmt_time(req.at if req else case.state_since, ctx.config.timezone),
                           approvals_so_far(ctx.db, case, ctx.config.timezone), level=level, status=status, done=done)


def _send_level(ctx: Context, case: Case) -> list[Person]:
    people = level_people(ctx, case, case.approver_role)
    card = level_card(ctx, case, case.approval_step)
    ctx.notify(people, card, ref=card.card_id, idem_key=f"case:{case.id}:{card.card_id}", priority=Priority.URGENT)
    return people


def refresh_level_cards(ctx: Context, case: Case, upto: int, status: str, done: str, *, clicked: bool,
                        response_code: str | None = None) -> None:
    """Replace every copy of the cards of levels 0..upto (the sender's too) with the outcome."""
    for level in range(upto + 1):
        card = level_card(ctx, case, level, status=status, done=done)
        if clicked and level == upto:
            ctx.update_card(card, response_code=response_code)
            ctx.update_card_for_others(card.card_id, card)
        else:
            ctx.update_card_for_all(card.card_id, card)


# --- submit ------------------------------------------------------------------------------------

def plan_levels(ctx: Context, case: Placed, answers: CareAnswers) -> tuple[Role, ...]:
    return chain.levels_for(ctx.config, care_type=answers["care_type"], amount=answers.get("amount"),
                            youth=bool(answers.get("youth")), unit_name=case.unit.full_name if case.unit else "")


def missing_level(ctx: Context, case: Case, levels: tuple[Role, ...]) -> Role | None:
    """A level nobody can approve (no role holder covers the subject's unit), if any."""
    for role in levels:
        if role is Role.SECRETARY and ctx.can("case.handle", case):
            continue   # the requesting secretary approves their own level
        if not level_people(ctx, case, role):
            return role
    return None


def submit_care(ctx: Context, case: Case, answers: CareAnswers) -> bool:
    """Submit (or resubmit) the request described by the care form's answers."""
    if not ctx.require("case.handle", case):
        return False
    levels = plan_levels(ctx, case, answers)
    gap = missing_level(ctx, case, levels)
    if gap is not None:
        ctx.reply(f"按审批规则需要{chain.LEVEL_LABELS[gap]}审批，但{case.unit.full_name}还没有{chain.LEVEL_LABELS[gap]}审批人。"
                  f"申请未提交，请联系管理员设置（授权 姓名 {chain.LEVEL_LABELS[gap]} 单位）。")
        return False
    from_reported = case.state == S.REPORTED
    if not try_move(ctx, case, S.CARE_REQUESTED, "发起关爱申请", need=answers["need"], holder_id=None,
                    secretary_id=case.secretary_id or ctx.me.id, decision=None, decided_by_id=None,
                    decided_at=None, reject_reason=None, care_type=answers["care_type"],
                    care_reason=answers.get("care_reason"), amount=answers.get("amount"),
                    youth=bool(answers.get("youth")), discreet=bool(answers.get("discreet")),
                    media_ids=list(answers.get("media") or []), approval_chain=",".join(levels), approval_step=0,
                    comment="发起关爱申请"):
        return False
    if from_reported:
        from .flows import tell_reporter
        tell_reporter(ctx, case, "已受理")
    ctx.audit("care_request", "case", case.id, ",".join(levels))
    if levels[0] is Role.SECRETARY and ctx.can("case.handle", case):
        ctx.reply(f"关爱申请已提交（事项 {case.id}，{cards.care_label(case)}）。按审批规则由支部书记审批，您已直接批准。")
        decide(ctx, case, approve=True, quiet=True)
        return True
    people = _send_level(ctx, case)
    ctx.reply(f"已提交关爱申请（事项 {case.id}，{case.subject.name}，{cards.care_label(case)}），"
              f"等待{chain.LEVEL_LABELS[case.approver_role]}审批（{'、'.join(p.name for p in people)}）。"
              + (f"审批流程：{chain.chain_text(levels)}。" if len(levels) > 1 else "")
              + f"可发送“撤回 {case.id}”撤回，“催办 {case.id}”提醒审批人。")
    return True


# --- decide ------------------------------------------------------------------------------------

def _on_case_card(ctx: Context) -> bool:
    return cards.CaseAction.matches(ctx.incoming.action or "")


def _clicked_level(ctx: Context, case: Case, response_code: str | None) -> tuple[int, int] | None:
    """(round, level) of the clicked card, None for a typed command."""
    m = _CARD_LEVEL.search(ctx.incoming.card_id or "") if (_on_case_card(ctx) or response_code) else None
    return (int(m.group(1)), int(m.group(2))) if m else None


def _level_events(case: Case) -> list[CaseEvent]:
    """The decision of each level of the current round so far: approvals, then the final transition."""
    req = request_event(case)
    if req is None:
        return []
    return [ev for ev in case.events if ev.id > req.id and
            (ev.kind == "approval" or (ev.kind == "transition" and ev.from_state == S.CARE_REQUESTED))]


_VERBS = {"approval": "同意", S.APPROVED: "同意", S.REJECTED: "驳回", S.ACKNOWLEDGED: "撤回"}


def _level_decision(ctx: Context, case: Case, level: int) -> tuple[str, str, str] | None:
    """(who, when, verb) of `level`'s decision in the current round (or of the round's end)."""
    events = _level_events(case)
    ev = events[level] if level < len(events) else (events[-1] if events else None)
    if ev is None:
        return None
    verb = _VERBS["approval"] if ev.kind == "approval" else _VERBS.get(S(ev.to_state), "处理")
    return name_of(ctx.db, ev.actor_id), fmt_time(ev.at, ctx.config.timezone), verb


def refuse_decided(ctx: Context, case: Case, level: int, response_code: str | None = None) -> None:
    """A second click, another approver of a decided level, an old card: say who decided, grey the card."""
    found = _level_decision(ctx, case, level)
    if found is None:
        ctx.reply(f"关爱申请（事项 {case.id}）当前状态「{case.state_label}」，无需审批。")
        return
    who, when, verb = found
    ctx.reply(f"关爱申请（事项 {case.id}）已由{who}于{when}{verb}，无需重复审批。")
    if response_code or _on_case_card(ctx):
        ctx.update_card(level_card(ctx, case, level, status=f"{who} {when} 已{verb}", done=f"已{verb}"),
                        response_code=response_code)


def may_decide_now(ctx: Context, case: Case, response_code: str | None = None) -> bool:
    """The checks before a decision (also before asking for a rejection reason): the policy at the
    current level, a card of an earlier level or round, a decided request, an approver of an earlier level."""
    clicked = _clicked_level(ctx, case, response_code)
    level = case.approval_step
    stale = clicked is not None and clicked != (cards.care_round(case), level)
    if stale or case.state != S.CARE_REQUESTED or (level and not ctx.can("care.approve", case)):
        if not ctx.require("case.read", case):
            return False
        seen = clicked[1] if stale and clicked is not None and clicked[0] == cards.care_round(case) else level
        if case.state == S.CARE_REQUESTED and not stale:
            seen = level - 1   # an approver of an earlier level typing 同意 N
        refuse_decided(ctx, case, max(0, min(seen, len(case.chain) - 1)), response_code)
        return False
    if not ctx.require("care.approve", case):
        return False
    req = request_event(case)
    if any(ev.kind == "approval" and ev.actor_id == ctx.me.id and req is not None and ev.id > req.id
           for ev in case.events):
        ctx.reply(f"您已审批过本申请的上一级，本级（{chain.LEVEL_LABELS[case.approver_role]}）请由其他审批人办理。")
        return False
    return True


def decide(ctx: Context, case: Case, approve: bool, reason: str = "", response_code: str | None = None,
           *, from_card: bool = False, quiet: bool = False) -> bool:
    """Approve the current level (the last: the request), or reject with a reason; the first decision wins."""
    if not may_decide_now(ctx, case, response_code):
        return False
    level = case.approval_step
    role = case.approver_role
    label = chain.LEVEL_LABELS[role]
    now = ctx.now()
    clicked_card = _on_case_card(ctx) or from_card
    last = level + 1 >= len(case.chain)
    if approve and not last:
        if not approve_level(ctx.db, case, level, actor=ctx.me, now=now, comment=label):
            refuse_decided(ctx, case, level, response_code)
            return False
        nxt = chain.LEVEL_LABELS[case.approver_role]
        refresh_level_cards(ctx, case, level, f"{ctx.me.name} {fmt_time(now, ctx.config.timezone)} 已同意，转{nxt}",
                            "已同意", clicked=clicked_card, response_code=response_code)
        people = _send_level(ctx, case)
        ctx.reply(f"已同意关爱申请（事项 {case.id}，{case.subject.name}），已转{nxt}审批"
                  f"（{'、'.join(p.name for p in people) or '—'}）。")
        return True
    to = S.APPROVED if approve else S.REJECTED
    values = dict(decision=to, decided_by_id=ctx.me.id, decided_at=now, holder_id=case.secretary_id)
    if not approve:
        values["reject_reason"] = reason
    ok = move(ctx.db, case, to, actor=ctx.me, now=now, comment=label if approve else (reason or None),
              expected=S.CARE_REQUESTED, step=level, **values)
    if not ok:
        refuse_decided(ctx, case, level, response_code)
        return False
    done = "已同意" if approve else "已驳回"
    refresh_level_cards(ctx, case, level, f"{ctx.me.name} {fmt_time(now, ctx.config.timezone)} {done}"
                        + (f"：{reason[:40]}" if reason else ""), done, clicked=clicked_card, response_code=response_code)
    secretary = case.secretary
    secretary_name = secretary.name if secretary else "支部书记"
    if approve:
        if not quiet:
            ctx.reply(f"已同意关爱申请（事项 {case.id}，{case.subject.name}）。已通知{secretary_name}指派帮扶人。")
        if secretary is not None:
            c = cards.approved_card(case, ctx.me.name, ctx.config.timezone)
            if secretary.id == ctx.me.id:
                ctx.reply(c)
            else:
                ctx.notify(secretary, c, ref=c.card_id, idem_key=f"case:{case.id}:approved:{case.version}",
                           priority=Priority.URGENT)
    else:
        ctx.reply(f"已驳回关爱申请（事项 {case.id}），理由已转告{secretary_name}。")
        if secretary is not None:
            ctx.notify(secretary, f"关爱申请（事项 {case.id}，{case.subject.name}）被{ctx.me.name}驳回。理由：{reason}\n"
                                  f"可修改后重新申请（关爱 {case.id}）或结案（结案 {case.id} 结果）。", ref=f"case:{case.id}")
    return True


# --- the requester -----------------------------------------------------------------------------

def _requester_only(ctx: Context, case: Case, what: str) -> bool:
    if not ctx.require("case.handle", case):
        return False
    if case.state != S.CARE_REQUESTED:
        ctx.reply(f"事项 {case.id} 当前状态「{case.state_label}」（{last_actor(ctx, case)}），不能{what}。")
        return False
    req = request_event(case)
    if what == "撤回" and req is not None and req.actor_id != ctx.me.id:
        ctx.reply(f"只有申请人{name_of(ctx.db, req.actor_id)}可以撤回这份关爱申请。")
        return False
    return True


def withdraw(ctx: Context, case: Case) -> None:
    """撤回 N: the requester takes the request back before it is decided; every approver's card says so."""
    if not _requester_only(ctx, case, "撤回"):
        return
    level = case.approval_step
    if not try_move(ctx, case, S.ACKNOWLEDGED, "撤回", expected=S.CARE_REQUESTED, step=level,
                    holder_id=ctx.me.id, comment="申请人撤回关爱申请"):
        return
    refresh_level_cards(ctx, case, level, f"{ctx.me.name} {fmt_time(ctx.now(), ctx.config.timezone)} 已撤回",
                        "已撤回", clicked=False)
    ctx.reply(f"已撤回关爱申请（事项 {case.id}，{case.subject.name}）。如需重新申请，发送“关爱 {case.id}”。")


def nudge(ctx: Context, case: Case) -> None:
    """催办 N: remind the current level's approvers, at most once in 24 hours."""
    if not _requester_only(ctx, case, "催办"):
        return
    now = ctx.now()
    claimed = ctx.db.execute(update(Case).where(Case.id == case.id, Case.state == S.CARE_REQUESTED.value,
                                                or_(Case.nudged_at.is_(None), Case.nudged_at <= now - NUDGE_EVERY))
                             .values(nudged_at=now).execution_options(synchronize_session=False))
    if rowcount(claimed) != 1:
        ctx.db.refresh(case)
        ctx.reply(f"事项 {case.id} 已于{fmt_time(case.nudged_at, ctx.config.timezone)}催办过，每天最多催办一次。")
        return
    ctx.db.refresh(case)
    people = level_people(ctx, case, case.approver_role)
    ctx.db.add(CaseEvent(case_id=case.id, at=now, actor_id=ctx.me.id, kind="nudge", from_state=case.state,
                         to_state=case.state, comment="、".join(p.name for p in people)))
    hours = max(1, int((now - case.state_since).total_seconds() // 3600))
    ctx.notify(people, f"【催办】{ctx.me.name}提醒您审批关爱申请（事项 {case.id}，{case.subject.name}），"
                       f"已等待约{hours}小时。请发送“同意 {case.id}”或“驳回 {case.id} 理由”，“卡片 {case.id}”可重发审批卡片。",
               ref=f"case:{case.id}", priority=Priority.URGENT)
    ctx.reply(f"已提醒{chain.LEVEL_LABELS[case.approver_role]}审批人：{'、'.join(p.name for p in people)}。")
