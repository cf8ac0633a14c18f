"""Card buttons and the join / leave / manage steps shared by buttons and typed commands."""
from __future__ import annotations

from bot.args import load_numbered
from bot.context import Context
from bot.messages import Button, Card, Text
from bot.router import Router
from models.activity import KIND_LABELS, Activity, ActivityStatus, SignupStatus
from models.directory import display_name, display_names
from models.org import Person

from . import seats, service, storm
from .cards import ActButton, ActCheckin, ActManage, activity_card, fmt_when, leave_confirm_card, manage_card
from .service import JoinResult

__all__ = ["ask_or_leave", "checkin_card", "checkin_for", "do_export", "do_join", "do_leave", "do_status",
           "load_activity", "load_activity_and_rest", "roster_text"]

JOIN_TEXT = {
    "confirmed": "✅ 报名成功：「{t}」，{w}，{p}。活动开始前会提醒您；如有变化请点“取消报名”让出名额。",
    "waitlisted": "⏳ 「{t}」名额已满，您已进入候补第 {n} 位。有人取消时将按顺序自动递补并通知您。",
    "already_confirmed": "您已经报名了「{t}」，无需重复报名。",
    "already_waitlisted": "您已在「{t}」的候补名单中（第 {n} 位），无需重复报名。",
    "full": "抱歉，「{t}」名额已满，本活动不设候补。",
    "closed": "「{t}」已停止报名。",
    "cancelled": "「{t}」已取消，不能报名。",
    "deadline": "「{t}」报名已截止（截止时间 {d}）。",
    "not_audience": "「{t}」只面向{u}的同志，您不在报名范围内。",
    "party_only": "「{t}」是党员活动（{k}），仅限{u}的党员参加。",
    "not_found": "没有找到这个活动，请发送“活动”查看可报名的活动。",
}

router = Router("activities")

_KIND_LABELS = {k.value: label for k, label in KIND_LABELS.items()}   # by the kind as stored (a str)


def load_activity(ctx: Context, args: str, usage: str) -> Activity | None:
    """The activity named by "N" or "#N" in `args`, or a reply saying what is wrong."""
    return load_activity_and_rest(ctx, args, usage)[0]


def load_activity_and_rest(ctx: Context, args: str, usage: str) -> tuple[Activity | None, str]:
    """load_activity, and what follows the number (a name for 代签到)."""
    return load_numbered(ctx, Activity, args, noun="活动", ask=f"请写上活动编号，例如：{usage}。发送“活动”可查看编号。",
                         hint="发送“活动”可查看编号。")


def _tz(ctx: Context) -> str:
    return ctx.config.timezone


def viewer_state(ctx: Context, act: Activity) -> tuple[str | None, int | None]:
    signup = service.signup_of(ctx.db, act.id, ctx.me.id)
    if signup is None or signup.status == SignupStatus.CANCELLED:
        return None, None
    if signup.status == SignupStatus.WAITLISTED:
        return signup.status, service.waitlist_position(ctx.db, signup)
    return signup.status, None


# Platforms whose card clicks are settled in batches (storm.py): the card update goes through the
# outbox and the text is the passive reply, which the batch reproduces for each click.
BATCHED_PLATFORMS = frozenset({"wecom"})


def do_join(ctx: Context, activity_id: int, *, from_card: bool) -> None:
    if from_card and ctx.incoming.platform in BATCHED_PLATFORMS:
        res, ctx.repeat = storm.batched_join(ctx, activity_id, _tz(ctx))
        if not ctx.repeat:
            _answer_join(ctx, res, card=False)
        return
    res = seats.join(ctx.db, activity_id, ctx.me, ctx.now())
    if res.outcome in ("confirmed", "waitlisted") and res.activity is not None:
        ctx.audit("activity.join", "activity", res.activity.id, res.outcome)
    _answer_join(ctx, res, card=from_card)


