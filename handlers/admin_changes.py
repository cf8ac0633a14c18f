"""One confirmed, audited change of a person by an admin: Party membership, team, a role.

Every admin command that changes a person (设为党员 / 取消党员 / 调班组 / 设为班组长 / 取消班组长 /
授权 / 撤销) starts the same short dialog: pick the person when the name is shared (unit and
account shown, the account accepted), then a confirmation card that says what will change and
what the next full roster import does to it; `确认` applies it (policy re-checked, audited, the
person told), `取消` drops it.
"""
from __future__ import annotations

from typing import Literal, Required, TypedDict

from sqlalchemy import or_, select

from bot.context import Context
from bot.forms import CANDIDATES, Form, Invalid, Step, choice_card, pick_option, pick_step
from bot.messages import Card
from bot.router import Router
from models.enums import ROLE_LABELS, Role
from models.org import Person, RoleAssignment, Unit

__all__ = ["CHANGE_FORM", "ChangeAnswers", "Op", "candidates", "label", "start_change"]

router = Router("admin")

ROSTER_WINS = "下次完整导入花名册时以花名册为准，会覆盖这次修改；请同时修改花名册。"

Op = Literal["party_on", "party_off", "team", "grant", "revoke"]


class ChangeAnswers(TypedDict, total=False):
    """The change dialog's answers: what to change (given by the command), then who and 确认."""
    op: Required[Op]
    role: str            # a Role value (grant / revoke)
    unit: int | None     # the team (team), the role's unit (grant / revoke: settled before the card)
    person: int
    confirm: str         # "yes" / "no"


def label(p: Person) -> str:
    """Who exactly: name, unit and account (same names are common)."""
    account = p.wecom_userid or p.dingtalk_userid or "无账号"
    return f"{p.name}（{p.unit.name if p.unit else '未分配单位'}，账号 {account}）"


def candidates(ctx: Context, word: str) -> list[Person]:
    """By account (exact), then by exact name (active people first); [] when nobody matches."""
    word = word.strip()
    by_account = ctx.db.scalars(select(Person).where(or_(Person.wecom_userid == word,
                                                         Person.dingtalk_userid == word))).first()
    if by_account is not None:
        return [by_account]
    same = ctx.db.scalars(select(Person).where(Person.name == word).order_by(Person.active.desc(), Person.id)).all()
    return [p for p in same if p.active] or list(same)


def _find(ctx: Context, text: str, answers: ChangeAnswers) -> list[tuple[int, str]]:
    found = candidates(ctx, text)
    if not found:
        from models.directory import search_people

        near = search_people(ctx.db, text, limit=5)
        hint = ("相近的有：" + "、".join(label(p) for p in near)) if near else "请检查姓名或账号。"
        raise Invalid(f"没有找到“{text}”。{hint}")
    return [(p.id, label(p)) for p in found]


def settle(ctx: Context, p: Person, a: ChangeAnswers) -> str | None:
    """Fill in the role's unit when it was left out (own unit; the one held, to revoke), check the
    unit is the admin's, and say why there is nothing to do; None when the change can go ahead."""
    if a["op"] in ("grant", "revoke") and not a.get("unit"):
        role = Role(a["role"])
        if a["op"] == "grant":
            if p.unit is None:
                return (f"{label(p)} 没有所在单位，请写明角色范围，"
                        f"例：授权 {p.wecom_userid or p.name} {ROLE_LABELS[role]} 单位名")
            a["unit"] = p.unit_id
        else:
            held = [r for r in p.roles if r.role == role]
            if not held:
                return f"{p.name} 没有 {ROLE_LABELS[role]} 这一角色。发送“角色 {p.wecom_userid or p.name}”查看。"
            if len(held) > 1:
                return (f"{p.name} 在多个单位担任{ROLE_LABELS[role]}，请写明单位：\n"
                        + "\n".join(f"· {r.unit.full_name}" for r in held))
            a["unit"] = held[0].unit_id
    unit = ctx.db.get(Unit, a["unit"]) if a.get("unit") else None
    if unit is not None and not ctx.can("roster.admin", unit):
        return f"“{unit.name}”不在您管理的范围内。"
    return unchanged(ctx, p, a)


