"""Admin chat commands for roles: 授权 / grant, 撤销 / revoke, 角色 / roles (admin only, audited).

    授权 张三 班组长 四车间班组        grant 张三 team_leader 四车间班组
    撤销 张三 班组长                  revoke zhangsan team_leader
    角色 张三                        roles 张三

The person is named by WeCom account or exact name (several people with that name → the bot lists
them with their units and asks for the account). The unit is a full path or a unit name, unique
or completed from the end of the path (四车间班组, 外航维修党支部/四车间班组); without a unit the role
is scoped to the person's own unit. Every change is checked by the policy (roster.admin on the
person and on the unit: an admin of a subtree manages only that subtree) and written to the audit
log. Roles granted here have source "chat": roster imports never revoke them.
"""
from __future__ import annotations

from sqlalchemy import or_, select

from bot.context import Context
from bot.forms import Form, Step, choice_card, pick_option
from bot.router import Router
from models.directory import display_name
from models.enums import ROLE_LABELS, ROLE_NAMES, Role
from models.org import Person, RoleAssignment, Unit
from models.policy import can

router = Router("admin")

ROLE_HELP = "班组长、支部书记、党委委员、管理员"


def _is_admin(ctx: Context) -> bool:
    return can(ctx.person, "roster.admin")


def _label(p: Person) -> str:
    return f"{p.name}（{p.wecom_userid or '无账号'}，{p.unit.full_name if p.unit else '未分配单位'}）"


def find_person(ctx: Context, word: str) -> Person | None:
    """By account, then exact name; replies and returns None when not found or ambiguous."""
    p = ctx.db.scalars(select(Person).where(or_(Person.wecom_userid == word, Person.dingtalk_userid == word))).first()
    if p is not None:
        return p
    same = ctx.db.scalars(select(Person).where(Person.name == word).order_by(Person.active.desc(), Person.id)).all()
    active = [p for p in same if p.active] or same
    if len(active) == 1:
        return active[0]
    if len(active) > 1:
        ctx.reply(f"有 {len(active)} 位“{word}”，请用账号指明是哪一位：\n"
                  + "\n".join(f"· {_label(p)}" for p in active[:10])
                  + f"\n例如：{ctx.command} {active[0].wecom_userid or active[0].name} …")
        return None
    from models.directory import search_people

    near = search_people(ctx.db, word, limit=5)
    hint = ("相近的有：" + "、".join(_label(p) for p in near)) if near else "请检查姓名或账号。"
    ctx.reply(f"没有找到“{word}”。{hint}")
    return None


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


def _parse(ctx: Context, args: str, usage: str) -> tuple[Person, Role, Unit | None] | None:
    words = args.split()
    if len(words) >= 2 and _role_word(words[0]) and not _role_word(words[1]):
        words[0], words[1] = words[1], words[0]      # "授权 班组长 张三" works too
    if len(words) < 2:
        ctx.reply(f"用法：{usage}\n可用角色：{ROLE_HELP}。")
        return None
    role = parse_role(ctx, words[1])
    if role is None:
        return None
    person = find_person(ctx, words[0])
    if person is None:
        return None
    unit = None
    if len(words) > 2:
        unit = find_unit(ctx, " ".join(words[2:]))
        if unit is None:
            return None
    return person, role, unit


GRANT_USAGE = "授权 姓名或账号 角色 [单位]，例：授权 张三 班组长 四车间班组"
REVOKE_USAGE = "撤销 姓名或账号 角色 [单位]，例：撤销 张三 班组长"


@router.command("授权", "grant", help="授予角色（管理员）", usage="例：授权 张三 班组长 四车间班组", allowed=_is_admin)
def grant_role(ctx: Context, args: str) -> None:
    parsed = _parse(ctx, args, GRANT_USAGE)
    if parsed is None:
        return
    person, role, unit = parsed
    unit = unit or person.unit
    if unit is None:
        ctx.reply(f"{_label(person)} 没有所在单位，请写明角色范围，"
                  f"例：授权 {person.wecom_userid or person.name} {ROLE_LABELS[role]} 单位名")
        return
    if not ctx.require("roster.admin", person) or not ctx.require("roster.admin", unit):
        return
    if not person.active:
        ctx.reply(f"{_label(person)} 已停用，不能授予角色。")
        return
    for r in person.roles:
        if r.role == role and r.unit_id == unit.id:
            ctx.reply(f"{person.name} 已是 {ROLE_LABELS[role]}（{unit.full_name}），无需重复授权。")
            return
    # a grant opens talk notes or statistics of a whole unit: confirmed once, saying so
    ctx.start_form(GRANT_FORM, {"person": person.id, "role": str(role), "unit": unit.id})


