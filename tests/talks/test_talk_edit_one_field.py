"""Editing one field of a talk in one step (issue 15): 修改谈话 N 状态 波动 keeps everything else and
goes straight to the confirmation; both storage stacks."""
from __future__ import annotations

from sqlalchemy import select

from bot.messages import Card
from models.talk import Talk


def _talk(services) -> Talk:
    with services.session_factory() as db:
        return db.scalars(select(Talk)).one()


def _record(sim) -> None:
    sim.say("zhouli", "谈话 李四 季度 稳定 近况良好，工作顺利")
    sim.press("zhouli", "保存")


def test_one_field_in_one_step(sim, services):
    _record(sim)
    out = sim.say("zhouli", "修改谈话 1 状态 波动")
    card = [r for r in out.replies if isinstance(r, Card)][-1]
    assert card.title == "确认修改谈话" and "其余内容不变" in out.text
    assert "有些波动" in card.as_text() and "季度谈心" in card.as_text()
    sim.press("zhouli", "保存")
    talk = _talk(services)
    assert (talk.mood, talk.kind, talk.summary) == ("some_concern", "quarterly", "近况良好，工作顺利")


def test_a_new_flag_asks_its_category_and_bad_values_are_refused(sim, services):
    _record(sim)
    assert "没有这个选项" in sim.say("zhouli", "修改谈话 1 状态 很糟糕").text
    assert "请写明要改哪一项" in sim.say("zhouli", "修改谈话 1 颜色 红").text
    out = sim.say("zhouli", "修改谈话 1 标记 关注")
    assert "问题属于哪一类" in out.text
    sim.press("zhouli", "家庭")
    sim.press("zhouli", "保存")
    talk = _talk(services)
    assert (talk.flag, talk.category, talk.mood) == ("watch", "family", "stable")
