"""Typed commands: publish, list, join, leave, my sign-ups, roster, manage, check in."""
from __future__ import annotations

from bot.context import Context
from bot.forms import Invalid
from bot.router import CommandHandler, Router
from models.activity import ActivityStatus, SignupStatus
from models.directory import display_names
from models.policy import can

from . import service
from .actions import (
    ask_or_leave,
    checkin_card,
    checkin_for,
    do_export,
    do_join,
    do_status,
    load_activity,
    load_activity_and_rest,
    roster_text,
    viewer_state,
)
from .cards import activity_card, fmt_when, manage_card, new_card_id
from .forms import PUBLISH_FORM
from .parsing import USAGE, ActivityAnswers, parse_one_line

router = Router("activities")


def _can_publish(ctx: Context) -> bool:
    return can(ctx.person, "publish")


def _can_manage(ctx: Context) -> bool:
    return can(ctx.person, "activity.manage")


@router.command("发布活动", "publish", help="发布活动（逐项引导，或一行写完）", usage=f"例：{USAGE}",
                allowed=_can_publish)
def publish(ctx: Context, args: str) -> None:
    """Start the publish dialog, prefilled with whatever the one-line form gave."""
    answers: ActivityAnswers = {}
    if args:
        try:
            answers = parse_one_line(ctx, args)
        except Invalid as exc:
            ctx.reply(f"{exc}\n格式：{USAGE}")
            return
    PUBLISH_FORM.start(ctx, answers)


@router.command("活动", "activities", help="可报名的活动；“活动 N”查看详情并报名", usage="例：活动 / 活动 3")
def list_activities(ctx: Context, args: str) -> None:
    """Open activities for me (or one activity's card with "活动 N")."""
    if args.strip():
        act = load_activity(ctx, args, "活动 3")
        if act is None:
            return
        if not can(ctx.person, "activity.join", act) and not can(ctx.person, "activity.manage", act):
            ctx.reply(f"「{act.title}」仅限党员参加。" if act.party_only and not ctx.me.is_party_member
                      else f"「{act.title}」不在您的报名范围内。")
            return
        viewer, pos = viewer_state(ctx, act)
        ctx.reply(activity_card(act, ctx.config.timezone, viewer=viewer, position=pos, now=ctx.now(),
                                card_id=new_card_id(f"act{act.id}")))
        if can(ctx.person, "activity.manage", act):
            ctx.reply(manage_card(act, ctx.config.timezone))
        return
    acts = service.open_activities_for(ctx.db, ctx.me, ctx.now())
    # the organiser's own, even when published to a unit they are not in (a committee-wide activity)
    acts += [a for a in service.organised_by(ctx.db, ctx.me, ctx.now()) if a.id not in {x.id for x in acts}]
    acts.sort(key=lambda a: a.starts_at)
    if not acts:
        ctx.reply("目前没有面向您的活动。")
        return
    lines = ["面向您的活动（回复“报名 编号”报名，“活动 编号”看详情）："]
    for act in acts:
        viewer, pos = viewer_state(ctx, act)
        mark = {"confirmed": " ✅已报名", "waitlisted": f" ⏳候补第{pos}位"}.get(viewer or "", "")
        if act.organiser_id == ctx.me.id:
            mark += f" 📋我组织的（“报名名单 {act.id}”）"
        if (not mark and act.status == ActivityStatus.CLOSED) or (not mark and ctx.now() > act.deadline):
            mark = " （已截止）"
        seats = "不限" if act.seats is None else f"余{max(0, act.seats - act.seats_taken)}/{act.seats}"
        lines.append(f"#{act.id} {act.title} · {fmt_when(act, ctx.config.timezone)} · "
                     f"{act.place or '地点待定'} · {seats}{mark}")
    ctx.reply("\n".join(lines))


@router.command("报名", "join", help="报名活动", usage="例：报名 3")
def join_cmd(ctx: Context, args: str) -> None:
    act = load_activity(ctx, args, "报名 3")
    if act is not None:
        do_join(ctx, act.id, from_card=False)


@router.command("取消报名", "cancel", "leave", help="取消报名或候补（写活动编号；已报名的会再确认一次）",
                usage="例：取消报名 3；确认：取消报名 3 确认")
def leave_cmd(ctx: Context, args: str) -> None:
    act = load_activity(ctx, args, "取消报名 3")
    if act is not None:
        ask_or_leave(ctx, act.id, from_card=False, confirmed=args.strip().endswith(("确认", "confirm")))


@router.command("我的报名", "mine", help="我报名的活动")
def mine(ctx: Context, args: str) -> None:
    rows = service.my_signups(ctx.db, ctx.me, ctx.now())
    if not rows:
        ctx.reply("您目前没有报名的活动。发送“活动”看看有哪些活动。")
        return
    lines = ["您的报名："]
    for signup, act in rows:
        if signup.status == SignupStatus.WAITLISTED:
            state = f"候补第{service.waitlist_position(ctx.db, signup)}位"
        else:
            state = "已报名"
        if act.status == ActivityStatus.CANCELLED:
            state = "活动已取消"
        lines.append(f"#{act.id} {act.title} · {fmt_when(act, ctx.config.timezone)} · "
                     f"{act.place or '地点待定'} · {state}")
    lines.append("取消请发送“取消报名 编号”。")
    ctx.reply("\n".join(lines))


