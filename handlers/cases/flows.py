"""Case operations used by buttons, chat commands, forms and the talk.flagged subscriber.

Every operation: check the policy (ctx.require), move the case with a conditional UPDATE
(models.case.move), then tell people (outbox) and the sender (reply / card update). When the
move loses a race or the state has already moved on, the sender gets a polite answer naming
who acted and when.
"""
from __future__ import annotations

from sqlalchemy import select

from bot.context import Context
from models.case import STATE_LABELS, Case, CaseEvent, CaseState, InvalidTransition, add_event, move
from models.org import Person
from models.outbox import Priority
from models.talk import Flag, Talk

from . import cards
from .service import committee_for, decision_event, fmt_time, name_of, secretaries_for

S = CaseState


def load_case(ctx: Context, case_id: int) -> Case | None:
    case = ctx.db.get(Case, case_id)
    if case is None:
        ctx.reply(f"没有找到案件 #{case_id}。")
    return case


def _tz(ctx: Context) -> str:
    return ctx.config.timezone


def _last_actor(ctx: Context, case: Case) -> str:
    ev = case.events[-1] if case.events else None
    if ev is None:
        return ""
    return f"{name_of(ctx.db, ev.actor_id)}于{fmt_time(ev.at, _tz(ctx))}"


def _already(ctx: Context, case: Case, wanted: str) -> None:
    ctx.reply(f"案件 #{case.id} 已由{_last_actor(ctx, case)}处理，当前状态「{case.state_label}」，"
              f"无需再{wanted}。")


def _try_move(ctx: Context, case: Case, to: S, wanted: str, **kw) -> bool:
    try:
        ok = move(ctx.db, case, to, actor=ctx.person, now=ctx.now(), **kw)
    except InvalidTransition as exc:
        if CaseState(case.state) == to:
            _already(ctx, case, wanted)
        else:
            ctx.reply(f"{exc} 如需查看，请发送“案件 {case.id}”。")
        return False
    if not ok:
        _already(ctx, case, wanted)
    return ok


# --- opening -----------------------------------------------------------------------------------

def open_for_talk(ctx: Context, talk_id: int) -> Case | None:
    """talk.flagged: one case per flagged talk, and a card to the branch secretaries."""
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
                unit=subject.unit, opened_by_id=talk.author_id, flag=talk.flag, category=talk.category,
                state=S.REPORTED, state_since=now, sla_since=now, created_at=now,
                holder_id=secretaries[0].id if len(secretaries) == 1 else None)
    ctx.db.add(case)
    ctx.db.flush()
    ctx.db.add(CaseEvent(case_id=case.id, at=now, actor_id=talk.author_id, kind="transition",
                         from_state=None, to_state=S.REPORTED, comment=None))
    ctx.db.flush()
    ctx.db.refresh(case)
    targets = secretaries or committee_for(ctx.db, subject.unit)
    card = cards.flag_card(case, talk.author.name, _tz(ctx))
    ctx.notify(targets, card, ref=card.card_id, idem_key=f"case:{case.id}:flag", priority=Priority.URGENT)
    ctx.audit("create", "case", case.id, f"from talk {talk.id}")
    return case


def open_direct(ctx: Context, subject: Person, need: str) -> Case | None:
    """A secretary opens a care request directly for a person (no talk)."""
    if not ctx.require("case.handle", subject):
        return None
    now = ctx.now()
    case = Case(subject_id=subject.id, subject=subject, unit_id=subject.unit_id, unit=subject.unit,
                opened_by_id=ctx.person.id, flag=Flag.WATCH, state=S.ACKNOWLEDGED,
                state_since=now, sla_since=now, created_at=now, holder_id=ctx.person.id,
                secretary_id=ctx.person.id)
    ctx.db.add(case)
    ctx.db.flush()
    ctx.db.add(CaseEvent(case_id=case.id, at=now, actor_id=ctx.person.id, kind="transition", from_state=None,
                         to_state=S.ACKNOWLEDGED, comment="书记直接立案"))
    ctx.db.flush()
    ctx.db.refresh(case)
    ctx.audit("create", "case", case.id, "direct")
    submit_care(ctx, case, need)
    return case


# --- secretary ---------------------------------------------------------------------------------

def _author_name(ctx: Context, case: Case) -> str:
    return name_of(ctx.db, case.opened_by_id)


