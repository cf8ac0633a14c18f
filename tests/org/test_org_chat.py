"""Chat: 我的信息, 通讯录, and the admin role commands (授权 / 撤销 / 角色), with denials audited."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.cli.demo import BRANCH_A, BRANCH_B
from models.audit import AuditEvent
from models.db import session_scope
from models.org import Person, RoleAssignment, Unit
from models.orgtree import add_person, ensure_unit_path

T4 = f"{BRANCH_A}/四车间班组"


def roles(services, userid):
    with session_scope(services.session_factory) as db:
        p = db.scalars(select(Person).where(Person.wecom_userid == userid)).one()
        return {(r.role, r.unit.full_name, r.source) for r in p.roles}


def audits(services, action):
    with session_scope(services.session_factory) as db:
        return [(a.action, a.outcome, a.detail) for a in db.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def confirmed(sim, user: str, text: str) -> str:
    """Say an admin change, check the confirmation card, confirm it; the answer's text."""
    card = sim.say(user, text).replies[0]
    assert card.title == "请确认这次修改" and [b.text for b in card.buttons] == ["确认", "取消"], card
    return sim.say(user, "确认").text


def test_whoami_shows_unit_and_roles(sim):
    out = sim.say("liqiang", "我的信息").text
    assert "李强" in out and BRANCH_A in out and "支部书记" in out and "中共党员" in out
    out = sim.say("zhangsan", "whoami").text
    assert "职责：员工" in out and T4 in out and "账号：企业微信 zhangsan，钉钉 dt_zhangsan" in out


def test_find_by_partial_name_and_pinyin_for_leaders_only(sim):
    out = sim.say("zhouli", "通讯录 张三").text
    assert "张三（" in out and "张三丰（" in out and "账号 zhangsanfeng" in out
    assert "张三" in sim.say("zhouli", "find zs").text
    assert "李强" in sim.say("liqiang", "find liqiang").text
    denied = sim.say("zhangsan", "通讯录 李强").text
    assert "仅对有相应职责的同志开放" in denied and "李强（" not in denied


def test_admin_grants_and_revokes_roles_audited(sim, services):
    out = confirmed(sim, "admin", "授权 张三 班组长 四车间班组")
    assert out == f"已授权：张三 为 班组长（{T4}）。"
    assert ("team_leader", T4, "chat") in roles(services, "zhangsan")
    assert "无需重复授权" in sim.say("admin", "grant zhangsan team_leader 四车间班组").text
    # now zhangsan may use leader-only commands, e.g. the directory
    assert "李四（" in sim.say("zhangsan", "通讯录 李四").text
    out = sim.say("admin", "角色 张三").text
    assert f"班组长（{T4}）[聊天授权]" in out
    assert confirmed(sim, "admin", "撤销 张三 班组长") == f"已撤销：张三 的 班组长（{T4}）。"
    assert roles(services, "zhangsan") == set()
    assert [a[0] for a in audits(services, "role_grant")] == ["role_grant"]
    assert [a[0] for a in audits(services, "role_revoke")] == ["role_revoke"]


def test_grant_defaults_to_the_persons_unit_and_accepts_a_path_ending(sim, services):
    assert confirmed(sim, "admin", "授权 lisi 班组长") == f"已授权：李四 为 班组长（{T4}）。"
    assert confirmed(sim, "admin", "授权 李四 支部书记 外航维修党支部") == f"已授权：李四 为 支部书记（{BRANCH_A}）。"
    assert roles(services, "lisi") == {("team_leader", T4, "chat"), ("secretary", BRANCH_A, "chat")}
    assert confirmed(sim, "admin", "授权 党委委员 王五 技术公司党委") == "已授权：王五 为 党委委员（技术公司党委）。"


def test_ambiguous_name_asks_for_the_account(sim, services):
    with session_scope(services.session_factory) as db:
        add_person(db, name="张三", unit=ensure_unit_path(db, f"{BRANCH_B}/部件一班组"), wecom_userid="zhangsan2")
    card = sim.say("admin", "授权 张三 班组长").replies[0]
    assert card.title == "有同名人员，请选择"
    assert [b.text for b in card.buttons] == ["1 张三（四车间班组", "2 张三（部件一班组"]   # short, numbered as listed
    assert "1. 张三（四车间班组，账号 zhangsan）\n2. 张三（部件一班组，账号 zhangsan2）" in card.body
    confirm = sim.say("admin", "zhangsan2").replies[0]          # the account picks the person
    assert "授予 张三（部件一班组，账号 zhangsan2） 班组长（" in confirm.body and "部件一班组）" in confirm.body
    assert roles(services, "zhangsan") == set() and roles(services, "zhangsan2") == set()
    assert "已取消「人员变更」" in sim.say("admin", "取消").text
    assert roles(services, "zhangsan2") == set()


@pytest.mark.parametrize("text,expected", [
    ("授权 张三 船长", "不认识的角色“船长”"),
    ("授权 张无忌 班组长", "没有找到“张无忌”"),
    ("授权 张三 班组长 不存在班组", "没有找到单位“不存在班组”"),
    ("授权 张三", "用法：授权 姓名或账号 角色"),
    ("撤销 张三 支部书记", "张三 没有 支部书记 这一角色"),
])
def test_bad_admin_input_gets_a_clear_answer(sim, text, expected):
    assert expected in sim.say("admin", text).text


def test_non_admin_cannot_grant_and_the_denial_is_audited(sim, services):
    out = sim.say("liqiang", "授权 张三 班组长").text
    assert "仅对有相应职责的同志开放" in out
    assert roles(services, "zhangsan") == set()
    assert audits(services, "authz_fail") == [("authz_fail", "denied", "授权")]


def test_admin_of_a_branch_cannot_grant_outside_it(sim, services):
    with session_scope(services.session_factory) as db:
        p = db.scalars(select(Person).where(Person.wecom_userid == "chenjing")).one()
        b = db.scalars(select(Unit).where(Unit.full_name == BRANCH_B)).one()
        db.add(RoleAssignment(person_id=p.id, role="admin", unit_id=b.id, source="chat"))
    assert "已授权" in confirmed(sim, "chenjing", "授权 韩梅 支部书记 附件修理党支部")
    out = sim.say("chenjing", "授权 张三 班组长").text             # 张三 is in branch A
    assert "没有权限" in out
    assert roles(services, "zhangsan") == set()
    assert [a[2] for a in audits(services, "authz_fail")] == ["roster.admin"]
