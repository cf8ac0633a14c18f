"""Item operations used by buttons, chat commands, forms and the talk subscribers.

Every operation: check the policy (ctx.require), move the item with a conditional UPDATE
(models.case.move), then tell people (outbox) and the sender (reply / card update). When the
move loses a race or the state has already moved on, the sender gets a polite answer naming
who acted and when. A button and its text command call the same function here.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.args import MAX_ID, load_numbered, not_found
from bot.context import Context
from models.case import STATE_LABELS, Case, CaseEvent, CaseState, InvalidTransition, add_event, move
from models.org import Person
from models.outbox import Priority
from models.talk import Flag, Talk

from . import cards
from .service import committee_for, fmt_time, name_of, secretaries_for

S = CaseState
EARLY = (S.REPORTED, S.ACKNOWLEDGED, S.FOLLOW_UP, S.REJECTED)   # no care request running


NOT_FOUND_HINT = "发送“待办”查看您的事项。"


def load_case(ctx: Context, case_id: int) -> Case | None:
    """The item behind a button or 卡片 N (a typed command reads its number with numbered_case)."""
    case = ctx.db.get(Case, case_id) if 0 < case_id <= MAX_ID else None
    if case is None:
        ctx.reply(not_found("关爱事项", str(case_id), NOT_FOUND_HINT))
    return case


def numbered_case(ctx: Context, args: str, usage: str) -> tuple[Case | None, str]:
    """The item numbered in a typed command ("结案 12 …") and the rest of the line (a reason, a name, an outcome)."""
    return load_numbered(ctx, Case, args, noun="关爱事项", ask=f"请写上事项编号，例如：{usage}。{NOT_FOUND_HINT}",
                         hint=NOT_FOUND_HINT)


def last_actor(ctx: Context, case: Case) -> str:
    ev = case.events[-1] if case.events else None
    if ev is None:
        return ""
    return f"{name_of(ctx.db, ev.actor_id)}于{fmt_time(ev.at, ctx.config.timezone)}"


def already(ctx: Context, case: Case, wanted: str) -> None:
    ctx.reply(f"事项 {case.id} 已由{last_actor(ctx, case)}处理，当前状态「{case.state_label}」，无需再{wanted}。")


def try_move(ctx: Context, case: Case, to: S, wanted: str, **kw: Any) -> bool:
    try:
        ok = move(ctx.db, case, to, actor=ctx.me, now=ctx.now(), **kw)
    except InvalidTransition as exc:
        if CaseState(case.state) == to:
            already(ctx, case, wanted)
        else:
            ctx.reply(f"{exc} 如需查看，请发送“事项 {case.id}”。")
        return False
    if not ok:
        already(ctx, case, wanted)
    return ok


def tell_reporter(ctx: Context, case: Case, what: str) -> None:
    """The leader who raised the flag hears back in one line (nothing beyond what they already know)."""
    reporter_id = case.reporter_id or case.opened_by_id
    if not case.talk_id or reporter_id is None or ctx.person is None or reporter_id == ctx.person.id:
        return
    reporter = ctx.db.get(Person, reporter_id)
    if reporter is not None:
        ctx.notify(reporter, f"您在谈话 #{case.talk_id} 中对{case.subject.name}的标记（{cards.flag_label(case)}）"
                             f"已由{ctx.me.name}{what}。", ref=f"case:{case.id}")


def _author_name(ctx: Context, case: Case) -> str:
    return name_of(ctx.db, case.opened_by_id)


def refresh_flag_card(ctx: Context, case: Case, status: str, done: str | None = None, *,
                      others_done: str | None = None) -> None:
    """Replace every copy of the flag card: the clicker's through the click (it may keep next-step
    buttons), everyone else's (and a typing sender's) through the outbox."""
    if not case.talk_id:
        return
    tz = ctx.config.timezone
    mine = cards.flag_card(case, _author_name(ctx, case), tz, status=status, done=done)
    theirs = cards.flag_card(case, _author_name(ctx, case), tz, status=status, done=others_done or done)
    if ctx.incoming.action and (ctx.incoming.card_id or "").startswith(cards.flag_card_id(case)):
        ctx.update_card(mine)
        ctx.update_card_for_others(cards.flag_card_id(case), theirs)
    else:
        ctx.update_card_for_all(cards.flag_card_id(case), theirs)


# --- opening -----------------------------------------------------------------------------------

def open_for_talk(ctx: Context, talk_id: int) -> Case | None:
    """talk.flagged: one item per flagged talk, and a card to the branch secretaries."""
    talk = ctx.db.get(Talk, talk_id)
    if talk is None or talk.flag in (None, Flag.NONE):
        return None
    existing = ctx.db.scalars(select(Case).where(Case.talk_id == talk.id)).first()
    if existing is not None:
        return existing
    subject = talk.subject
    now = ctx.now()
    secretaries = secretaries_for(ctx.db, subject.unit) if subject.unit else []
    case = Case(talk_id=talk.id, subject_id=subject.id, subject=subject, unit_id=subject.unit_id,
                unit=subject.unit, opened_by_id=talk.author_id, reporter_id=talk.author_id, flag=talk.flag,
                category=talk.category, state=S.REPORTED, state_since=now, sla_since=now, created_at=now,
                holder_id=secretaries[0].id if len(secretaries) == 1 else None)
    ctx.db.add(case)
    ctx.db.flush()
    ctx.db.add(CaseEvent(case_id=case.id, at=now, actor_id=talk.author_id, kind="transition",
                         from_state=None, to_state=S.REPORTED, comment=f"谈话 #{talk.id} 标记"))
    ctx.db.flush()
    ctx.db.refresh(case)
    targets = secretaries or (committee_for(ctx.db, subject.unit) if subject.unit else [])
    card = cards.flag_card(case, talk.author.name, ctx.config.timezone)
    ctx.notify(targets, card, ref=card.card_id, idem_key=f"case:{case.id}:flag", priority=Priority.URGENT)
    ctx.audit("create", "case", case.id, f"from talk {talk.id}")
    return case


def open_direct(ctx: Context, subject: Person) -> Case | None:
    """A secretary opens an item directly for a person (no talk), to submit a care request on it."""
    if not ctx.require("case.handle", subject):
        return None
    now = ctx.now()
    case = Case(subject_id=subject.id, subject=subject, unit_id=subject.unit_id, unit=subject.unit,
                opened_by_id=ctx.me.id, flag=Flag.WATCH, state=S.ACKNOWLEDGED,
                state_since=now, sla_since=now, created_at=now, holder_id=ctx.me.id,
                secretary_id=ctx.me.id)
    ctx.db.add(case)
    ctx.db.flush()
    ctx.db.add(CaseEvent(case_id=case.id, at=now, actor_id=ctx.me.id, kind="transition", from_state=None,
                         to_state=S.ACKNOWLEDGED, comment="书记直接立项"))
    ctx.db.flush()
    ctx.db.refresh(case)
    ctx.audit("create", "case", case.id, "direct")
    return case


# --- secretary ---------------------------------------------------------------------------------

def acknowledge(ctx: Context, case: Case) -> None:
    if not ctx.require("case.handle", case):
        return
    if not try_move(ctx, case, S.ACKNOWLEDGED, "确认", holder_id=ctx.me.id, secretary_id=ctx.me.id):
        if case.state != S.REPORTED and ctx.clicked_card_code:
            ctx.update_card(cards.flag_card(case, _author_name(ctx, case), ctx.config.timezone,
                                            status=f"{case.state_label}（{last_actor(ctx, case)}）"))
        return
    status = f"{ctx.me.name} {fmt_time(ctx.now(), ctx.config.timezone)} 已确认"
    refresh_flag_card(ctx, case, status, others_done=f"{ctx.me.name}已确认")
    tell_reporter(ctx, case, "确认收到")
    ctx.reply(f"已确认收到事项 {case.id}（{case.subject.name}）。下一步：跟进 {case.id}（安排跟进谈话）"
              f"或 关爱 {case.id}（发起关爱申请）。")


def follow_up(ctx: Context, case: Case) -> None:
    if not ctx.require("case.handle", case):
        return
    from_reported = case.state == S.REPORTED
    if not try_move(ctx, case, S.FOLLOW_UP, "安排跟进谈话", holder_id=ctx.me.id,
                    secretary_id=case.secretary_id or ctx.me.id, comment="安排跟进谈话"):
        return
    refresh_flag_card(ctx, case, f"{ctx.me.name} {fmt_time(ctx.now(), ctx.config.timezone)} 安排跟进谈话",
                      done="已安排跟进谈话")
    if from_reported:
        tell_reporter(ctx, case, "确认收到")
    ctx.reply(f"已安排对{case.subject.name}的跟进谈话（事项 {case.id}）。谈话后请用“谈话”记录；"
              f"如需关爱帮扶，发送“关爱 {case.id}”。")


def assign_helper(ctx: Context, case: Case, helper: Person) -> None:
    if not ctx.require("case.handle", case):
        return
    if not ctx.can("helper.assignable", helper) or not helper.active:
        ctx.reply(f"{helper.name}不是党员，不能担任帮扶人。请另选一名党员。")
        return
    if case.subject_id == helper.id:
        ctx.reply("帮扶人不能是帮扶对象本人。")
        return
    previous = case.helper
    if previous is not None and previous.id == helper.id and case.state != S.APPROVED:
        ctx.reply(f"{helper.name}已是事项 {case.id} 的帮扶人，无需重复指派。")
        return
    if not try_move(ctx, case, S.HELPER_ASSIGNED, "指派帮扶人", helper_id=helper.id, holder_id=helper.id,
                    comment=f"帮扶人：{helper.name}" + (f"（接替{previous.name}）" if previous else "")):
        return
    ctx.notify(helper, cards.helper_card(case, ctx.me.name), ref=f"case{case.id}_help_v{case.version}",
               idem_key=f"case:{case.id}:help:{case.version}")
    if previous is not None and previous.id != helper.id:
        ctx.notify(previous, f"事项 {case.id}（{case.subject.name}）已由{ctx.me.name}改派{helper.name}帮扶，"
                             f"感谢您的付出。", ref=f"case:{case.id}")
    if not case.discreet and case.subject.active:
        ctx.notify(case.subject, f"您好，组织已同意为您提供关爱帮扶，{helper.name}将与您联系。", ref=f"case:{case.id}")
    ctx.reply(f"已指派{helper.name}为{case.subject.name}的一对一帮扶人（事项 {case.id}）。"
              + (f"已告知{previous.name}。" if previous is not None and previous.id != helper.id else "")
              + ("按您的选择，未通知本人。" if case.discreet else f"已告知{case.subject.name}由{helper.name}联系。"))


def close(ctx: Context, case: Case, outcome: str) -> None:
    if not ctx.require("case.handle", case):
        return
    outcome = outcome.strip()
    if not outcome:
        ctx.reply(f"请写明结案结果，例如：结案 {case.id} 已发放困难补助，家属康复出院")
        return
    if not try_move(ctx, case, S.CLOSED, "结案", outcome=outcome, closed_at=ctx.now(), holder_id=None,
                    comment=outcome):
        return
    if case.helper is not None and case.helper_id != ctx.me.id:
        ctx.notify(case.helper, f"事项 {case.id}（{case.subject.name}）已由{ctx.me.name}结案。感谢您的帮扶！",
                   ref=f"case:{case.id}")
    tell_reporter(ctx, case, "办结")
    ctx.reply(f"事项 {case.id} 已结案。")


# --- helper ------------------------------------------------------------------------------------

def report_progress(ctx: Context, case: Case, text: str) -> None:
    if not ctx.require("case.progress", case, what="只有该事项的帮扶人可以汇报进展。"):
        return
    text = text.strip()
    if not text:
        ctx.reply(f"请写上进展内容，例如：进展 {case.id} 已上门探望，送去慰问金")
        return
    now = ctx.now()
    if case.state == S.HELPER_ASSIGNED:
        if not try_move(ctx, case, S.IN_PROGRESS, "汇报", comment=text, expected=S.HELPER_ASSIGNED):
            return
    elif case.state == S.IN_PROGRESS:
        add_event(ctx.db, case, kind="progress", actor=ctx.me, now=now, comment=text)
        case.sla_since = now
        case.sla_step = 0
    else:
        ctx.reply(f"事项 {case.id} 当前状态「{case.state_label}」，不能再汇报进展。")
        return
    if case.secretary is not None:
        ctx.notify(case.secretary, f"帮扶进展 · 事项 {case.id}（{case.subject.name}）{ctx.me.name}：{text[:200]}",
                   ref=f"case:{case.id}")
    ctx.reply(f"已记录事项 {case.id} 的帮扶进展。")


# --- the talk changed --------------------------------------------------------------------------

def talk_changed(ctx: Context, talk_id: int) -> None:
    """An edited talk: unflagged → its early item closes (a later one keeps going, with a note);
    flag or category changed → the item follows, with a note in its history."""
    talk = ctx.db.get(Talk, talk_id)
    case = ctx.db.scalars(select(Case).where(Case.talk_id == talk_id)).first() if talk else None
    if talk is None or case is None or case.state == S.CLOSED:   # (no talk: no case either)
        if talk is not None and talk.flag not in (None, Flag.NONE) and case is None:
            open_for_talk(ctx, talk_id)
        return
    now = ctx.now()
    tell = case.secretary if case.secretary is not None and case.secretary.active else None
    people = [tell] if tell else secretaries_for(ctx.db, case.unit)
    if talk.flag in (None, Flag.NONE):
        note = f"谈话 #{talk.id} 已由{ctx.me.name}取消标记"
        if S(case.state) in EARLY:
            move(ctx.db, case, S.CLOSED, actor=ctx.me, now=now, comment=note + "，事项随之结束",
                 outcome="记录人取消了谈话标记", closed_at=now, holder_id=None)
            refresh_flag_card(ctx, case, "已取消标记", done="已取消标记")
            ctx.notify(people, f"事项 {case.id}（{case.subject.name}）：{note}，事项已自动结束。", ref=f"case:{case.id}")
        else:
            add_event(ctx.db, case, kind="note", actor=ctx.me, now=now, comment=note + "（关爱流程继续）")
            ctx.notify(people, f"事项 {case.id}（{case.subject.name}）：{note}。关爱流程（{case.state_label}）继续，"
                               f"如需结束请发送“结案 {case.id} 结果”。", ref=f"case:{case.id}")
        return
    if (talk.flag, talk.category) != (case.flag, case.category):
        before = cards.flag_label(case)
        case.flag, case.category = talk.flag, talk.category
        ctx.db.flush()
        add_event(ctx.db, case, kind="note", actor=ctx.me, now=now,
                  comment=f"谈话 #{talk.id} 的标记由「{before}」改为「{cards.flag_label(case)}」")
        if case.state == S.REPORTED:
            refresh_flag_card(ctx, case, f"{STATE_LABELS[S.REPORTED]}（标记已改为{cards.flag_label(case)}）")
        ctx.notify(people, f"事项 {case.id}（{case.subject.name}）的标记已改为「{cards.flag_label(case)}」。",
                   ref=f"case:{case.id}")