@router.command("报名名单", "roster", help="活动的报名和候补名单（组织者）", usage="例：报名名单 3",
                allowed=_can_manage)
def roster_cmd(ctx: Context, args: str) -> None:
    act = load_activity(ctx, args, "报名名单 3")
    if act is not None and ctx.require("activity.manage", act, what="只有组织者或上级书记可以查看报名名单。"):
        ctx.audit("read", "activity_roster", act.id)
        ctx.reply(roster_text(ctx, act))


def _status_cmd(op: str, usage: str) -> CommandHandler:
    def handler(ctx: Context, args: str) -> None:
        act = load_activity(ctx, args, usage)
        if act is not None:
            do_status(ctx, act, op)
    return handler


router.command("关闭报名", "close-signup", help="停止报名（组织者）", usage="例：关闭报名 3",
               allowed=_can_manage)(_status_cmd("close", "关闭报名 3"))
router.command("重新开放", "reopen", help="重新开放报名（组织者）", usage="例：重新开放 3",
               allowed=_can_manage)(_status_cmd("reopen", "重新开放 3"))
router.command("取消活动", "cancel-activity", help="取消活动并通知所有报名者（组织者）", usage="例：取消活动 3",
               allowed=_can_manage)(_status_cmd("cancel", "取消活动 3"))


@router.command("签到名单", "checkins", help="签到名单，点姓名签到（组织者）", usage="例：签到名单 3",
                allowed=_can_manage)
def checkin_list(ctx: Context, args: str) -> None:
    act = load_activity(ctx, args, "签到名单 3")
    if act is not None and ctx.require("activity.manage", act, what="只有组织者或上级书记可以签到。"):
        ctx.reply(checkin_card(ctx, act))


@router.command("代签到", "checkin-for", help="为已报名的人签到（组织者）", usage="例：代签到 3 张三",
                allowed=_can_manage)
def checkin_for_cmd(ctx: Context, args: str) -> None:
    """The text twin of the name buttons on the check-in card: same policy, same record, same answer."""
    act, who = load_activity_and_rest(ctx, args, "代签到 3 张三")
    if act is None or not ctx.require("activity.manage", act, what=f"只有组织者或上级书记可以为「{act.title}」签到。"):
        return
    if not who:
        ctx.reply(f"请写上要签到的人，例如：代签到 {act.id} 张三（重名时写账号）。")
        return
    confirmed, _ = service.roster(ctx.db, act)
    people = [s.person for s in confirmed]
    label = display_names(ctx.db, people, always=True)
    found = [p for p in people if who in (p.name, p.wecom_userid, p.dingtalk_userid, label[p.id])]
    if len(found) > 1:
        ctx.reply(f"「{act.title}」的已报名名单里有 {len(found)} 位“{who[:20]}”：" +
                  "、".join(label[p.id] for p in found[:5]) + f"。请写账号，例如：代签到 {act.id} "
                  f"{found[0].wecom_userid or found[0].dingtalk_userid or found[0].name}")
        return
    if not found:
        ctx.reply(f"“{who[:20]}”不在「{act.title}」的已报名名单中。发送“签到名单 {act.id}”查看未签到的人。")
        return
    note = checkin_for(ctx, act, found[0])
    came = len(service.attended_ids(ctx.db, act))
    ctx.reply(f"{note}「{act.title}」已签到 {came}/{len(confirmed)}。")


@router.command("导出报名", "export-signups", "导出名单", help="报名和签到名单导出为 Excel 文件（组织者）",
                usage="例：导出报名 3", allowed=_can_manage)
def export_cmd(ctx: Context, args: str) -> None:
    act = load_activity(ctx, args, "导出报名 3")
    if act is not None and ctx.require("activity.manage", act, what="只有组织者或上级书记可以导出报名名单。"):
        do_export(ctx, act)


@router.command("签到", "checkin", help="活动现场签到", usage="例：签到 123456（签到码由组织者公布）")
def checkin(ctx: Context, args: str) -> None:
    code = args.strip()
    if not code:
        ctx.reply("请在“签到”后写上组织者公布的签到码，例如：签到 123456")
        return
    outcome, act = service.checkin_by_code(ctx.db, ctx.me, code, ctx.now())
    if outcome == "bad_code" or act is None:   # (only bad_code comes without an activity)
        ctx.reply(f"签到码“{code[:12]}”不对，请向组织者确认。")
    elif outcome == "not_signed":
        ctx.reply(f"您没有报名「{act.title}」（或仍在候补），不能签到。请联系组织者{act.organiser.name}。")
    elif outcome == "not_now":
        ctx.reply(f"「{act.title}」的签到在活动开始前 30 分钟到活动结束之间进行"
                  f"（{fmt_when(act, ctx.config.timezone)}）。")
    elif outcome == "again":
        ctx.reply(f"您已经签到过「{act.title}」了。")
    else:
        ctx.audit("activity.checkin", "activity", act.id, "code")
        ctx.reply(f"✔ 签到成功：「{act.title}」。感谢参与！")
