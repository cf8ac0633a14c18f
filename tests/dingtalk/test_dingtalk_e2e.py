"""The same bot on WeCom and DingTalk: one deployment with both platforms enabled.

Every scenario runs once per platform through its real webhook (WeCom: encrypted XML; DingTalk:
signed JSON) with the platform's HTTP API faked by `responses`.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.context import notify_people
from bot.messages import Button, Card, Text
from models.org import Person
from tests.dingtalk_helpers import BOTH_PLATFORMS


@pytest.fixture
def config_overrides():
    return dict(BOTH_PLATFORMS)


def test_help_lists_the_commands(chat):
    text = chat.say("zhangsan", "帮助")
    assert "我的信息" in text and "取消" in text


def test_whoami_shows_unit_and_roles(chat):
    text = chat.say("liqiang", "我的信息")
    assert "李强" in text and "外航维修党支部" in text and "书记" in text


def test_english_alias_and_unknown_input(chat):
    assert "张三" in chat.say("zhangsan", "whoami")
    assert "没有听懂" in chat.say("zhangsan", "天气怎么样")


def test_a_stranger_is_told_to_ask_for_registration(chat):
    assert "尚未登记" in chat.say("nobody", "帮助")


def test_a_person_with_both_ids_is_notified_on_both_platforms(services, wecom_api, dt_api):
    card = Card(title="活动通知", body="周五下午主题党日", buttons=(Button("报名", "act:1:join"),), card_id="act1")
    with services.session_factory() as db:
        lisi = db.scalars(select(Person).where(Person.wecom_userid == "lisi")).one()
        notify_people(db, services.config, [lisi], Text("请查收活动通知"), ref="t", idem_key="n1")
        notify_people(db, services.config, [lisi], card, ref="t", idem_key="n2")
        db.commit()
    services.outbox_dispatcher().drain()
    assert wecom_api.texts_to("lisi") == ["请查收活动通知"]
    assert dt_api.texts_to("dt_lisi") == ["请查收活动通知"]
    assert wecom_api.cards_to("lisi")[0]["task_id"] == "act1"
    dt_card = dt_api.cards_to("dt_lisi")[0]
    assert dt_card["buttons"] == [{"text": "报名", "key": "act:1:join", "status": "primary"}]


def test_a_person_without_a_dingtalk_id_is_only_notified_on_wecom(services, wecom_api, dt_api):
    with services.session_factory() as db:
        wangwu = db.scalars(select(Person).where(Person.wecom_userid == "wangwu")).one()
        wangwu.dingtalk_userid = None
        db.flush()
        notify_people(db, services.config, [wangwu], Text("只发企业微信"))
        db.commit()
    services.outbox_dispatcher().drain()
    assert wecom_api.texts_to("wangwu") == ["只发企业微信"] and dt_api.batch == []
