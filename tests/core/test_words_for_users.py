"""Words for users (issue 15): no file paths, command lines, role codes or 0.0 in replies; the
organiser sees what they published; both storage stacks."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
LINE = "发布活动 周末义务植树 2026-12-05 09:00-12:00 @浦东基地 名额2 截止12-03 范围:外航维修党支部"
DEVELOPER_WORDS = re.compile(r"docs/|\.md\b|lianxin |export-signups|team_leader|secretary|committee|\b\d+\.0\b")


@pytest.fixture
def at_t0(sim, clock):
    clock.set(T0)
    return sim


def _publish(sim, user: str) -> None:
    assert "将发送给 14 人" in sim.say(user, LINE).text
    sim.press(user, "确认发布")


def test_kpi_reads_as_people_read_it(at_t0):
    text = at_t0.say("wangwei", "述职评议").text
    assert "述职评议指标" in text and not DEVELOPER_WORDS.search(text), text
    assert "开展活动数（每季度） 0" in text and "%" in text
    assert "述职评议 口径" in text
    rules = at_t0.say("wangwei", "述职评议 口径").text
    assert "谈心谈话覆盖率：" in rules and not DEVELOPER_WORDS.search(rules)


def test_the_roster_names_no_command_line(at_t0):
    _publish(at_t0, "liqiang")
    text = at_t0.say("liqiang", "报名名单 1").text
    assert "报名名单" in text and not DEVELOPER_WORDS.search(text), text


def test_the_simulator_shows_roles_in_chinese(client, services):
    users = client.get("/sim/api/users").get_json()
    liqiang = next(u for u in users if u["id"] == "liqiang")
    assert liqiang["roles"] == ["支部书记"]
    assert not any(DEVELOPER_WORDS.search(",".join(u["roles"])) for u in users)


def test_the_organiser_sees_an_activity_published_outside_their_own_unit(at_t0):
    _publish(at_t0, "wangwei")                  # committee member, activity for a branch below
    text = at_t0.say("wangwei", "活动").text
    assert "周末义务植树" in text and "我组织的" in text and "报名名单 1" in text


def test_dead_letters_say_why_in_words(sim, services):
    from sqlalchemy import update

    from bot.messages import Text
    from bot.outbox import enqueue
    from models.db import session_scope
    from models.outbox import OutboxMessage, OutboxStatus

    with session_scope(services.session_factory) as db:
        enqueue(db, platform="wecom", recipients=["zhangsan"], reply=Text("x"))
        db.flush()
        db.execute(update(OutboxMessage).values(
            status=OutboxStatus.DEAD, attempts=8,
            last_error='{"errcode": 81013, "errmsg": "user & party & tag all invalid, hint: [xyz]"}'))
    text = sim.say("admin", "死信").text
    assert "企业微信" in text and "原因：接收人不在应用的可见范围内或账号无效" in text
    assert "errcode" not in text and "wecom" not in text and "invalid" not in text
