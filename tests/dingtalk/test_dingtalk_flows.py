"""Talks and escalation/approval end to end on WeCom and on DingTalk (parametrized).

The same handlers, the same assertions; only the platform double differs: WeCom gets encrypted
XML and answers passively, DingTalk gets signed JSON and answers through the sessionWebhook
(messages) or the outbox (card clicks). Both platforms' HTTP APIs are faked with `responses`.
"""
from __future__ import annotations

import json
from datetime import UTC

import pytest
from sqlalchemy import select

from models.talk import Talk
from tests.case_helpers import fill_care_form, flag_talk, load
from tests.dingtalk_helpers import BOTH_PLATFORMS, PlatformChat


@pytest.fixture(params=["wecom", "dingtalk-http", "dingtalk-stream"])
def chat(request, services, wecom, wecom_api, dt_api):
    """WeCom, DingTalk over HTTP callbacks, DingTalk over Stream mode: the same flows must pass."""
    if request.param == "wecom":
        return PlatformChat("wecom", services, wecom, wecom_api, None, dt_api)
    double = request.getfixturevalue("dingtalk" if request.param == "dingtalk-http" else "dingtalk_stream")
    return PlatformChat("dingtalk", services, wecom, wecom_api, double, dt_api)


@pytest.fixture
def config_overrides(request):
    stream = "dingtalk-stream" in request.node.name
    return {**BOTH_PLATFORMS, "dingtalk.stream_mode": stream}


def update_text(update: dict) -> str:
    """Everything a user reads on a replaced card (WeCom template_card / DingTalk cardParamMap)."""
    return json.dumps(update, ensure_ascii=False)


def test_guided_talk_dialog_with_choice_cards(chat, services):
    assert "姓名" in chat.say("zhouli", "谈话")
    assert "2 位相符" in chat.say("zhouli", "张")
    chat.press("zhouli", "张三（四车间班组）")
    assert "谈话内容" in chat.press("zhouli", "专项谈话")
    chat.say("zhouli", "孩子上学的事情比较焦虑，已沟通")
    chat.press("zhouli", "有些波动")
    chat.press("zhouli", "关注")
    assert "需求" in chat.press("zhouli", "家庭")
    chat.say("zhouli", "无")
    confirm = chat.latest_card("zhouli")
    assert confirm.title == "确认谈话记录" and "孩子上学" not in json.dumps(confirm.raw, ensure_ascii=False)
    with services.session_factory() as db:
        assert db.scalars(select(Talk)).all() == []
    assert "已保存谈话 #1" in chat.press("zhouli", "保存")
    assert any("已保存" in update_text(u) for u in chat.card_updates("zhouli"))
    with services.session_factory() as db:
        talk = db.scalars(select(Talk)).one()
        assert (talk.kind, talk.flag, talk.category) == ("special", "watch", "family")
        assert talk.summary == "孩子上学的事情比较焦虑，已沟通"


def test_one_line_talk_and_cancel(chat):
    chat.say("zhouli", "谈话 张三 季度 稳定 本月绩效调整有疑问 #关注 #薪酬 需求:希望解释绩效规则")
    assert chat.latest_card("zhouli").title == "确认谈话记录"
    assert "已取消" in chat.say("zhouli", "取消")


