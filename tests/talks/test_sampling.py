"""抽查回访 by chat on both stacks: the employee confirms or denies a sampled talk in one tap
(never seeing the notes); a denial quietly reaches the branch secretary, leaves the talk out of
coverage until resolved; figures per team and per leader; 0 % turns it off."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.messages import Card, Text
from models.db import session_scope
from models.quarters import current_quarter
from models.sampling import TalkCheck
from models.talk import Talk
from reports.queries.coverage import missing_by_team


@pytest.fixture
def config_overrides():
    return {"sampling.share": 1.0, "sampling.units": {"附件修理党支部": 0}}


def cards(replies) -> list[Card]:
    return [r for r in replies if isinstance(r, Card)]


def record(sim, leader: str, line: str) -> None:
    sim.say(leader, line)
    assert "已保存谈话" in sim.press(leader, "保存").text


def missing_names(services) -> set[str]:
    with session_scope(services.session_factory) as db:
        q = current_quarter(services.clock.now(), services.config.timezone)
        return {n for people in missing_by_team(db, q).values() for _, n in people}


def test_confirmed_talk_needs_nothing_more(sim, services):
    record(sim, "zhouli", "谈话 张三 季度 稳定 本月绩效调整有疑问")
    [card] = cards(sim.inbox("zhangsan"))
    assert card.title == "谈心谈话回访" and "班组长周丽记录了" in card.body and "与您的一次季度谈心，是否属实" in card.body
    assert "绩效" not in card.as_text()                                  # the notes are never shown
    assert [b.text for b in card.buttons] == ["属实", "没有这次谈话"]
    out = sim.press("zhangsan", "属实")
    assert "已记录：属实" in out.text and out.card_updates[0].done_text == "已确认属实"
    assert "已回复过" in sim.press("zhangsan", "没有这次谈话", card=card).text   # the old card: counts once
    assert sim.inbox("liqiang") == [] and "张三" not in missing_names(services)


def test_denied_talk_goes_to_the_secretary_not_the_leader_and_leaves_coverage(sim, services):
    record(sim, "zhouli", "谈话 李四 季度 稳定 聊了聊家里情况")
    sim.inbox("zhouli")
    check_id = cards(sim.inbox("lisi"))[0].card_id.split("-")[1]
    assert "这条回访不是发给您的" in sim.say("wangwu", f"没有这次谈话 {check_id}").text
    out = sim.say("lisi", f"没有这次谈话 {check_id}")                  # the text command does what the button does
    assert "支部书记会核实" in out.text
    [denial] = cards(sim.inbox("liqiang"))
    assert denial.title == f"回访异议 #{check_id}" and "李四" in denial.body and "周丽" in denial.body
    assert "家里情况" not in denial.as_text()
    assert sim.inbox("zhouli") == []                                   # the leader is not told
    assert "李四" in missing_names(services)                           # excluded from coverage
    with session_scope(services.session_factory) as db:
        assert db.scalars(select(Talk).where(Talk.disputed.is_(True))).one().subject.name == "李四"  # kept, marked

    assert "核实回访" in sim.press("liqiang", "去核实").text
    assert "没有权限" in sim.say("chenjing", f"核实回访 {check_id} 属实 电话确认").text
    assert "请写明核实结果" in sim.say("liqiang", f"核实回访 {check_id} 也许").text
    out = sim.say("liqiang", f"核实回访 {check_id} 属实 已电话确认谈过")
    assert "重新计入覆盖率" in out.text and "李四" not in missing_names(services)
    assert "没有待核实" in sim.say("liqiang", f"核实回访 {check_id} 属实").text

    stats = sim.say("liqiang", "回访统计").text
    assert "四车间班组：抽查 1，属实 0，否认 1，未答复 0" in stats and "周丽：抽查 1" in stats


def test_silence_counts_as_no_answer_and_zero_share_sends_nothing(sim, services):
    record(sim, "zhouli", "谈话 王五 季度 稳定 工作顺利")
    record(sim, "hanmei", "谈话 杨帆 季度 稳定 工作顺利")              # branch B: share 0
    assert cards(sim.inbox("wangwu")) and sim.inbox("yangfan") == []
    services.clock.advance(days=8)
    assert "超过答复期限" in sim.press("wangwu", "属实").text
    assert "四车间班组：抽查 1，属实 0，否认 0，未答复 1" in sim.say("liqiang", "回访统计").text
    with session_scope(services.session_factory) as db:
        assert db.scalars(select(TalkCheck)).one().state == "pending"
    assert "没有编号为 99" in sim.say("wangwu", "属实 99").text
    assert "请写上回访编号" in sim.say("wangwu", "属实").text
    assert all(not isinstance(m, Text) or "回访" not in m.text for m in sim.inbox("hanmei"))
