"""共性问题 on both stacks: K flags of one category in a team within the window, or 波动+严重 rising
two quarters in a row, reach the branch secretary once as a card naming only the team and the
category; the card (button or text) turns it into an item with the flag lifecycle, once."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.messages import Card
from handlers.pulse.jobs import pulse_alerts
from models.case import Case
from models.db import session_scope
from models.pulse_alert import PulseAlert
from models.talk import Talk, quarter_of
from scheduler.context import JobContext
from tests.case_helpers import person

NOW = datetime(2030, 11, 20, 0, 0, tzinfo=UTC)          # 08:00 in Shanghai, 2030Q4


def add(db, author, subject, at, *, mood="stable", flag="none", category=None, summary="谈心"):
    db.add(Talk(author_id=person(db, author).id, subject_id=person(db, subject).id, kind="quarterly", occurred_at=at,
                quarter=quarter_of(at), summary=summary, mood=mood, flag=flag, category=category))


def job(services, clock, at):
    clock.set(at)
    return JobContext(config=services.config, session_factory=services.session_factory, clock=clock)


def cards_of(sim, user):
    sim.outbox.run_once(now=sim.services.clock.now())
    return [m for m in sim.inbox(user) if isinstance(m, Card) and m.title.startswith("共性问题提醒")]


def test_three_flags_of_one_category_reach_the_secretary_once_and_become_an_item(sim, services, clock):
    with session_scope(services.session_factory) as db:
        for uid, days in (("zhangsan", 2), ("lisi", 10), ("sunqi", 25)):
            add(db, "zhouli", uid, NOW - timedelta(days=days), flag="watch", category="pay", summary=f"{uid}的工资单有误")
        add(db, "wugang", "zhengyi", NOW - timedelta(days=3), flag="watch", category="pay")   # 五车间: only 1
    assert pulse_alerts(job(services, clock, NOW)) == 1
    assert pulse_alerts(job(services, clock, NOW)) == 0                      # a re-run fires nothing
    with session_scope(services.session_factory) as db:                     # a 4th flag inside the window: still once
        add(db, "zhouli", "wangwu", NOW, flag="urgent", category="pay")
    assert pulse_alerts(job(services, clock, NOW + timedelta(days=1))) == 0
    [card] = cards_of(sim, "liqiang")
    assert cards_of(sim, "chenjing") == []                                  # the other branch's secretary
    text = card.as_text()
    assert "四车间班组近 30 天有 3 条「薪酬绩效」类标记谈话" in text and dict(card.fields)["类别"] == "薪酬绩效"
    assert "工资单" not in text and "张三" not in text and "李四" not in text   # no notes, no names
    out = sim.press("liqiang", "转为事项", card)
    assert "已将「四车间班组 · 薪酬绩效」转为事项 #1" in out.text
    assert out.card_updates and out.card_updates[0].done_text == "李强已转为事项 #1"
    with services.session_factory() as db:
        case = db.get(Case, 1)
        assert (case.state, case.unit.name, case.category, case.secretary_id) == \
            ("acknowledged", "四车间班组", "pay", person(db, "liqiang").id)
        assert case.events[0].comment == "共性问题：四车间班组 · 薪酬绩效"
    # the text command does the same step, once
    assert "已转为事项 #1" in sim.say("liqiang", "共性问题 立项 1").text
    assert "#1 四车间班组 · 薪酬绩效" in sim.say("liqiang", "共性问题").text
    assert "只有负责该班组的支部书记" in sim.say("chenjing", "共性问题 立项 1").text
    with services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Case)) == 1
    # after the window, three new flags fire again
    later = NOW + timedelta(days=40)
    with session_scope(services.session_factory) as db:
        for uid in ("zhangsan", "lisi", "sunqi"):
            add(db, "zhouli", uid, later - timedelta(days=1), flag="watch", category="pay")
    assert pulse_alerts(job(services, clock, later)) == 1


def test_rising_concern_two_quarters_in_a_row(sim, services, clock):
    mid = {"2030Q2": datetime(2030, 5, 15, tzinfo=UTC), "2030Q3": datetime(2030, 8, 15, tzinfo=UTC),
           "2030Q4": datetime(2030, 11, 10, tzinfo=UTC)}
    with session_scope(services.session_factory) as db:
        for q, worried in (("2030Q2", 0), ("2030Q3", 1), ("2030Q4", 3)):
            for i, uid in enumerate(["zhangsan", "lisi", "wangwu", "zhaoliu"]):
                add(db, "zhouli", uid, mid[q], mood="some_concern" if i < worried else "stable")
    assert pulse_alerts(job(services, clock, NOW)) == 1
    assert pulse_alerts(job(services, clock, NOW + timedelta(days=5))) == 0   # once per quarter
    [card] = cards_of(sim, "liqiang")
    assert "比例连续两个季度上升（0% → 25% → 75%）" in card.as_text() and dict(card.fields)["类别"] == "思想波动"
    sim.say("liqiang", "共性问题 立项 1")
    with services.session_factory() as db:
        assert db.scalars(select(PulseAlert.case_id)).one() == 1
        assert db.get(Case, 1).category is None
