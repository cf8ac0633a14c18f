"""Each worker's roster snapshot (bot.roster_snapshot): a talk is recorded without reading a person row,
and every roster change is still seen at the very next turn, on every worker, on both storage stacks."""
from __future__ import annotations

import pytest
from sqlalchemy import event, select

from models.db import session_scope
from models.org import Person, Unit
from models.orgtree import add_person
from models.talk import Talk

DENIED = "仅对有相应职责的同志开放"


def _person_reads(engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cur, st, *a: seen.append(st) if "FROM person" in st else None)
    return seen


def _talk_subjects(services) -> list[str]:
    with services.session_factory() as db:
        return [db.get_one(Person, t.subject_id).wecom_userid for t in db.scalars(select(Talk).order_by(Talk.id))]


def test_a_talk_line_and_its_save_read_no_person_row(services, sim):
    sim.say("zhouli", "帮助")                                        # the worker builds its snapshot
    reads = _person_reads(services.engine)
    out = sim.say("zhouli", "谈话 张三 季度 稳定 聊了工作和家庭")
    assert "张三（四车间班组" in out.text                           # the confirmation names who exactly
    assert "已保存谈话" in sim.press("zhouli", "保存").text
    assert reads == []
    assert _talk_subjects(services) == ["zhangsan"]


def test_a_name_two_people_share_is_still_asked_about(services, sim):
    with session_scope(services.session_factory) as db:
        team = db.scalars(select(Unit).where(Unit.name == "四车间班组")).one()
        add_person(db, name="张三", unit=team, wecom_userid="zhangsan2")
    out = sim.say("zhouli", "谈话 张三 季度 稳定 聊了工作和家庭")
    body = "\n".join(getattr(r, "body", "") or getattr(r, "text", "") for r in out.replies)
    assert "张三（四车间班组·zhangsan）" in body and "张三（四车间班组·zhangsan2）" in body
    assert _talk_subjects(services) == []


def test_someone_added_after_the_snapshot_can_talk_and_be_talked_with_at_once(services, sim):
    sim.say("zhouli", "帮助")                                        # snapshot of the roster without 王新
    with session_scope(services.session_factory) as db:
        team = db.scalars(select(Unit).where(Unit.name == "四车间班组")).one()
        add_person(db, name="王新", unit=team, wecom_userid="wangxin")
    assert "王新" in sim.say("wangxin", "我的信息").text
    sim.say("zhouli", "谈话 王新 季度 稳定 新同事入职谈心")
    sim.press("zhouli", "保存")
    assert _talk_subjects(services) == ["wangxin"]


@pytest.mark.parametrize("config_overrides", [{"identity.snapshot_interval_seconds": 0.0}])
def test_with_a_snapshot_for_every_version_a_revoke_is_refused_at_the_next_turn(workers, config_overrides):
    a, b = workers
    assert "已授权" in a.confirmed("admin", "授权 张三 班组长 四车间班组")
    for w in (a, b):
        assert "李四（" in w.say("zhangsan", "通讯录 李四")
        assert w.services.dispatcher.identities._snapshot is not None     # answered from the snapshot
    assert "已撤销" in b.confirmed("admin", "撤销 张三 班组长")
    for w in (a, b):
        assert DENIED in w.say("zhangsan", "通讯录 李四")
        assert DENIED in w.say("zhangsan", "我的班组")
    assert "已授权" in b.confirmed("admin", "授权 张三 班组长 四车间班组")
    assert "李四（" in a.say("zhangsan", "通讯录 李四")


@pytest.mark.parametrize("config_overrides", [{"identity.snapshot_max_people": 1}])
def test_a_roster_too_large_for_a_snapshot_is_read_from_the_database(services, sim, config_overrides):
    reads = _person_reads(services.engine)
    sim.say("zhouli", "谈话 张三 季度 稳定 聊了工作和家庭")
    sim.press("zhouli", "保存")
    assert services.dispatcher.identities._snapshot is None
    assert reads and _talk_subjects(services) == ["zhangsan"]


def test_the_snapshot_holds_what_the_orm_would_load_for_every_active_person(services):
    """Every column of each person, unit, role and role unit, as the relationship load gives them."""
    from bot.identity import person_for
    from bot.roster_snapshot import build_snapshot
    from models.db import read_session_factory

    def shape(p):
        cols = lambda o: {k: getattr(o, k) for k in o.__table__.c.keys()}  # noqa: E731
        return (cols(p), p.unit and cols(p.unit),
                sorted((cols(r), cols(r.unit), r.person is p) for r in p.roles) if p.roles else [])

    with session_scope(services.session_factory) as db:
        db.scalars(select(Person).where(Person.wecom_userid == "wangwu")).one().active = False
    with read_session_factory(services.engine)() as db:
        snapshot = build_snapshot(db.connection(), "v", 10_000)
        people = db.scalars(select(Person).where(Person.wecom_userid.is_not(None))).all()
        assert snapshot is not None and len(snapshot) == sum(p.active for p in db.scalars(select(Person)))
        for p in people:
            loaded = person_for(db, "wecom", p.wecom_userid)
            held = snapshot.sender("wecom", p.wecom_userid)
            assert (held is None) == (loaded is None) == (p.wecom_userid == "wangwu"), p.wecom_userid
            if held is not None:
                assert shape(held) == shape(loaded)
                assert snapshot.person(p.id) is held and held in snapshot.named(p.name)
        assert snapshot.sender("dingtalk", "dt_liqiang").name == "李强"
        assert snapshot.sender("wecom", "ZHOULI").wecom_userid == "zhouli"      # WeCom ids in any case
        assert snapshot.shared(["张三丰", "nobody"]) == set()
