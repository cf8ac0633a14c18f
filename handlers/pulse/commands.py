"""共性问题 / problems: the alerts of the sender's branches, and 共性问题 立项 N to open an item."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select

from bot.context import Context
from models.enums import Role
from models.org import Unit
from models.policy import can, scopes
from models.pulse_alert import PulseAlert

from . import router
from .actions import open_item
from .cards import what

USAGE = "共性问题 [立项 编号]"
OPEN_WORDS = {"立项", "转为事项", "open"}


def _allowed(ctx: Context) -> bool:
    return can(ctx.person, "case.handle")


@router.command("共性问题", "problems", help="本支部班组的共性问题提醒，可转为事项跟进", usage=USAGE, allowed=_allowed)
def problems(ctx: Context, args: str) -> None:
    words = args.replace("#", " ").split()
    if words and words[0].lower() in OPEN_WORDS:
        if len(words) < 2 or not words[1].isdigit():
            ctx.reply(f"请写上提醒编号，例如：共性问题 立项 3（用法：{USAGE}）")
            return
        open_item(ctx, int(words[1]))
        return
    if words:
        ctx.reply(f"用法：{USAGE}")
        return
    paths = [u.path for u in scopes(ctx.me, Role.SECRETARY) if u.path]
    since = ctx.now() - timedelta(days=90)
    alerts = ctx.db.scalars(select(PulseAlert).join(Unit, Unit.id == PulseAlert.team_id)
                            .where(or_(*[Unit.path.like(f"{p}%") for p in paths]), PulseAlert.fired_at >= since)
                            .order_by(PulseAlert.id.desc()).limit(20)).all() if paths else []
    if not alerts:
        ctx.reply("近 90 天没有共性问题提醒。")
        return
    lines = ["近 90 天的共性问题提醒："]
    for a in alerts:
        state = f"已转为事项 #{a.case_id}" if a.case_id else f"未处理（共性问题 立项 {a.id}）"
        lines.append(f"#{a.id} {what(a)} · {a.fired_at.astimezone(ctx.tz):%m-%d} · {state}")
    ctx.reply("\n".join(lines))