def _answer_join(ctx: Context, res: JoinResult, *, card: bool) -> None:
    act = res.activity
    if act is None:
        ctx.reply(JOIN_TEXT["not_found"])
        return
    outcome: str = res.outcome
    if outcome == "not_audience" and act.party_only and not ctx.me.is_party_member:
        outcome = "party_only"
    text = JOIN_TEXT[outcome].format(t=act.title, k=_KIND_LABELS.get(act.kind, act.kind), w=fmt_when(act, _tz(ctx)),
                                     p=act.place or "地点待定", n=res.position, u=act.audience_unit.name,
                                     d=act.deadline.astimezone(ctx.tz).strftime("%m-%d %H:%M"))
    viewer = {"confirmed": SignupStatus.CONFIRMED, "already_confirmed": SignupStatus.CONFIRMED,
              "waitlisted": SignupStatus.WAITLISTED, "already_waitlisted": SignupStatus.WAITLISTED,
              "full": "full"}.get(res.outcome)
    if card:
        ctx.update_card(activity_card(act, _tz(ctx), viewer=viewer, position=res.position, now=ctx.now(),
                                      card_id=ctx.incoming.card_id or ""))
    ctx.reply(text)


def ask_or_leave(ctx: Context, activity_id: int, *, from_card: bool, confirmed: bool = False) -> None:
    """取消报名: a confirmed seat is given up only after one more yes (card button or "取消报名 N 确认")."""
    signup = service.signup_of(ctx.db, activity_id, ctx.me.id)
    if signup is not None and signup.status == SignupStatus.CONFIRMED and not confirmed:
        act = ctx.db.get_one(Activity, activity_id)
        ctx.reply(leave_confirm_card(act, _tz(ctx)))
        ctx.reply(f"也可发送“取消报名 {activity_id} 确认”。")
        return
    do_leave(ctx, activity_id, from_card=from_card,
             expect=SignupStatus.CONFIRMED if confirmed else None)


def do_leave(ctx: Context, activity_id: int, *, from_card: bool, expect: str | None = None) -> None:
    res = seats.leave(ctx.db, activity_id, ctx.me, ctx.now(), expect=expect)
    act = res.activity
    if act is None:
        ctx.reply("没有找到这个活动。发送“我的报名”查看您报名的活动。")
        return
    if res.outcome == "stale":
        states: dict[str | None, str] = {SignupStatus.CONFIRMED: "已报名（候补已递补成功）",
                                         SignupStatus.WAITLISTED: "在候补名单中"}
        now_is = states.get(res.was, "")
        ctx.reply(f"这张卡片已过期，没有做任何更改：您现在{now_is or '的报名状态已变化'}。"
                  f"如不能参加，请发送“取消报名 {act.id}”。")
        if from_card:
            viewer, pos = viewer_state(ctx, act)
            ctx.update_card(activity_card(act, _tz(ctx), viewer=viewer, position=pos, now=ctx.now(),
                                          card_id=ctx.incoming.card_id or ""))
        return
    if res.outcome == "checked_in":
        ctx.reply(f"您已在「{act.title}」签到，不能再取消报名。如有变化请直接告诉组织者{act.organiser.name}。")
        return
    if res.outcome == "not_signed":
        ctx.reply(f"您没有报名「{act.title}」，无需取消。")
    elif res.outcome == "started":
        ctx.reply(f"「{act.title}」已经开始，不能再取消报名。如不能参加请直接告诉组织者{act.organiser.name}。")
    else:
        what = "候补" if res.was == SignupStatus.WAITLISTED else "报名"
        ctx.reply(f"已取消「{act.title}」的{what}。")
        ctx.audit("activity.leave", "activity", act.id, res.was or "")
        if res.promoted is not None:
            ctx.notify(res.promoted, Text(
                f"🎉 候补转正：「{act.title}」有人取消，您已获得名额！{fmt_when(act, _tz(ctx))}，"
                f"{act.place or '地点待定'}。如不能参加，请发送“取消报名 {act.id}”让给下一位。"),
                ref=f"activity:{act.id}")
    if from_card:
        ctx.update_card(activity_card(act, _tz(ctx), now=ctx.now(), card_id=ctx.incoming.card_id or ""))