def _accept(ctx: Context, pid: int, answers: ChangeAnswers) -> int:
    person = ctx.db.get(Person, pid)
    if person is None or not ctx.can("roster.admin", person):
        raise Invalid("此人不在您管理的范围内，请重新选择，或回复“取消”。")
    why = settle(ctx, person, answers)
    if why:
        raise Invalid(why + "\n请重新选择，或回复“取消”。")
    return pid


def start_change(ctx: Context, word: str, change: ChangeAnswers) -> None:
    """Begin the dialog for `change` on the person named `word` (picked first if the name is shared)."""
    found = candidates(ctx, word)
    if not found:
        try:
            _find(ctx, word, change)
        except Invalid as exc:
            ctx.reply(str(exc))
        return
    answers = change.copy()
    if len(found) == 1:
        if not ctx.require("roster.admin", found[0]):
            return
        why = settle(ctx, found[0], answers)
        if why:
            ctx.reply(why)
            return
        answers["person"] = found[0].id
        CHANGE_FORM.start(ctx, answers)
    else:
        CHANGE_FORM.start(ctx, {**answers, CANDIDATES: [[p.id, label(p)] for p in found]})


# --- what each change does ------------------------------------------------------------------------

def _unit(ctx: Context, a: ChangeAnswers) -> Unit:
    """The unit of a team move or a role change (settle filled it in before the card)."""
    return ctx.db.get_one(Unit, a["unit"])


def describe(ctx: Context, p: Person, a: ChangeAnswers) -> tuple[str, str]:
    """(what will change, what a roster import does to it) for the confirmation card."""
    op = a["op"]
    if op == "party_on":
        return f"将 {label(p)} 设为中共党员。", ROSTER_WINS
    if op == "party_off":
        return f"将 {label(p)} 的政治面貌改为群众（取消党员）。", ROSTER_WINS
    unit = _unit(ctx, a)
    if op == "team":
        now = p.unit.full_name if p.unit else "（无）"
        held = [f"{ROLE_LABELS[Role(r.role)]}（{r.unit.name}）" for r in p.roles]
        kept = f"\n其现有角色 {'、'.join(held)} 保留不变。" if held else ""
        return f"将 {label(p)} 从 {now} 调到 {unit.full_name}。{kept}", ROSTER_WINS
    role = Role(a["role"])
    if op == "grant":
        return (f"授予 {label(p)} {ROLE_LABELS[role]}（{unit.full_name}）。",
                "聊天授予的角色不会被花名册导入撤销，需要时请发送“撤销”收回。")
    ra = next((r for r in p.roles if r.role == role and r.unit_id == a["unit"]), None)
    note = ("此角色来自花名册，下次完整导入花名册时会按名册恢复，请同时修改花名册。"
            if ra is not None and ra.source == "roster" else "此角色是聊天授予的，花名册导入不会恢复它。")
    return f"撤销 {label(p)} 的 {ROLE_LABELS[role]}（{unit.full_name}）。", note


def unchanged(ctx: Context, p: Person, a: ChangeAnswers) -> str | None:
    """Why there is nothing to do (already so), or None."""
    op = a["op"]
    if not p.active:
        return f"{label(p)} 已停用，不能修改。"
    if op == "party_on" and p.is_party_member:
        return f"{p.name} 已是中共党员，无需修改。"
    if op == "party_off" and not p.is_party_member:
        return f"{p.name} 目前不是党员，无需修改。"
    if op == "team" and p.unit_id == a["unit"]:
        return f"{p.name} 已在该班组，无需调动。"
    held = any(r.role == a.get("role") and r.unit_id == a.get("unit") for r in p.roles)
    if op == "grant" and held:
        unit = _unit(ctx, a)
        return f"{p.name} 已是 {ROLE_LABELS[Role(a['role'])]}（{unit.full_name}），无需重复授权。"
    if op == "revoke" and not held:
        return f"{p.name} 没有 {ROLE_LABELS[Role(a['role'])]} 这一角色。发送“角色 {p.wecom_userid or p.name}”查看。"
    return None


