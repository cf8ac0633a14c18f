"""Admin chat commands for people and roles (admin only, within the admin's subtree, confirmed, audited).

    设为党员 张三 / 取消党员 张三         set / clear Party membership
    调班组 张三 五车间班组                move a person to another team
    设为班组长 张三 [班组] / 取消班组长 张三 [班组]
    授权 张三 班组长 四车间班组           grant 张三 team_leader 四车间班组 (any role)
    撤销 张三 班组长                      revoke zhangsan team_leader
    角色 张三                            roles 张三

The person is named by account or exact name; several people with that name are listed with
their unit and account as buttons (the account is accepted too). The unit is a full path or a
unit name, unique or completed from the end of the path (四车间班组, 外航维修党支部/四车间班组);
without a unit a role is scoped to the person's own unit. Every change is checked by the policy
(roster.admin on the person and on the unit), shown on a confirmation card that says what the
next full roster import will do to it, applied on 确认 and written to the audit log
(handlers.admin_changes). Roles granted here have source "chat": roster imports never revoke
them; Party membership and team come from the roster and the next full import wins.
"""
from __future__ import annotations

from typing import Literal

from sqlalchemy import or_, select

from bot.context import Context
from bot.router import CommandHandler, Router
from models.enums import ROLE_LABELS, ROLE_NAMES, Role, UnitKind
from models.org import Unit
from models.policy import can

from . import admin_changes
from .admin_changes import candidates, label, start_change

router = Router("admin").include(admin_changes.router)

ROLE_HELP = "班组长、支部书记、党委委员、管理员"


def _is_admin(ctx: Context) -> bool:
    return can(ctx.person, "roster.admin")


def find_unit(ctx: Context, word: str) -> Unit | None:
    """Full path, exact name, or a unique path ending; replies and returns None otherwise."""
    word = word.strip().strip("/")
    u = ctx.db.scalars(select(Unit).where(Unit.full_name == word)).first()
    if u is not None:
        return u
    cands = ctx.db.scalars(select(Unit).where(or_(Unit.name == word, Unit.full_name.like(f"%/{word}")))
                           .order_by(Unit.full_name).limit(11)).all()
    if len(cands) == 1:
        return cands[0]
    if cands:
        ctx.reply(f"有多个单位叫“{word}”，请写出上级，例如“上级支部/{word}”：\n"
                  + "\n".join(f"· {c.full_name}" for c in cands[:10]))
    else:
        ctx.reply(f"没有找到单位“{word}”。")
    return None


def _role_word(word: str) -> Role | None:
    return ROLE_NAMES.get(word) or ROLE_NAMES.get(word.lower())


def parse_role(ctx: Context, word: str) -> Role | None:
    role = _role_word(word)
    if role is None:
        ctx.reply(f"不认识的角色“{word}”。可用角色：{ROLE_HELP}。")
    return role


def _parse(ctx: Context, args: str, usage: str) -> tuple[str, Role, Unit | None] | None:
    """(person word, role, unit or None) of `授权/撤销 姓名或账号 角色 [单位]`; replies and returns None if wrong."""
    words = args.split()
    if len(words) >= 2 and _role_word(words[0]) and not _role_word(words[1]):
        words[0], words[1] = words[1], words[0]      # "授权 班组长 张三" works too
    if len(words) < 2:
        ctx.reply(f"用法：{usage}\n可用角色：{ROLE_HELP}。")
        return None
    role = parse_role(ctx, words[1])
    if role is None:
        return None
    unit = None
    if len(words) > 2:
        unit = find_unit(ctx, " ".join(words[2:]))
        if unit is None:
            return None
    return words[0], role, unit


def _role_change(ctx: Context, op: Literal["grant", "revoke"], word: str, role: Role, unit: Unit | None) -> None:
    """Grant or revoke `role` on `unit` (left out: the person's own unit / the one held) after confirmation."""
    if unit is not None and not ctx.require("roster.admin", unit):
        return
    start_change(ctx, word, {"op": op, "role": role.value, "unit": unit.id if unit else None})


GRANT_USAGE = "授权 姓名或账号 角色 [单位]，例：授权 张三 班组长 四车间班组"
REVOKE_USAGE = "撤销 姓名或账号 角色 [单位]，例：撤销 张三 班组长"


@router.command("授权", "grant", help="授予角色（管理员，确认后生效）", usage="例：授权 张三 班组长 四车间班组",
                allowed=_is_admin)