def do_status(ctx: Context, act: Activity, op: str) -> None:
    """close / reopen / cancel, for the organiser and those the policy allows."""
    if not ctx.require("activity.manage", act, what=f"只有组织者或上级书记可以管理「{act.title}」。"):
        return
    new = {"close": ActivityStatus.CLOSED, "reopen": ActivityStatus.OPEN, "cancel": ActivityStatus.CANCELLED}[op]
    if not service.set_status(ctx.db, act, new):
        ctx.reply(f"「{act.title}」当前状态是“{manage_status(act)}”，不能{OP_LABELS[op]}。")
        return
    ctx.audit(f"activity.{op}", "activity", act.id)
    if new == ActivityStatus.CANCELLED:
        people = service.signed_up_people(ctx.db, act)
        ctx.notify(people, Text(f"❌ 活动取消通知：「{act.title}」（{fmt_when(act, _tz(ctx))}）已取消，"
                                f"您的报名随之作废。给您带来不便，敬请谅解。如有疑问请联系组织者{act.organiser.name}。"),
                   ref=f"activity:{act.id}")
        ctx.reply(f"已取消「{act.title}」，已通知报名和候补的 {len(people)} 人。")
    elif new == ActivityStatus.CLOSED:
        ctx.reply(f"「{act.title}」已停止报名。需要时可发送“重新开放 {act.id}”。")
    else:
        ctx.reply(f"「{act.title}」已重新开放报名。")


OP_LABELS = {"close": "关闭报名", "reopen": "重新开放", "cancel": "取消"}


def manage_status(act: Activity) -> str:
    from models.activity import STATUS_LABELS

    return STATUS_LABELS[ActivityStatus(act.status)]


def roster_text(ctx: Context, act: Activity) -> str:
    confirmed, waitlisted = service.roster(ctx.db, act)
    came = service.attended_ids(ctx.db, act)
    seats = "不限" if act.seats is None else str(act.seats)
    lines = [f"「{act.title}」报名名单（编号 {act.id}，{manage_status(act)}，签到码 {act.checkin_code}）",
             f"已报名 {len(confirmed)}/{seats}，候补 {len(waitlisted)}，已签到 {len(came)}"]
    label = display_names(ctx.db, [s.person for s in confirmed + waitlisted], always=True)
    for i, s in enumerate(confirmed, 1):
        lines.append(f"{i}. {label[s.person_id]}{' ✔已签到' if s.person_id in came else ''}")
    if waitlisted:
        lines.append("候补：")
        lines += [f"候补{i}. {label[s.person_id]}" for i, s in enumerate(waitlisted, 1)]
    lines.append(f"需要 Excel 名单（含签到时间）时，发送“导出报名 {act.id}”，文件会发到本会话。")
    return "\n".join(lines)


def do_export(ctx: Context, act: Activity) -> None:
    """The sign-up and attendance list as an Excel file message to the organiser (the policy was checked)."""
    from bot.files import file_name

    content, confirmed, waitlisted, came = service.roster_xlsx(ctx.db, act, ctx.config.timezone)
    on_its_way = ctx.send_file(file_name("报名名单", act.id, act.title), content)
    ctx.audit("export", "activity_roster", act.id)
    ctx.reply(f"已生成「{act.title}」的报名名单：已报名 {confirmed} 人，候补 {waitlisted} 人，已签到 {came} 人。"
              + on_its_way)


def checkin_for(ctx: Context, act: Activity, person: Person) -> str:
    """The organiser checks one participant in (button or “代签到 N 姓名”); returns the line to show."""
    signup = service.signup_of(ctx.db, act.id, person.id)
    if signup is None or signup.status != SignupStatus.CONFIRMED:
        return f"{display_name(ctx.db, person)} 不在已报名名单中。"
    if service.checkin_person(ctx.db, act, person, method="organiser", by=ctx.person, now=ctx.now()):
        ctx.audit("activity.checkin", "activity", act.id, f"person {person.id}")
        return f"✔ {display_name(ctx.db, person)} 已签到。"
    return f"{display_name(ctx.db, person)} 之前已签到。"


