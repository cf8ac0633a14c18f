"""Two people with the same name (issue 15): told apart wherever a name is shown or chosen, and the
account id accepted wherever a name is typed; through the real dispatcher on both storage stacks."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.messages import Card
from models.db import session_scope
from models.directory import display_name
from models.org import Person, Unit
from models.orgtree import add_person

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def twins(services, clock):
    """A second 张三 in the same team as the first (account zhangsan2)."""
    clock.set(T0)
    with session_scope(services.session_factory) as db:
        team = db.scalars(select(Unit).where(Unit.name == "四车间班组")).one()
        add_person(db, name="张三", unit=team, wecom_userid="zhangsan2")
    return services


def _cards(out) -> list[Card]:
    return [r for r in out.replies if isinstance(r, Card)]


def test_choosing_between_two_people_of_one_name_shows_who_is_who(sim, twins):
    sim.say("zhouli", "谈话")
    out = sim.say("zhouli", "张三")
    card = _cards(out)[-1]
    assert "1. 张三（四车间班组·zhangsan）" in card.body and "2. 张三（四车间班组·zhangsan2）" in card.body
    assert [b.text for b in card.buttons][:2] == ["1 张三（四车间班组", "2 张三（四车间班组"]
    out = sim.press("zhouli", "2 张三（四车间班组")
    assert "谈话类型" in out.text            # the pick was taken; whom: the confirmation card below
    for answer in ("1", "近况良好，无特别情况", "1", "1", "无"):     # kind, note, mood, no flag, needs
        out = sim.say("zhouli", answer)
    assert dict(_cards(out)[-1].fields)["对象"] == "张三（四车间班组·zhangsan2）"


def test_the_account_id_is_accepted_where_a_name_is(sim, twins):
    out = sim.say("zhouli", "谈话 zhangsan2 季度 稳定 聊了聊近况")
    assert "张三（四车间班组·zhangsan2）" in out.text
    sim.press("zhouli", "保存")
    with twins.session_factory() as db:
        from models.talk import Talk
        talk = db.scalars(select(Talk)).one()
        assert db.get(Person, talk.subject_id).wecom_userid == "zhangsan2"
    out = sim.say("zhouli", "谈话记录 zhangsan2")
    assert "聊了聊近况" in out.text or "#" in out.text


def test_lists_and_rosters_never_show_a_bare_duplicate_name(sim, twins):
    out = sim.say("zhouli", "我的班组")
    assert "张三（四车间班组·zhangsan）" in out.text and "张三（四车间班组·zhangsan2）" in out.text
    assert "张三丰" in out.text and "张三丰（" not in out.text      # a unique name stays bare
    sim.say("liqiang", "发布活动 义务植树 2026-12-05 09:00-12:00 @浦东基地 名额5 截止12-03 范围:外航维修党支部")
    sim.press("liqiang", "确认发布")
    with twins.session_factory() as db:
        from models.activity import Activity
        act_id = db.scalars(select(Activity.id)).one()
    sim.say("zhangsan", f"报名 {act_id}")
    sim.say("zhangsan2", f"报名 {act_id}")
    roster = sim.say("liqiang", f"报名名单 {act_id}").text
    assert "张三（四车间班组·zhangsan）" in roster and "张三（四车间班组·zhangsan2）" in roster
    card = _cards(sim.say("liqiang", f"签到名单 {act_id}"))[-1]
    assert "张三（四车间班组·zhangsan2）" in card.body


def test_talk_reminders_tell_the_twins_apart(twins):
    from scheduler.jobs.talk_reminders import compute_reminders

    with twins.session_factory() as db:
        plan = compute_reminders(db, "2026Q4")
    names = [n for g in plan.gaps for _, n in g.missing]
    assert "张三（四车间班组·zhangsan）" in names and "张三（四车间班组·zhangsan2）" in names
    assert "张三" not in names and "李四" in names


def test_a_unique_name_is_shown_bare(twins):
    with twins.session_factory() as db:
        lisi = db.scalars(select(Person).where(Person.wecom_userid == "lisi")).one()
        assert display_name(db, lisi) == "李四"
        assert display_name(db, lisi, always=True) == "李四（四车间班组）"
