"""死信 / dead and 重发 N / resend N: admins see messages the outbox gave up on and re-queue them."""
from __future__ import annotations

from sqlalchemy import func, select

from bot.args import parse_item_number
from bot.context import Context
from bot.outbox import resend_dead
from bot.router import Router
from handlers.cases.service import fmt_time
from models.outbox import OutboxMessage, OutboxStatus

router = Router("admin_outbox")


def _admin(ctx: Context) -> bool:
    return ctx.can("roster.admin")


@router.command("死信", "dead", help="查看发送失败的消息（管理员）", allowed=_admin)
def dead(ctx: Context, args: str) -> None:
    """The latest dead rows: id, platform, recipients, attempts, last error (never the content)."""
    if not ctx.require("roster.admin"):
        return
    total = ctx.db.scalar(select(func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.status == OutboxStatus.DEAD)) or 0
    rows = ctx.db.scalars(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
                          .order_by(OutboxMessage.id.desc()).limit(20)).all()
    if not rows:
        ctx.reply("没有发送失败的消息。")
        return
    lines = [f"发送失败的消息共 {total} 条（最近 {len(rows)} 条）："]
    for r in rows:
        who = "、".join((r.recipients or [])[:3]) + ("等" if len(r.recipients or []) > 3 else "")
        lines.append(f"#{r.id} {r.platform} → {who or '—'} 尝试{r.attempts}次 {fmt_time(r.created_at, ctx.config.timezone)}"
                     f" {r.ref or ''} 错误：{(r.last_error or '')[:60]}")
    lines.append("发送“重发 编号”重新发送，或“重发 全部”。")
    ctx.reply("\n".join(lines))


@router.command("重发", "resend", help="重新发送失败的消息（管理员）", usage="重发 N / 重发 全部", allowed=_admin)
def resend(ctx: Context, args: str) -> None:
    if not ctx.require("roster.admin"):
        return
    words = args.replace(",", " ").replace("，", " ").split()
    if not words:
        ctx.reply("用法：重发 编号（可写多个，空格分隔），或 重发 全部")
        return
    if words[0] in ("全部", "all"):
        ids = None
    else:
        ids = [parse_item_number(w) for w in words]
        if None in ids:
            ctx.reply("编号应为正整数，例如：重发 12 13")
            return
    n = resend_dead(ctx.db, ids)
    ctx.audit("resend", "outbox", ",".join(map(str, ids)) if ids else "all", f"{n} rows")
    if n == 0:
        ctx.reply("没有可重发的失败消息（编号不存在或已重发）。")
    else:
        ctx.reply(f"已重新排队 {n} 条消息，稍后自动发送。")
