"""免打扰 / mute (pause non-urgent messages for a while) and 每日提醒 / digest (see it now)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from bot.context import Context
from bot.quiet import release_held
from models.notice import Mute

from . import router
from .service import digest_text, digests

__all__ = ["mute", "show_digest"]

OFF_WORDS = {"关", "关闭", "取消", "off", "结束", "恢复"}
MAX_DAYS = 30
DURATION = re.compile(r"^(\d{1,3})\s*(天|日|d|day|days|小时|h|hour|hours|周|w|week|weeks)$", re.I)


def parse_duration(text: str) -> timedelta | None:
    """"3天", "2小时", "1周", "2d", "" (one day); None if not understood."""
    text = text.strip().lower()
    if not text:
        return timedelta(days=1)
    m = DURATION.match(text)
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2)
    if unit in ("小时", "h", "hour", "hours"):
        return timedelta(hours=n)
    if unit in ("周", "w", "week", "weeks"):
        return timedelta(weeks=n)
    return timedelta(days=n)


def _fmt(ctx: Context, moment: datetime) -> str:
    return moment.astimezone(ctx.tz).strftime("%m-%d %H:%M")


@router.command("免打扰", "mute", help="暂停接收非紧急消息一段时间（紧急事项照常送达）",
                usage="免打扰（1 天）· 免打扰 3天 · 免打扰 2小时 · 免打扰 关")
def mute(ctx: Context, args: str) -> None:
    """Hold the sender's non-urgent messages until a moment; they arrive afterwards, not lost."""
    me = ctx.me
    current = ctx.db.get(Mute, me.id)
    if args.strip().lower() in OFF_WORDS:
        ctx.db.execute(delete(Mute).where(Mute.person_id == me.id))
        was = current is not None and current.until > ctx.now()
        release_held(ctx.db, ctx.config, me, ctx.now(), None)
        ctx.reply("已关闭免打扰，非紧急消息恢复正常送达。" if was else "您当前没有开启免打扰。")
        return
    span = parse_duration(args)
    if span is None or span <= timedelta(0):
        ctx.reply("没看懂时长。例如：免打扰 3天、免打扰 2小时、免打扰 1周；关闭请发“免打扰 关”。")
        return
    if span > timedelta(days=MAX_DAYS):
        ctx.reply(f"免打扰最长 {MAX_DAYS} 天。")
        return
    until = ctx.now() + span
    if current is None:
        ctx.db.add(Mute(person_id=me.id, until=until))
    else:
        if current.until > until:   # shortened: what was held for the old end comes at the new one
            release_held(ctx.db, ctx.config, me, ctx.now(), until)
        current.until = until
    ctx.reply(f"已开启免打扰，到 {_fmt(ctx, until)} 为止。期间每日待办暂停，其他非紧急消息到时再送达；"
              "紧急标记和超时审批仍会立即通知您。发送“免打扰 关”可提前结束。")


@router.command("每日提醒", "digest", help="现在查看我的每日待办汇总")
def show_digest(ctx: Context, args: str) -> None:
    me = ctx.me
    lines = digests(ctx.db, ctx.config, ctx.now()).get(me.id)
    if not lines:
        ctx.reply("您今天没有待办事项。")
        return
    ctx.reply(digest_text(lines, ctx.now(), ctx.config.timezone))
    muted = ctx.db.scalar(select(Mute.until).where(Mute.person_id == me.id, Mute.until > ctx.now()))
    if muted:
        ctx.reply(f"（免打扰中，到 {_fmt(ctx, muted)}）")
