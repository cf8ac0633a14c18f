"""Membership and roles by chat (issue 18), on both stacks: 设为党员 / 取消党员, 调班组, 设为班组长 /
取消班组长 — each confirmed before it happens, audited, within the admin's subtree, with shared names
picked by unit and account, and the next full roster import still wins (the confirmation says so)."""
from __future__ import annotations

import csv

from sqlalchemy import select

from bot.cli.demo import BRANCH_A, BRANCH_B, DEMO_USERS
from bot.messages import Card, Text
from models.audit import AuditEvent
from models.db import session_scope
from models.enums import ROLE_LABELS, Role
from models.org import Person, RoleAssignment, Unit
from models.orgtree import add_person, ensure_unit_path
from roster.apply import import_roster

T4, T5 = f"{BRANCH_A}/四车间班组", f"{BRANCH_A}/五车间班组"


def who(services, userid: str) -> tuple[bool, str, set[tuple[str, str]]]:
    """(Party member, unit, roles) of a person now."""
    with services.session_factory() as db:
        p = db.scalars(select(Person).where(Person.wecom_userid == userid)).one()
        return p.is_party_member, p.unit.full_name, {(r.role, r.unit.name) for r in p.roles}


def audit_actions(services) -> list[tuple[str, str]]:
    with services.session_factory() as db:
        return [(a.action, a.detail) for a in db.scalars(select(AuditEvent).order_by(AuditEvent.id))
                if a.action in ("party_set", "party_clear", "team_move", "role_grant", "role_revoke")]


def ask(sim, user: str, text: str) -> Card:
    card = sim.say(user, text).replies[0]
    assert isinstance(card, Card) and card.title == "请确认这次修改", card
    assert [b.text for b in card.buttons] == ["确认", "取消"]
    return card


def test_set_and_clear_party_membership_confirmed_and_audited(sim, services):
    card = ask(sim, "admin", "设为党员 张三")
    assert "将 张三（四车间班组，账号 zhangsan） 设为中共党员。" in card.body
    assert "下次完整导入花名册时以花名册为准，会覆盖这次修改" in card.body
    assert who(services, "zhangsan")[0] is False                 # nothing happens before 确认
    out = sim.say("admin", "确认")
    assert out.text.startswith("已设为党员：张三（四车间班组，账号 zhangsan）。下次完整导入花名册时以花名册为准")
    assert who(services, "zhangsan")[0] is True
    told = [m.text for m in sim.inbox("zhangsan") if isinstance(m, Text)]
    assert told == ["管理员系统管理员已将您的政治面貌登记为中共党员。"]
    assert "张三 已是中共党员，无需修改" in sim.say("admin", "设为党员 zhangsan").text
    ask(sim, "admin", "取消党员 李四")
    assert "已取消「人员变更」，没有保存任何内容" in sim.say("admin", "取消").text   # typed 取消
    ask(sim, "admin", "clear-party lisi")
    assert "已取消，没有修改" in sim.press("admin", "取消").text                     # the card's 取消
    assert who(services, "lisi")[0] is True
    ask(sim, "admin", "取消党员 李四")
    assert "已取消党员：李四" in sim.press("admin", "确认").text
    assert who(services, "lisi")[0] is False
    assert audit_actions(services) == [("party_set", "chat"), ("party_clear", "chat")]
    assert "张三 目前不是党员" not in sim.say("admin", "取消党员 张三").text      # he is one now: a card
    assert "仅对有相应职责的同志开放" in sim.say("liqiang", "设为党员 张三").text  # admins only


def test_move_to_another_team(sim, services):
    with services.session_factory() as db:
        zhouli_roles = {(r.role, r.unit.name) for r in db.scalars(select(Person).where(Person.wecom_userid == "zhouli"))
                        .one().roles}
    card = ask(sim, "admin", "调班组 周丽 五车间班组")
    assert f"从 {T4} 调到 {T5}" in card.body and "其现有角色 班组长（四车间班组） 保留不变" in card.body
    assert "以花名册为准" in card.body
    assert "已调班组：周丽 现在在" in sim.say("admin", "确认").text
    assert who(services, "zhouli")[1:] == (T5, zhouli_roles)
    assert [m.text for m in sim.inbox("zhouli") if isinstance(m, Text)] == [
        f"管理员系统管理员已将您的所在班组调整为：{T5}。"]
    assert audit_actions(services) == [("team_move", f"{T4} -> {T5}")]
    assert "不是在用的班组" in sim.say("admin", "调班组 张三 外航维修党支部").text
    assert "没有找到单位“六车间”" in sim.say("admin", "调班组 张三 六车间").text
    assert "已在该班组，无需调动" in sim.say("admin", "调班组 张三 四车间班组").text
    assert "用法：调班组" in sim.say("admin", "调班组 张三").text


