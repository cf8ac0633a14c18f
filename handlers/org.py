"""我的信息 / whoami and 通讯录 / find: who am I, and who is who (for those allowed)."""
from __future__ import annotations

from bot.context import Context
from bot.router import Router
from models.enums import ROLE_LABELS, Role
from models.policy import DIRECTORY_ROLES, can, scopes

router = Router("org")


@router.command("我的信息", "whoami", help="我的单位和职责", read_only=True)
def whoami(ctx: Context, args: str) -> None:
    """Show the sender's unit path, Party membership and roles with their scope."""
    p = ctx.me
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


@router.command("通讯录", "find", help="按姓名查人（本人负责的范围内）", usage="例：通讯录 张", allowed=_allowed_search)
def find(ctx: Context, args: str) -> None:
    """Search people by name (partial, pinyin) within the sender's units; each person shown is audited."""
    from sqlalchemy import or_, select

    from models.directory import search_people
    from models.org import Person, Unit

    query = args.strip()
    if not query:
        ctx.reply("请在命令后写上姓名，例如：通讯录 张三")
        return
    paths = [u.path for u in scopes(ctx.me, *DIRECTORY_ROLES) if u.path]
    within = Person.unit_id.in_(select(Unit.id).where(or_(*[Unit.path.startswith(p) for p in paths]))) if paths else None
    people = search_people(ctx.db, query, limit=10, within=within) if paths else []
    people = [p for p in people if can(ctx.person, "directory.search", p)]
    if not people:
        ctx.reply(f"在您负责的范围内没有找到“{query[:20]}”。")
        return
    lines = [f"找到 {len(people)} 人：" if len(people) < 10 else "找到以下人员（最多显示10人）："]
    for p in people:
        party = " 党员" if p.is_party_member and can(ctx.person, "person.party", p) else ""
        account = f"  账号 {p.wecom_userid}" if p.wecom_userid else ""
        lines.append(f"· {p.name}（{p.unit.full_name if p.unit else '—'}）{party}{account}")
        ctx.audit("read", "person", p.id, detail="directory")
    ctx.reply("\n".join(lines))
