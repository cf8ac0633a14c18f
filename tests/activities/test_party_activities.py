"""Party activities (issue 18) by chat on both stacks: 主题党日, 党课 and 组织生活会 go only to the Party
members of the audience and only they may join; attendance of 主题党日 and 党课 counts in the KPI."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.messages import Card

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)          # 2026-12-01 10:00 in Shanghai
DURING = datetime(2026, 12, 5, 1, 10, tzinfo=UTC)     # 12-05 09:10 local, during the activities
BRANCH_A_PARTY = {"liqiang", "zhouli", "lisi", "sunqi", "wugang", "chenchen"}
BRANCH_A_OTHERS = {"zhangsan", "wangwu", "zhaoliu", "zhangsanfeng", "zhengyi", "fengxue", "weilan", "jiangtao"}


@pytest.fixture(autouse=True)
def _t0(clock):
    clock.set(T0)


def publish(sim, user: str, line: str) -> tuple[int, str, str]:
    """Publish by the one-line form and its one confirmation; (activity id, check-in code, card body)
    from the organiser's card."""
    assert "将发送给" in sim.say(user, line).text
    out = sim.say(user, "确认发布")
    body = next(r for r in out.replies if isinstance(r, Card)).body
    return int(re.search(r"活动编号：(\d+)", body).group(1)), re.search(r"签到码：(\w+)", body).group(1), body


def cards(sim, user: str) -> list[Card]:
    return [r for r in sim.inbox(user) if isinstance(r, Card)]


def test_a_party_day_goes_to_the_party_members_only(sim):
    act_id, _code, body = publish(sim, "liqiang", "发布活动 重温入党誓词 2026-12-05 09:00-11:00 @党员活动室 类型:主题党日")
    assert "正在发送给外航维修党支部的 6 名党员" in body and "（仅限党员）" in body
    for user in BRANCH_A_PARTY - {"liqiang"}:
        card = cards(sim, user)[-1]
        assert ("类型", "主题党日") in card.fields and "范围：外航维修党支部（仅限党员）" in card.body
    for user in BRANCH_A_OTHERS:
        assert cards(sim, user) == [], user
    out = sim.say("zhangsan", f"报名 {act_id}")
    assert "「重温入党誓词」是党员活动（主题党日），仅限外航维修党支部的党员参加" in out.text
    assert "仅限党员参加" in sim.say("zhangsan", f"活动 {act_id}").text
    assert "重温入党誓词" not in sim.say("zhangsan", "活动").text
    assert "报名成功" in sim.say("lisi", f"报名 {act_id}").text
    assert f"#{act_id} 重温入党誓词" in sim.say("lisi", "活动").text
    # a party member of another branch is outside the audience all the same
    assert "您不在报名范围内" in sim.say("hanmei", f"报名 {act_id}").text


def test_the_publish_dialog_offers_the_party_types(sim):
    sim.say("liqiang", "发布活动")
    card = sim.say("liqiang", "支部党课").replies[0]
    assert card.title == "活动类型？"
    assert [b.text for b in card.buttons] == ["主题党日", "党课", "组织生活会", "团队活动", "志愿服务", "青年活动"]
    sim.press("liqiang", "党课")
    sim.say("liqiang", "2026-12-05 09:00-11:00")
    sim.say("liqiang", "三楼会议室")
    sim.say("liqiang", "不限")
    sim.say("liqiang", "开始前")
    sim.say("liqiang", "1")
    confirm = sim.say("liqiang", "无").replies[0]
    assert "类型：党课" in confirm.body and "（仅党员）" in confirm.body
    out = sim.press("liqiang", "确认发布")
    assert "6 名党员" in next(r for r in out.replies if isinstance(r, Card)).body
    assert "类型可选：主题党日、党课、组织生活会" in sim.say("liqiang", "发布活动 读书会 12-10 19:00-21:00 @三楼 类型:读书").text


def test_party_day_and_party_lesson_attendance_counts_in_the_kpi(sim, clock):
    day, day_code, _ = publish(sim, "liqiang", "发布活动 重温入党誓词 2026-12-05 09:00-11:00 @党员活动室 类型:主题党日")
    lesson, lesson_code, body = publish(sim, "wangwei", "发布活动 学习二十大精神 2026-12-05 09:00-11:00 @大礼堂 "
                                                        "类型:党课 范围:技术公司党委")
    assert "仅限党员" in body
    life, life_code, _ = publish(sim, "liqiang", "发布活动 专题组织生活会 2026-12-05 09:00-11:00 @会议室 类型:组织生活会")
    team, team_code, _ = publish(sim, "liqiang", "发布活动 篮球赛 2026-12-05 09:00-11:00 @体育馆 类型:团队")
    for user, act in (("lisi", day), ("zhouli", day), ("lisi", lesson), ("zhouli", life), ("lisi", team),
                      ("zhangsan", team)):
        assert "报名成功" in sim.say(user, f"报名 {act}").text, (user, act)
    clock.set(DURING)
    for user, code in (("lisi", day_code), ("zhouli", day_code), ("lisi", lesson_code), ("zhouli", life_code),
                       ("lisi", team_code), ("zhangsan", team_code)):
        assert "签到成功" in sim.say(user, f"签到 {code}").text, (user, code)
    text = sim.say("wangwei", "述职评议 2026").text
    line = next(x for x in text.splitlines() if x.startswith("· 外航维修党支部"))
    # 2 activities expected of the branch's 6 Party members; 3 check-ins (组织生活会 and the game do not count)
    assert "主题党日和党课参加率 3/12（25%）" in line
    other = next(x for x in text.splitlines() if x.startswith("· 附件修理党支部"))
    assert "主题党日和党课参加率 0/5（0%）" in other       # only the committee-wide 党课 was for them