def acknowledge(ctx: Context, case: Case) -> None:
    if not ctx.require("case.handle", case):
        return
    if not _try_move(ctx, case, S.ACKNOWLEDGED, "确认", holder_id=ctx.person.id, secretary_id=ctx.person.id):
        if case.state != S.REPORTED and ctx.clicked_card_code:
            ctx.update_card(cards.flag_card(case, _author_name(ctx, case), _tz(ctx),
                                            status=f"{case.state_label}（{_last_actor(ctx, case)}）"))
        return
    when = fmt_time(ctx.now(), _tz(ctx))
    ctx.update_card(cards.flag_card(case, _author_name(ctx, case), _tz(ctx), status=f"{ctx.person.name} {when} 已确认"))
    ctx.update_card_for_others(cards.flag_card_id(case),
                               cards.flag_card(case, _author_name(ctx, case), _tz(ctx),
                                               status=f"{ctx.person.name} {when} 已确认",
                                               done=f"{ctx.person.name}已确认"))
    ctx.reply(f"已确认收到案件 #{case.id}（{case.subject.name}）。下一步可安排跟进谈话或发起关爱申请。")


def follow_up(ctx: Context, case: Case) -> None:
    if not ctx.require("case.handle", case):
        return
    if not _try_move(ctx, case, S.FOLLOW_UP, "安排跟进谈话", holder_id=ctx.person.id,
                     secretary_id=case.secretary_id or ctx.person.id, comment="安排跟进谈话"):
        return
    ctx.update_card(cards.flag_card(case, _author_name(ctx, case), _tz(ctx),
                                    status=f"{ctx.person.name} {fmt_time(ctx.now(), _tz(ctx))} 安排跟进谈话",
                                    done="已安排跟进谈话"))
    ctx.reply(f"已安排对{case.subject.name}的跟进谈话（案件 #{case.id}）。谈话后请用“谈话”记录；"
              f"如需关爱帮扶，发送“关爱申请 {case.id} 需求内容”。")


def submit_care(ctx: Context, case: Case, need: str) -> bool:
    if not ctx.require("case.handle", case):
        return False
    need = need.strip()
    if not need:
        ctx.reply("请写明关爱需求，例如：关爱申请 12 家属住院，需探望慰问并申请困难补助")
        return False
    if not _try_move(ctx, case, S.CARE_REQUESTED, "发起关爱申请", need=need, holder_id=None,
                     secretary_id=case.secretary_id or ctx.person.id, decision=None, decided_by_id=None,
                     decided_at=None, reject_reason=None, comment="发起关爱申请"):
        return False
    committee = committee_for(ctx.db, case.unit)
    card = cards.care_card(case, ctx.person.name, _tz(ctx))
    ctx.notify(committee, card, ref=card.card_id, idem_key=f"case:{case.id}:{card.card_id}", priority=Priority.URGENT)
    ctx.reply(f"已提交关爱申请 #{case.id}（{case.subject.name}），等待党委审批。")
    return True


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
    if not _try_move(ctx, case, S.HELPER_ASSIGNED, "指派帮扶人", helper_id=helper.id, holder_id=helper.id,
                     comment=f"帮扶人：{helper.name}"):
        return
    ctx.notify(helper, cards.helper_card(case, ctx.person.name), ref=f"case{case.id}_help_v{case.version}",
               idem_key=f"case:{case.id}:help:{case.version}")
    if previous is not None and previous.id != helper.id:
        ctx.notify(previous, f"案件 #{case.id} 已改由{helper.name}帮扶，感谢您的付出。", ref=f"case:{case.id}")
    ctx.reply(f"已指派{helper.name}为{case.subject.name}的一对一帮扶人（案件 #{case.id}）。")


def close(ctx: Context, case: Case, outcome: str) -> None:
    if not ctx.require("case.handle", case):
        return
    outcome = outcome.strip()
    if not outcome:
        ctx.reply(f"请写明结案结果，例如：结案 {case.id} 已发放困难补助，家属康复出院")
        return
    if not _try_move(ctx, case, S.CLOSED, "结案", outcome=outcome, closed_at=ctx.now(), holder_id=None,
                     comment=outcome):
        return
    if case.helper is not None and case.helper_id != ctx.person.id:
        ctx.notify(case.helper, f"案件 #{case.id}（{case.subject.name}）已由{ctx.person.name}结案。感谢您的帮扶！",
                   ref=f"case:{case.id}")
    ctx.reply(f"案件 #{case.id} 已结案。")


# --- committee ---------------------------------------------------------------------------------

def _decided_text(ctx: Context, case: Case) -> str:
    ev = decision_event(case)
    if ev is None:
        return f"当前状态「{case.state_label}」"
    verb = "同意" if ev.to_state == S.APPROVED else "驳回"
    return f"已由{name_of(ctx.db, ev.actor_id)}于{fmt_time(ev.at, _tz(ctx))}{verb}"


