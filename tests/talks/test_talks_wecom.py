"""Talks end to end through the encrypted WeCom webhook: text answers come back passively,
question and confirmation cards go out through the outbox to the (faked) WeCom API, and button
clicks come back as template_card_event callbacks."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models.talk import Talk

SUMMARY = "本月绩效调整有疑问"


@pytest.fixture
def config_overrides():
    return {"delivery.platforms": ["wecom"]}


class WeComUser:
    """One WeCom user: say text, drain the outbox, click a button of the latest card."""

    def __init__(self, wecom, services, api, user):
        self.wecom, self.services, self.api, self.user = wecom, services, api, user

    def say(self, text: str) -> str:
        reply = self.wecom.say(self.user, text)
        self.services.outbox_dispatcher().drain()
        return reply

    def card(self) -> dict:
        cards = self.api.cards_to(self.user)
        assert cards, "no card was sent"
        return cards[-1]

    def click(self, button: str) -> str:
        card = self.card()
        keys = {b["text"]: b["key"] for b in card["button_list"]}
        assert button in keys, f"{button!r} not in {list(keys)}"
        self.wecom.clock.advance(seconds=2)   # WeCom dedupes events by user + CreateTime + key
        reply = self.wecom.click(self.user, keys[button], task_id=card["task_id"])
        self.services.outbox_dispatcher().drain()
        return reply


def _talks(services):
    with services.session_factory() as db:
        return [(t.subject.name, t.kind, t.mood, t.flag, t.category, str(t.summary))
                for t in db.scalars(select(Talk).order_by(Talk.id))]


def test_one_line_talk_over_wecom(wecom, services, api):
    zhouli = WeComUser(wecom, services, api, "zhouli")
    reply = zhouli.say(f"谈话 张三 季度 稳定 {SUMMARY} #关注 #薪酬")
    assert SUMMARY in reply                                  # the preview is a passive (unstored) reply
    card = zhouli.card()
    assert card["main_title"]["title"] == "确认谈话记录"
    fields = {f["keyname"]: f["value"] for f in card["horizontal_content_list"]}
    assert fields["对象"] == "张三（四车间班组）" and fields["标记"] == "关注（薪酬绩效）"
    assert SUMMARY not in str(api.sent)                      # never through the WeCom API in a card
    reply = zhouli.click("保存")
    assert "已保存谈话 #1" in reply
    assert _talks(services) == [("张三", "quarterly", "stable", "watch", "pay", SUMMARY)]
    [update] = api.updates
    assert update["template_card"]["replace_text"] == "已保存" and update["response_code"] == "RC"
    assert update["template_card"]["task_id"] == card["task_id"]


def test_guided_dialog_over_wecom_with_back_and_cancel(wecom, services, api):
    zhouli = WeComUser(wecom, services, api, "zhouli")
    assert "姓名" in zhouli.say("谈话")
    zhouli.say("张三")
    assert zhouli.card()["main_title"]["title"] == "谈话类型？"
    assert "谈话内容" in zhouli.click("季度谈心")
    zhouli.say("第一稿")
    assert zhouli.card()["main_title"]["title"] == "对方的思想状态？"
    assert "谈话内容" in zhouli.say("返回")
    zhouli.say(SUMMARY)
    zhouli.click("有些波动")
    zhouli.click("无")
    zhouli.say("返回")                                       # from needs back to the flag question
    assert zhouli.card()["main_title"]["title"] == "是否标记？" and len(api.cards_to("zhouli")) == 5
    zhouli.click("无")
    zhouli.say("无")
    assert zhouli.card()["main_title"]["title"] == "确认谈话记录"
    assert "已保存" in zhouli.click("保存")
    assert _talks(services) == [("张三", "quarterly", "some_concern", "none", None, SUMMARY)]
    task_ids = [c["task_id"] for c in api.cards_to("zhouli")]
    assert len(task_ids) == 6 and len(set(task_ids)) == 6       # WeCom refuses a repeated task_id
    # a new dialog, cancelled half-way
    zhouli.say("走访 李四")
    assert "已取消" in zhouli.say("取消")
    assert len(_talks(services)) == 1


def test_refusals_over_wecom(wecom, services, api):
    zhouli = WeComUser(wecom, services, api, "zhouli")
    zhouli.say(f"谈话 张三 季度 稳定 {SUMMARY}")
    zhouli.click("保存")
    assert "不能为其记录谈话" in zhouli.say("谈话 郑毅 季度 稳定 一切正常")
    employee = WeComUser(wecom, services, api, "zhangsan")
    for text in ("谈话记录 张三", "谈话详情 1"):
        reply = employee.say(text)
        assert "仅对有相应职责的同志开放" in reply and SUMMARY not in reply
    assert SUMMARY in WeComUser(wecom, services, api, "liqiang").say("谈话详情 1")