def apply(ctx: Context, p: Person, a: ChangeAnswers) -> str:
    """Make the change (policy already checked), audit it, and return the one-line answer."""
    op, admin = a["op"], ctx.me
    if op in ("party_on", "party_off"):
        p.is_party_member = op == "party_on"
        ctx.audit("party_" + ("set" if p.is_party_member else "clear"), "person", p.id, detail="chat")
        ctx.notify(p, f"管理员{admin.name}已将您的政治面貌登记为{'中共党员' if p.is_party_member else '群众'}。")
        return f"已{'设为党员' if p.is_party_member else '取消党员'}：{label(p)}。{ROSTER_WINS}"
    unit = _unit(ctx, a)
    if op == "team":
        before = p.unit.full_name if p.unit else "（无）"
        p.unit_id, p.unit = unit.id, unit
        ctx.audit("team_move", "person", p.id, detail=f"{before} -> {unit.full_name}")
        ctx.notify(p, f"管理员{admin.name}已将您的所在班组调整为：{unit.full_name}。")
        return f"已调班组：{p.name} 现在在 {unit.full_name}。{ROSTER_WINS}"
    role = Role(a["role"])
    if op == "grant":
        p.roles.append(RoleAssignment(role=role, unit_id=unit.id, unit=unit, source="chat"))
        ctx.audit("role_grant", "person", p.id, detail=f"{role}@{unit.id} {unit.full_name}")
        ctx.notify(p, f"管理员{admin.name}已授予您{ROLE_LABELS[role]}（{unit.full_name}）。")
        return f"已授权：{p.name} 为 {ROLE_LABELS[role]}（{unit.full_name}）。"
    ra = next(r for r in p.roles if r.role == role and r.unit_id == unit.id)
    p.roles.remove(ra)
    ctx.db.delete(ra)
    ctx.audit("role_revoke", "person", p.id, detail=f"{role}@{unit.id} {unit.full_name} ({ra.source})")
    ctx.notify(p, f"管理员{admin.name}已撤销您的{ROLE_LABELS[role]}（{unit.full_name}）。")
    note = "（此角色来自花名册，下次完整导入花名册时会按名册恢复，请同时修改花名册）" if ra.source == "roster" else ""
    return f"已撤销：{p.name} 的 {ROLE_LABELS[role]}（{unit.full_name}）。{note}"


# --- the dialog -------------------------------------------------------------------------------

CONFIRM = [("yes", "确认"), ("no", "取消")]


def _ask_confirm(ctx: Context, a: ChangeAnswers) -> Card:
    p = ctx.db.get_one(Person, a["person"])
    what, roster = describe(ctx, p, a)
    return choice_card(ctx, "请确认这次修改", CONFIRM, body=f"{what}\n{roster}\n回复“确认”执行，“取消”放弃。",
                       typed_hint=False)


def _ask_person(ctx: Context, a: ChangeAnswers) -> str:
    return "请回复姓名或账号。"


def _done(ctx: Context, a: ChangeAnswers) -> None:
    if a.get("confirm") != "yes":
        ctx.reply("已取消，没有修改。")
        return
    p = ctx.db.get(Person, a["person"])
    unit = ctx.db.get(Unit, a["unit"]) if a.get("unit") else None
    # checked again: the roles of the admin or the person may have changed while the card waited
    if p is None or not ctx.require("roster.admin", p) or (unit is not None and not ctx.require("roster.admin", unit)):
        return
    why = unchanged(ctx, p, a)
    if why:
        ctx.reply(why)
        return
    ctx.reply(apply(ctx, p, a))


CHANGE_FORM = router.form(Form[ChangeAnswers](
    name="admin.change",
    title="人员变更",
    steps=[
        pick_step("person", prompt=_ask_person, find=_find, accept=_accept,
                  several=lambda word, n: f"有 {n} 位“{word}”，请选择是哪一位（也可以回复账号）。",
                  choose_title="有同名人员，请选择", choose_body=lambda n: "括号中是所在单位和账号。"),
        Step("confirm", _ask_confirm, lambda ctx, text, a: pick_option(text, CONFIRM, {"是": "yes", "yes": "yes",
                                                                                        "ok": "yes", "否": "no"})),
    ],
    done=_done,
))