def grant_role(ctx: Context, args: str) -> None:
    parsed = _parse(ctx, args, GRANT_USAGE)
    if parsed is not None:
        _role_change(ctx, "grant", *parsed)


@router.command("撤销", "revoke", help="撤销角色（管理员，确认后生效）", usage="例：撤销 张三 班组长", allowed=_is_admin)
def revoke_role(ctx: Context, args: str) -> None:
    parsed = _parse(ctx, args, REVOKE_USAGE)
    if parsed is not None:
        _role_change(ctx, "revoke", *parsed)


def _leader_cmd(op: Literal["grant", "revoke"], usage: str) -> CommandHandler:
    def handler(ctx: Context, args: str) -> None:
        words = args.split()
        if not words:
            ctx.reply(f"用法：{usage}")
            return
        unit = find_unit(ctx, " ".join(words[1:])) if len(words) > 1 else None
        if len(words) > 1 and unit is None:
            return
        _role_change(ctx, op, words[0], Role.TEAM_LEADER, unit)
    return handler


router.command("设为班组长", "set-leader", help="设为班组长（管理员，确认后生效）", usage="例：设为班组长 张三 [四车间班组]",
               allowed=_is_admin)(_leader_cmd("grant", "设为班组长 姓名或账号 [班组]"))
router.command("取消班组长", "clear-leader", help="取消班组长（管理员，确认后生效）", usage="例：取消班组长 张三 [四车间班组]",
               allowed=_is_admin)(_leader_cmd("revoke", "取消班组长 姓名或账号 [班组]"))


def _party_cmd(op: Literal["party_on", "party_off"], usage: str) -> CommandHandler:
    def handler(ctx: Context, args: str) -> None:
        word = args.strip()
        if not word or len(word.split()) > 1:
            ctx.reply(f"用法：{usage}（同名时可写账号）")
            return
        start_change(ctx, word, {"op": op})
    return handler


router.command("设为党员", "set-party", help="登记为中共党员（管理员，确认后生效）", usage="例：设为党员 张三",
               allowed=_is_admin)(_party_cmd("party_on", "设为党员 姓名或账号"))
router.command("取消党员", "clear-party", help="取消党员登记（管理员，确认后生效）", usage="例：取消党员 张三",
               allowed=_is_admin)(_party_cmd("party_off", "取消党员 姓名或账号"))


@router.command("调班组", "move-team", help="调整人员所在班组（管理员，确认后生效）", usage="例：调班组 张三 五车间班组",
                allowed=_is_admin)
def move_team(ctx: Context, args: str) -> None:
    words = args.split()
    if len(words) < 2:
        ctx.reply("用法：调班组 姓名或账号 班组名，例：调班组 张三 五车间班组")
        return
    unit = find_unit(ctx, " ".join(words[1:]))
    if unit is None:
        return
    if unit.kind != UnitKind.TEAM.value or not unit.active:
        ctx.reply(f"“{unit.full_name}”不是在用的班组，请写班组名。")
        return
    if not ctx.require("roster.admin", unit, what=f"“{unit.name}”不在您管理的范围内。"):
        return
    start_change(ctx, words[0], {"op": "team", "unit": unit.id})


@router.command("角色", "roles", help="查看某人的角色（管理员）", usage="例：角色 张三", allowed=_is_admin)
def show_roles(ctx: Context, args: str) -> None:
    word = args.strip()
    if not word:
        ctx.reply("用法：角色 姓名或账号，例：角色 张三")
        return
    found = candidates(ctx, word)
    if len(found) != 1:
        ctx.reply(f"没有找到“{word}”。" if not found else
                  f"有 {len(found)} 位“{word}”，请用账号指明：\n" + "\n".join(f"· {label(p)}" for p in found[:10]))
        return
    person = found[0]
    if not ctx.require("roster.admin", person):
        return
    lines = [label(person) + ("" if person.active else "（已停用）") + ("，中共党员" if person.is_party_member else "")]
    if person.roles:
        src = {"roster": "花名册", "chat": "聊天授权", "wecom": "企业微信"}
        lines += [f"· {ROLE_LABELS[Role(r.role)]}（{r.unit.full_name}）[{src.get(r.source, r.source)}]"
                  for r in sorted(person.roles, key=lambda r: (r.role, r.unit.full_name))]
    else:
        lines.append("· 无角色（员工）")
    ctx.audit("read", "person_roles", person.id)
    ctx.reply("\n".join(lines))
