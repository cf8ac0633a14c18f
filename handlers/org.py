"""我的信息 / whoami and 通讯录 / find: who am I, and who is who (for those allowed)."""
from __future__ import annotations

from bot.context import Context
from bot.router import Router
from models.enums import ROLE_LABELS, Role
from models.policy import can

router = Router("org")


@router.command("我的信息", "whoami", help="我的单位和职责", read_only=True)
def whoami(ctx: Context, args: str) -> None:
    """Show the sender's unit path, Party membership and roles with their scope."""
    p = ctx.person
    lines = [f"姓名：{p.name}", f"所在单位：{p.unit.full_name if p.unit else '（未分配）'}",
             f"政治面貌：{'中共党员' if p.is_party_member else '群众'}"]
    accounts = [f"企业微信 {p.wecom_userid}" if p.wecom_userid else "", f"钉钉 {p.dingtalk_userid}" if p.dingtalk_userid else ""]
    if any(accounts):
        lines.append("账号：" + "，".join(a for a in accounts if a))
    if p.roles:
        lines.append("职责：")
        lines += [f"· {ROLE_LABELS[Role(r.role)]}（{r.unit.full_name}）" for r in p.roles]
    else:
        lines.append("职责：员工")
    ctx.reply("\n".join(lines))


def _allowed_search(ctx: Context) -> bool:
    return can(ctx.person, "directory.search")


@router.command("通讯录", "find", help="按姓名查人", usage="例：通讯录 张", allowed=_allowed_search)
def find(ctx: Context, args: str) -> None:
    """Search people by name (partial, pinyin-insensitive)."""
    from models.directory import search_people

    if not args:
        ctx.reply("请在命令后写上姓名，例如：通讯录 张三")
        return
    people = search_people(ctx.db, args, limit=10)
    if not people:
        ctx.reply(f"没有找到“{args}”。")
        return
    lines = [f"找到 {len(people)} 人：" if len(people) < 10 else "找到以下人员（最多显示10人）："]
    lines += [f"· {p.name}（{p.unit.full_name if p.unit else '—'}）{' 党员' if p.is_party_member else ''}"
              f"{'  账号 ' + p.wecom_userid if p.wecom_userid else ''}" for p in people]
    ctx.reply("\n".join(lines))