GRANT_REACH = {Role.TEAM_LEADER: "可记录并查看该班组的谈心谈话",
               Role.SECRETARY: "可查看该单位的谈话、处理关爱事项、发布活动和学习",
               Role.COMMITTEE: "可查看该单位及下级的全部统计、审批关爱申请", Role.ADMIN: "可管理该单位及下级的人员和角色"}
CONFIRM_OPTIONS = [("grant", "确认授权"), ("drop", "放弃")]
GRANT_FORM = "admin.grant"


def _ask_grant(ctx: Context, a: dict):
    person, unit, role = ctx.db.get(Person, a["person"]), ctx.db.get(Unit, a["unit"]), Role(a["role"])
    return choice_card(ctx, "确认授权？", CONFIRM_OPTIONS,
                       body=f"{display_name(ctx.db, person, always=True)} 将成为 {unit.full_name} 的"
                            f"{ROLE_LABELS[role]}，{GRANT_REACH[role]}。")


def _grant_done(ctx: Context, a: dict) -> None:
    if a.get("confirm") != "grant":
        ctx.reply("已放弃，没有授予任何角色。")
        return
    person, unit, role = ctx.db.get(Person, a["person"]), ctx.db.get(Unit, a["unit"]), Role(a["role"])
    if person is None or unit is None or not ctx.require("roster.admin", person) or not ctx.require("roster.admin", unit):
        return
    if any(r.role == role and r.unit_id == unit.id for r in person.roles):
        ctx.reply(f"{person.name} 已是 {ROLE_LABELS[role]}（{unit.full_name}），无需重复授权。")
        return
    person.roles.append(RoleAssignment(role=role, unit_id=unit.id, unit=unit, source="chat"))
    ctx.audit("role_grant", "person", person.id, detail=f"{role}@{unit.id} {unit.full_name}")
    ctx.reply(f"已授权：{person.name} 为 {ROLE_LABELS[role]}（{unit.full_name}）。")


router.form(Form(GRANT_FORM, "授权", [
    Step("confirm", _ask_grant, lambda ctx, text, a: pick_option(text, CONFIRM_OPTIONS, {"确认": "grant", "是": "grant",
                                                                                        "否": "drop", "no": "drop"}),
         free_text=False)], _grant_done))


@router.command("撤销", "revoke", help="撤销角色（管理员）", usage="例：撤销 张三 班组长", allowed=_is_admin)
def revoke_role(ctx: Context, args: str) -> None:
    parsed = _parse(ctx, args, REVOKE_USAGE)
    if parsed is None:
        return
    person, role, unit = parsed
    if not ctx.require("roster.admin", person):
        return
    held = [r for r in person.roles if r.role == role and (unit is None or r.unit_id == unit.id)]
    if not held:
        where = f"（{unit.full_name}）" if unit else ""
        ctx.reply(f"{person.name} 没有 {ROLE_LABELS[role]}{where} 这一角色。发送“角色 {person.name}”查看。")
        return
    if len(held) > 1:
        ctx.reply(f"{person.name} 在多个单位担任{ROLE_LABELS[role]}，请写明单位：\n"
                  + "\n".join(f"· {r.unit.full_name}" for r in held))
        return
    ra = held[0]
    if not ctx.require("roster.admin", ra.unit):
        return
    person.roles.remove(ra)
    ctx.db.delete(ra)
    ctx.audit("role_revoke", "person", person.id, detail=f"{role}@{ra.unit_id} {ra.unit.full_name} ({ra.source})")
    note = "（此角色来自花名册，下次完整导入花名册时会按名册恢复，请同时修改花名册）" if ra.source == "roster" else ""
    ctx.reply(f"已撤销：{person.name} 的 {ROLE_LABELS[role]}（{ra.unit.full_name}）。{note}")


@router.command("角色", "roles", help="查看某人的角色（管理员）", usage="例：角色 张三", allowed=_is_admin)
def show_roles(ctx: Context, args: str) -> None:
    word = args.strip()
    if not word:
        ctx.reply("用法：角色 姓名或账号，例：角色 张三")
        return
    person = find_person(ctx, word)
    if person is None or not ctx.require("roster.admin", person):
        return
    lines = [_label(person) + ("" if person.active else "（已停用）")]
    if person.roles:
        src = {"roster": "花名册", "chat": "聊天授权", "wecom": "企业微信"}
        lines += [f"· {ROLE_LABELS[Role(r.role)]}（{r.unit.full_name}）[{src.get(r.source, r.source)}]"
                  for r in sorted(person.roles, key=lambda r: (r.role, r.unit.full_name))]
    else:
        lines.append("· 无角色（员工）")
    ctx.audit("read", "person_roles", person.id)
    ctx.reply("\n".join(lines))