def refuse_decided(ctx: Context, case: Case, response_code: str | None = None) -> None:
    """Second click, or another approver: polite refusal naming who decided; grey their card too."""
    text = _decided_text(ctx, case)
    ctx.reply(f"关爱申请 #{case.id} {text}，无需重复审批。")
    if response_code or ctx.clicked_card_code:
        ev = decision_event(case)
        if ev is not None:
            done = "已同意" if ev.to_state == S.APPROVED else "已驳回"
            ctx.update_card(_decided_card(ctx, case, ev, done), response_code=response_code)


def _decided_card(ctx: Context, case: Case, ev, done: str):
    return cards.care_card(case, name_of(ctx.db, case.secretary_id), _tz(ctx),
                           status=f"{name_of(ctx.db, ev.actor_id)} {fmt_time(ev.at, _tz(ctx))} {done}", done=done)


def decide(ctx: Context, case: Case, approve: bool, reason: str = "", response_code: str | None = None) -> bool:
    """Approve, or reject with a reason; exactly one decision wins."""
    if not ctx.require("care.approve", case):
        return False
    if case.state != S.CARE_REQUESTED:
        refuse_decided(ctx, case, response_code)
        return False
    card_id = cards.care_card_id(case)
    to = S.APPROVED if approve else S.REJECTED
    now = ctx.now()
    values = dict(decision=to, decided_by_id=ctx.person.id, decided_at=now,
                  holder_id=case.secretary_id)
    if not approve:
        values["reject_reason"] = reason
    ok = move(ctx.db, case, to, actor=ctx.person, now=now, comment=reason or None,
              expected=S.CARE_REQUESTED, **values)
    if not ok:
        refuse_decided(ctx, case, response_code)
        return False
    done = "已同意" if approve else "已驳回"
    status = f"{ctx.person.name} {fmt_time(now, _tz(ctx))} {done}"
    card = cards.care_card(case, name_of(ctx.db, case.secretary_id), _tz(ctx), status=status, done=done)
    if response_code or ctx.incoming.action:
        ctx.update_card(card, response_code=response_code)
    ctx.update_card_for_others(card_id, card)
    secretary = case.secretary
    secretary_name = secretary.name if secretary else "支部书记"
    if approve:
        ctx.reply(f"已同意关爱申请 #{case.id}（{case.subject.name}）。已通知{secretary_name}指派帮扶人。")
        if secretary is not None:
            c = cards.approved_card(case, ctx.person.name, _tz(ctx))
            ctx.notify(secretary, c, ref=c.card_id, idem_key=f"case:{case.id}:approved:{case.version}",
                       priority=Priority.URGENT)
    else:
        ctx.reply(f"已驳回关爱申请 #{case.id}，理由已转告{secretary_name}。")
        if secretary is not None:
            ctx.notify(secretary, f"关爱申请 #{case.id}（{case.subject.name}）被{ctx.person.name}驳回。理由：{reason}\n"
                                  f"可修改后重新申请（关爱申请 {case.id} 需求…）或结案（结案 {case.id} 结果…）。",
                       ref=f"case:{case.id}")
    return True


# --- helper ------------------------------------------------------------------------------------

def report_progress(ctx: Context, case: Case, text: str) -> None:
    if not ctx.require("case.progress", case, what="只有该案件的帮扶人可以汇报进展。"):
        return
    text = text.strip()
    if not text:
        ctx.reply(f"请写上进展内容，例如：进展 {case.id} 已上门探望，送去慰问金")
        return
    now = ctx.now()
    if case.state == S.HELPER_ASSIGNED:
        if not _try_move(ctx, case, S.IN_PROGRESS, "汇报", comment=text, expected=S.HELPER_ASSIGNED):
            return
    elif case.state == S.IN_PROGRESS:
        add_event(ctx.db, case, kind="progress", actor=ctx.person, now=now, comment=text)
        case.sla_since = now
        case.sla_step = 0
    else:
        ctx.reply(f"案件 #{case.id} 当前状态「{case.state_label}」，不能再汇报进展。")
        return
    if case.secretary is not None:
        ctx.notify(case.secretary, f"帮扶进展 #{case.id}（{case.subject.name}）{ctx.person.name}：{text[:200]}",
                   ref=f"case:{case.id}")
    ctx.reply(f"已记录案件 #{case.id} 的帮扶进展。")


def state_text(case: Case) -> str:
    return STATE_LABELS[CaseState(case.state)]
