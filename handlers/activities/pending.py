"""Activities' part of 待办 (bot.pending): what I organise, what I signed up for, what I may still
join; and 卡片 活动 N, the activity's current card for the sender."""
from __future__ import annotations

from sqlalchemy import select

from bot.args import not_found
from bot.context import Context
from bot.messages import Card
from bot.pending import PendingItem
from bot.router import Router
from models.activity import Activity, ActivityStatus, SignupStatus
from models.policy import can

from . import service
from .actions import viewer_state
from .cards import activity_card, fmt_when, new_card_id

router = Router("activities")

NOUN = "活动"


@router.pending
def pending_activities(ctx: Context) -> list[PendingItem]:
    now, tz, me = ctx.now(), ctx.config.timezone, ctx.me
    items: list[PendingItem] = []
    organised = ctx.db.scalars(select(Activity).where(Activity.organiser_id == me.id, Activity.ends_at > now,
                                                      Activity.status != ActivityStatus.CANCELLED)
                               .order_by(Activity.starts_at).limit(10)).unique().all()
    for act in organised:
        seats = "" if act.seats is None else f"/{act.seats}"
        items.append(PendingItem("我组织的活动", f"#{act.id} {act.title} · {fmt_when(act, tz)} · 已报名 {act.seats_taken}{seats}",
                                 (f"报名名单 {act.id}", f"签到名单 {act.id}"), NOUN, act.id, act.starts_at))
    mine = {a.id for _s, a in service.my_signups(ctx.db, me, now)}
    for signup, act in service.my_signups(ctx.db, me, now):
        if act.ends_at <= now or act.status == ActivityStatus.CANCELLED:
            continue
        state = "已报名" if signup.status == SignupStatus.CONFIRMED else \
            f"候补第{service.waitlist_position(ctx.db, signup)}位"
        items.append(PendingItem("我报名的活动", f"#{act.id} {act.title} · {fmt_when(act, tz)} · {state}",
                                 (f"活动 {act.id}", f"取消报名 {act.id}"), NOUN, act.id, act.starts_at))
    for act in service.open_activities_for(ctx.db, me, now, limit=10):
        if act.id in mine or act.status != ActivityStatus.OPEN or act.deadline <= now or act.organiser_id == me.id:
            continue
        items.append(PendingItem("可以报名的活动", f"#{act.id} {act.title} · {fmt_when(act, tz)} · "
                                 f"{act.deadline.astimezone(ctx.tz):%m-%d %H:%M} 截止",
                                 (f"报名 {act.id}",), NOUN, act.id, act.deadline))
    return items


@router.card_source(NOUN)
def activity_card_for(ctx: Context, number: int) -> Card | None:
    """The activity card as the sender would see it now (their sign-up state), new card id."""
    act = ctx.db.get(Activity, number)
    if act is None:
        ctx.reply(not_found(NOUN, str(number), "发送“活动”可查看编号。"))
        return None
    if not can(ctx.person, "activity.join", act) and not can(ctx.person, "activity.manage", act):
        ctx.reply(f"「{act.title}」不在您的报名范围内。")
        return None
    viewer, pos = viewer_state(ctx, act)
    return activity_card(act, ctx.config.timezone, viewer=viewer, position=pos, now=ctx.now(),
                         card_id=new_card_id(f"act{act.id}"))
