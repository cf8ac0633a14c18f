"""待办 across domains and 卡片 N (issue 15): each pending item with the exact next command, the
command works as written, a lost card comes back with one message; both storage stacks."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.messages import Card
from models.activity import Activity
from models.learning import Material

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
LINE = "发布活动 周末义务植树 2026-12-05 09:00-12:00 @浦东基地 名额2 截止12-03 范围:外航维修党支部"


@pytest.fixture
def world(sim, services, clock):
    clock.set(T0)
    assert "将发送给 14 人" in sim.say("liqiang", LINE).text
    sim.press("liqiang", "确认发布")
    assert "将发送给 14 人" in sim.say("liqiang", "发布学习 党章学习 | 第一章 总纲").text
    sim.say("liqiang", "确认发布")
    with services.session_factory() as db:
        return sim, db.scalar(select(func.max(Activity.id))), db.scalar(select(func.max(Material.id)))


def _commands(text: str) -> list[str]:
    return re.findall(r"“([^”]+)”", text)


def test_a_team_leader_sees_talks_due_activities_and_learning_with_their_commands(world):
    sim, act_id, mat_id = world
    text = sim.say("zhouli", "待办").text
    assert "【本季度待谈心】" in text and "四车间班组还有 6 人未谈" in text
    assert "【可以报名的活动】" in text and f"“报名 {act_id}”" in text
    assert "【未学完的学习材料】" in text and f"“学完 {mat_id}”" in text
    assert f"卡片 活动 {act_id}" in text or f"卡片 学习 {mat_id}" in text
    # the commands work exactly as written
    assert "报名成功" in sim.say("zhouli", f"报名 {act_id}").text
    assert "已学习" in sim.say("zhouli", f"学完 {mat_id}").text
    text = sim.say("zhouli", "待办").text
    assert "【我报名的活动】" in text and f"“取消报名 {act_id}”" in text
    assert "未学完的学习材料" not in text
    talk = next(c for c in _commands(text) if c.startswith("谈话 "))
    out = sim.say("zhouli", talk + " 季度 稳定 近况良好")
    assert any(isinstance(r, Card) and r.title == "确认谈话记录" for r in out.replies)


def test_the_organiser_sees_the_activity_with_its_management_commands(world):
    sim, act_id, _ = world
    text = sim.say("liqiang", "待办").text
    assert "【我组织的活动】" in text and f"“报名名单 {act_id}”" in text and f"“签到名单 {act_id}”" in text


def test_a_lost_card_comes_back_with_one_message(world):
    sim, act_id, mat_id = world
    sim.say("zhangsan", f"报名 {act_id}")
    out = sim.say("zhangsan", f"卡片 活动 {act_id}")
    [card] = [r for r in out.replies if isinstance(r, Card)]
    assert card.title == "【活动】周末义务植树" and "取消报名" in [b.text for b in card.buttons]
    out = sim.say("zhangsan", f"卡片 学习 {mat_id}")
    [card] = [r for r in out.replies if isinstance(r, Card)]
    assert card.title == "学习材料：党章学习" and card.card_id != f"learn-{mat_id}"
    assert "没有编号为 1 的关爱事项" in sim.say("zhangsan", "卡片 1").text   # bare 卡片 N: 事项 N, as it always was
    assert "没有编号为 99 的活动" in sim.say("zhangsan", "卡片 活动 99").text
    # 卡片 N without the kind: taken from the sender's own pending items when it is unambiguous
    assert act_id == mat_id == 1
    assert "请写明是哪一类" in sim.say("liqiang", "卡片 1").text      # 活动 1 and 学习 1 are both pending
    sim.say("liqiang", "学完 1")
    out = sim.say("liqiang", "卡片 1")
    assert [r.title for r in out.replies if isinstance(r, Card)] == ["【活动】周末义务植树"]


def test_a_card_is_never_re_sent_to_someone_outside_its_audience(world):
    sim, act_id, mat_id = world
    assert "不在您的报名范围内" in sim.say("hanmei", f"卡片 活动 {act_id}").text
    out = sim.say("hanmei", f"卡片 学习 {mat_id}")
    assert not any(isinstance(r, Card) for r in out.replies) and "不是发给您所在单位" in out.text


def test_an_ordinary_employee_is_not_offered_todo(world):
    sim, _, _ = world
    assert "待办" not in sim.say("zhangsan", "帮助").text
    assert "卡片" in sim.say("zhangsan", "帮助").text
    assert "仅对有相应职责" in sim.say("zhangsan", "待办").text


def test_a_secretary_sees_open_voices_without_their_text(world):
    sim, _, _ = world
    sim.say("wangwu", "心声 实名 食堂晚饭太咸")
    text = sim.say("liqiang", "待办").text
    assert "【待回复的员工心声】" in text and "“回复心声 1 内容”" in text and "食堂" not in text