def test_flag_to_closed_with_approval(chat, services):
    case_id = flag_talk(services, platform=chat.kind)
    chat.drain()
    card = chat.latest_card("liqiang")
    assert "张三" in card.title and card.buttons == ("确认收到", "安排跟进谈话", "发起关爱申请", "查看谈话")
    assert chat.inbox("chenjing") == [] and chat.inbox("wangwei") == []

    assert "已确认收到" in chat.press("liqiang", "确认收到", card=card)
    assert "李强" in update_text(chat.card_updates("liqiang")[-1])
    assert load(services, case_id).state == "acknowledged"

    chat.press("liqiang", "发起关爱申请", card=card)
    assert "已提交关爱申请" in fill_care_form(chat.say, "liqiang", "家属住院，需探望慰问并申请困难补助")
    care = chat.latest_card("wangwei")
    zcard = chat.latest_card("zhaomin")
    assert care.title == zcard.title and "同意" in care.buttons

    assert "已同意关爱申请" in chat.press("wangwei", "同意", card=care)
    # zhaomin's copy is replaced too: greyed, naming who decided
    assert any("已同意" in update_text(u) and "王伟" in update_text(u) for u in chat.card_updates("zhaomin"))
    late = chat.press("zhaomin", "驳回", card=zcard)
    assert "已由王伟" in late and "无需重复审批" in late
    assert load(services, case_id).state == "approved"

    approved = chat.latest_card("liqiang")
    assert approved.title.startswith("关爱申请已同意")
    assert "帮扶人姓名" in chat.press("liqiang", "指派帮扶人", card=approved)
    assert "已指派李四" in chat.say("liqiang", "李四")
    assert f"进展 {case_id}" in chat.texts("lisi")

    assert "已记录" in chat.say("lisi", "进展 已上门探望，送去慰问金")
    assert "已上门探望" in chat.texts("liqiang")
    chat.say("liqiang", f"结案 {case_id} 已发放困难补助")   # asks to confirm first
    assert load(services, case_id).state != "closed"
    assert "已结案" in chat.say("liqiang", "确认")
    assert "已由李强结案" in chat.texts("lisi")
    case = load(services, case_id)
    assert case.state == "closed"
    assert [(e.from_state, e.to_state, e.actor.name if e.actor else None) for e in case.events
            if e.kind == "transition"] == [
        (None, "reported", "周丽"), ("reported", "acknowledged", "李强"), ("acknowledged", "care_requested", "李强"),
        ("care_requested", "approved", "王伟"), ("approved", "helper_assigned", "李强"),
        ("helper_assigned", "in_progress", "李四"), ("in_progress", "closed", "李强")]


def test_reject_asks_for_a_reason(chat, services):
    case_id = flag_talk(services, platform=chat.kind)
    chat.drain()
    card = chat.latest_card("liqiang")
    chat.press("liqiang", "确认收到", card=card)
    chat.press("liqiang", "发起关爱申请", card=card)
    fill_care_form(chat.say, "liqiang", "需要困难补助")
    care = chat.latest_card("zhaomin")
    assert "理由" in chat.press("zhaomin", "驳回", card=care)
    assert "已驳回" in chat.say("zhaomin", "不符合补助条件")
    assert load(services, case_id).state == "rejected"
    assert "不符合补助条件" in chat.texts("liqiang")


# --- activities ------------------------------------------------------------------------------------

ACT_LINE = "发布活动 周末义务植树 2026-12-05 09:00-12:00 @浦东基地 名额2 截止12-03 范围:外航维修党支部"


def signups(services, activity_id: int) -> dict[str, str]:
    from models.activity import Signup
    from models.org import Person

    with services.session_factory() as db:
        rows = db.execute(select(Person.wecom_userid, Signup.status).join(Person, Person.id == Signup.person_id)
                          .where(Signup.activity_id == activity_id)).all()
    return dict(rows)


def test_activity_publish_join_waitlist_and_promotion(chat, services, clock):
    from datetime import datetime

    from models.activity import Activity

    clock.set(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    chat.say("liqiang", ACT_LINE)
    chat.say("liqiang", "确认发布")
    assert "已发布" in chat.texts("liqiang")  # the organiser's management card
    with services.session_factory() as db:
        act_id = db.scalars(select(Activity.id)).one()
    card = chat.latest_card("zhangsan")
    assert card.title == "【活动】周末义务植树" and card.buttons == ("报名", "取消报名")
    assert chat.inbox("hanmei") == [] and chat.inbox("wangwei") == []  # outside the audience

    assert "报名成功" in chat.press("zhangsan", "报名")
    assert "您已报名成功" in update_text(chat.card_updates("zhangsan")[-1])
    assert "报名成功" in chat.press("lisi", "报名")
    assert "候补第 1 位" in chat.press("wangwu", "报名")
    clock.advance(seconds=30)  # a second tap on the same card, later
    assert "无需重复报名" in chat.press("zhangsan", "报名", card=card)
    assert signups(services, act_id) == {"zhangsan": "confirmed", "lisi": "confirmed", "wangwu": "waitlisted"}

    chat.inbox("wangwu")
    assert f"取消报名 {act_id} 确认" in chat.say("zhangsan", f"取消报名 {act_id}")
    assert "已取消「周末义务植树」的报名" in chat.say("zhangsan", f"取消报名 {act_id} 确认")
    assert "候补转正" in chat.texts("wangwu")
    assert signups(services, act_id) == {"zhangsan": "cancelled", "lisi": "confirmed", "wangwu": "confirmed"}