def checkin_card(ctx: Context, act: Activity, *, note: str = "", card_id: str = "") -> Card:
    """The organiser's check-in list: the next people not yet checked in, one button each."""
    confirmed, _ = service.roster(ctx.db, act)
    came = service.attended_ids(ctx.db, act)
    waiting = [s.person for s in confirmed if s.person_id not in came]
    label = display_names(ctx.db, waiting[:30])
    cut = any(len(label[p.id]) > 10 for p in waiting[:5])     # numbered buttons match the list below
    buttons = [Button((f"{i} {label[p.id]}" if cut else label[p.id])[:10], ActCheckin(act.id, p.id).pack())
               for i, p in enumerate(waiting[:5], 1)]
    buttons.append(Button("刷新", ActManage(act.id, "checkin").pack(), 2))
    body = [x for x in (note, f"已签到 {len(came)}/{len(confirmed)}；点姓名（或发送“代签到 {act.id} 姓名”）为其签到。"
                        f"参加者也可发送“签到 {act.checkin_code}”自行签到。") if x]
    if waiting:
        body.append("未签到：" + "、".join((f"{i}. " if cut and i <= 5 else "") + label[p.id]
                                         for i, p in enumerate(waiting[:30], 1)) + (" 等" if len(waiting) > 30 else ""))
    else:
        body.append("全部已签到。")
    from .cards import new_card_id

    return Card(title=f"【签到】{act.title}"[:36], body="\n".join(body), buttons=tuple(buttons),
                card_id=card_id or new_card_id(f"actk{act.id}"))


# --- buttons ----------------------------------------------------------------------------------

@router.action(ActButton)
def on_activity_button(ctx: Context, data: ActButton) -> None:
    """报名 / 取消报名 / 取消候补 pressed on an activity card: act, then update that user's card. 取消候补
    only ever cancels a waitlist place; 取消报名 of a confirmed seat asks first (确认取消报名)."""
    if data.op == "join":
        do_join(ctx, data.id, from_card=True)
    elif data.op == "unwait":
        do_leave(ctx, data.id, from_card=True, expect=SignupStatus.WAITLISTED)
    else:
        ask_or_leave(ctx, data.id, from_card=data.op == "leave", confirmed=data.op == "leaveok")


@router.action(ActManage)
def on_manage_button(ctx: Context, data: ActManage) -> None:
    """Organiser buttons on the management card."""
    act = ctx.db.get(Activity, data.id)
    if act is None:
        ctx.reply("这个活动已不存在。")
        return
    if not ctx.require("activity.manage", act, what=f"只有组织者或上级书记可以管理「{act.title}」。"):
        return
    if data.op == "roster":
        ctx.reply(roster_text(ctx, act))
    elif data.op == "export":
        do_export(ctx, act)
    elif data.op == "checkin":
        ctx.update_card(checkin_card(ctx, act, card_id=ctx.incoming.card_id or ""))
    elif data.op == "cancel":
        ctx.reply(Card(title=f"确认取消「{act.title}」？"[:36],
                       body="取消后所有报名和候补的人都会收到通知，且不能恢复。",
                       buttons=(Button("确认取消活动", ActManage(act.id, "cancelok").pack(), 3),)))
    else:
        do_status(ctx, act, "cancel" if data.op == "cancelok" else data.op)
        if data.op != "cancelok":
            ctx.update_card(manage_card(act, _tz(ctx), card_id=ctx.incoming.card_id or ""))


@router.action(ActCheckin)
def on_checkin_button(ctx: Context, data: ActCheckin) -> None:
    """The organiser checks one participant in from the list."""
    act = ctx.db.get(Activity, data.id)
    person = ctx.db.get(Person, data.person)
    if act is None or person is None:
        ctx.reply("这张签到卡片已失效。")
        return
    if not ctx.require("activity.manage", act, what=f"只有组织者或上级书记可以为「{act.title}」签到。"):
        return
    note = checkin_for(ctx, act, person)
    ctx.update_card(checkin_card(ctx, act, note=note, card_id=ctx.incoming.card_id or ""))