def test_team_leader_roles_by_chat(sim, services):
    card = ask(sim, "admin", "设为班组长 张三")
    assert f"授予 张三（四车间班组，账号 zhangsan） 班组长（{T4}）" in card.body
    assert "聊天授予的角色不会被花名册导入撤销" in card.body
    assert sim.say("admin", "确认").text == f"已授权：张三 为 班组长（{T4}）。"
    assert ("team_leader", "四车间班组") in who(services, "zhangsan")[2]
    assert "李四（" in sim.say("zhangsan", "通讯录 李四").text         # the role works at once
    card = ask(sim, "admin", "取消班组长 张三")
    assert "此角色是聊天授予的，花名册导入不会恢复它" in card.body
    assert sim.say("admin", "确认").text == f"已撤销：张三 的 班组长（{T4}）。"
    assert who(services, "zhangsan")[2] == set()
    card = ask(sim, "admin", "取消班组长 周丽")
    assert "此角色来自花名册，下次完整导入花名册时会按名册恢复" in card.body
    assert "按名册恢复" in sim.say("admin", "确认").text
    assert "张三 没有 班组长 这一角色" in sim.say("admin", "取消班组长 张三").text
    ask(sim, "admin", "设为班组长 张三 五车间班组")
    assert "为 班组长（" in sim.say("admin", "确认").text and ("team_leader", "五车间班组") in who(services, "zhangsan")[2]
    assert [a for a, _ in audit_actions(services)] == ["role_grant", "role_revoke", "role_revoke", "role_grant"]


def test_a_shared_name_is_picked_by_unit_and_account(sim, services):
    with session_scope(services.session_factory) as db:
        add_person(db, name="张三", unit=ensure_unit_path(db, f"{BRANCH_B}/部件一班组"), wecom_userid="zhangsan2")
    card = sim.say("admin", "设为党员 张三").replies[0]
    assert card.title == "有同名人员，请选择" and len(card.buttons) == 2
    assert "2. 张三（部件一班组，账号 zhangsan2）" in card.body
    card = sim.press("admin", card.buttons[1].text).replies[0]
    assert "将 张三（部件一班组，账号 zhangsan2） 设为中共党员" in card.body
    sim.say("admin", "确认")
    assert who(services, "zhangsan2")[0] is True and who(services, "zhangsan")[0] is False
    sim.say("admin", "设为班组长 张三")
    assert "没有这个序号" in sim.say("admin", "5").text
    card = sim.say("admin", "1").replies[-1]
    assert "授予 张三（四车间班组，账号 zhangsan）" in card.body


def test_an_admin_of_a_subtree_changes_only_people_and_teams_in_it(sim, services):
    with session_scope(services.session_factory) as db:
        p = db.scalars(select(Person).where(Person.wecom_userid == "chenjing")).one()
        b = db.scalars(select(Unit).where(Unit.full_name == BRANCH_B)).one()
        db.add(RoleAssignment(person_id=p.id, role="admin", unit_id=b.id, source="chat"))
    ask(sim, "chenjing", "设为党员 杨帆")
    assert "已设为党员：杨帆" in sim.say("chenjing", "确认").text
    assert "没有权限" in sim.say("chenjing", "设为党员 张三").text               # 张三 is in branch A
    assert "“四车间班组”不在您管理的范围内" in sim.say("chenjing", "调班组 杨帆 四车间班组").text
    assert "没有权限" in sim.say("chenjing", "调班组 张三 部件二班组").text
    assert who(services, "zhangsan")[:2] == (False, T4) and who(services, "yangfan")[1].endswith("部件一班组")


def test_the_next_full_roster_import_wins(sim, services, tmp_path):
    ask(sim, "admin", "设为党员 张三")
    sim.say("admin", "确认")
    ask(sim, "admin", "调班组 张三 五车间班组")
    sim.say("admin", "确认")
    assert who(services, "zhangsan")[:2] == (True, T5)
    path = tmp_path / "roster.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(["单位", "企业微信账号", "钉钉账号", "姓名", "手机", "党员", "角色"])
        for uid, name, unit, party, roles in DEMO_USERS:
            w.writerow([unit, uid, f"dt_{uid}", name, "", "是" if party else "否",
                        ";".join(f"{ROLE_LABELS[Role(r)]}@{scope}" for r, scope in roles)])
    with session_scope(services.session_factory) as db:
        import_roster(db, path, full=True)
    assert who(services, "zhangsan")[:2] == (False, T4)         # as the confirmation said
