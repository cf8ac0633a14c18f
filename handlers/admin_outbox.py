"""死信 / dead and 重发 N / resend N: admins see messages the outbox gave up on and re-queue them.

An admin of a subtree sees and re-sends only rows whose every recipient is a person in that
subtree (the policy's `roster.admin` on each recipient); rows to unknown recipients are company-wide
objects, for root admins only.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

from sqlalchemy import or_, select

from bot.args import parse_item_number
from bot.context import Context
from bot.outbox import resend_dead
from bot.router import Router
from handlers.cases.service import fmt_time
from models.org import Person
from models.outbox import OutboxMessage, OutboxStatus

router = Router("admin_outbox")


def _admin(ctx: Context) -> bool:
    return ctx.can("roster.admin")


_COMPANY_WIDE = SimpleNamespace(id="", scope_unit=None)   # for the policy: root admins only


def _visible_dead(ctx: Context, ids: list[int] | None = None) -> tuple[list[OutboxMessage], list[OutboxMessage]]:
    """Dead rows (newest first), split into (in the admin's subtree, outside it)."""
    stmt = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
    if ids is not None:
        stmt = stmt.where(OutboxMessage.id.in_(ids))
    rows = ctx.db.scalars(stmt.order_by(OutboxMessage.id.desc())).all()
    wanted = {r for row in rows for r in (row.recipients or [])}
    people: dict[tuple[str, str], Person] = {}
    if wanted:
        for p in ctx.db.scalars(select(Person).where(or_(Person.wecom_userid.in_(wanted),
                                                         Person.dingtalk_userid.in_(wanted)))):
            for platform in ("wecom", "sim", "dingtalk"):
                platform_id = p.platform_id(platform)
                if platform_id:
                    people[(platform, platform_id)] = p

    def allowed(row: OutboxMessage) -> bool:
        targets = [people.get((row.platform, r)) or _COMPANY_WIDE for r in (row.recipients or [])] or [_COMPANY_WIDE]
        return all(ctx.can("roster.admin", t) for t in targets)

    mine = [r for r in rows if allowed(r)]
    mine_ids = {r.id for r in mine}
    return mine, [r for r in rows if r.id not in mine_ids]


PLATFORMS = {"wecom": "企业微信", "dingtalk": "钉钉", "sim": "模拟器"}
# what an admin can act on, in words (the platform's errcode stays in the log and the row)
ERRCODES = {
    "60020": "服务器地址不在企业微信的可信 IP 中",
    "81013": "接收人不在应用的可见范围内或账号无效",
    "40014": "访问凭证失效（将自动更新）", "42001": "访问凭证过期（将自动更新）",
    "45009": "发送太频繁，超过平台限额", "45033": "同时发送太多，超过平台限额",
    "40003": "接收人账号无效", "301002": "接收人不存在", "48002": "应用没有发送消息的权限",
}


def error_text(raw: str | None) -> str:
    """Why a message failed, in Chinese: the known platform codes, else the code, else "网络或平台暂时不可用"."""
    found = re.search(r"errcode\D{0,4}(\d+)", raw or "", re.I)
    if found is None:
        return "网络或平台暂时不可用" if raw else "未知"
    code = found.group(1)
    return ERRCODES.get(code, f"平台拒绝（错误码 {code}）")


@router.command("死信", "dead", help="查看发送失败的消息（管理员）", allowed=_admin)
def dead(ctx: Context, args: str) -> None:
    """The latest dead rows: id, platform, recipients, attempts, last error (never the content)."""
    if not ctx.require("roster.admin"):
        return
    mine, _ = _visible_dead(ctx)
    total, rows = len(mine), mine[:20]
    if not rows:
        ctx.reply("没有发送失败的消息。")
        return
    lines = [f"发送失败的消息共 {total} 条（最近 {len(rows)} 条）："]
    for r in rows:
        who = "、".join((r.recipients or [])[:3]) + ("等" if len(r.recipients or []) > 3 else "")
        when = fmt_time(r.created_at, ctx.config.timezone)
        lines.append(f"#{r.id} {PLATFORMS.get(r.platform, '其他平台')} → {who or '—'} 尝试{r.attempts}次 {when}"
                     f" 原因：{error_text(r.last_error)}")
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
    asked: list[int] | None = None
    if words[0] not in ("全部", "all"):
        numbers = [parse_item_number(w) for w in words]
        asked = [n for n in numbers if n is not None]
        if len(asked) < len(numbers):
            ctx.reply("编号应为正整数，例如：重发 12 13")
            return
    mine, outside = _visible_dead(ctx, asked)
    if asked is not None and outside:
        ctx.deny("roster.admin", outside[0], what="编号 " + "、".join(f"#{r.id}" for r in outside)
                 + " 的消息不是发给您管理范围内的人员，不能由您重发。")
    ids = [r.id for r in mine]
    n = resend_dead(ctx.db, ids) if ids else 0
    ctx.audit("resend", "outbox", (",".join(map(str, asked)) if asked else "all")[:64], f"{n} rows")
    if n == 0:
        ctx.reply("没有可重发的失败消息（编号不存在或已重发）。")
    else:
        ctx.reply(f"已重新排队 {n} 条消息，稍后自动发送。")
