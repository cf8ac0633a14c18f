"""Messages lianxin cannot read (voice, image, file, location…) are answered with what to send
instead, on WeCom and DingTalk alike, and leave a dialog in progress as it was."""
from __future__ import annotations

import pytest

from tests.dingtalk_helpers import BOTH_PLATFORMS, message_body


@pytest.fixture
def config_overrides():
    return dict(BOTH_PLATFORMS)


@pytest.mark.parametrize(("sample", "answer"), [
    ("voice", "暂不支持语音，请发送文字。"),
    ("image", "暂不支持图片，请发送文字。"),
    ("location", "暂不支持位置，请发送文字。"),
])
def test_wecom_unreadable_message_is_answered(wecom, sample, answer):
    resp = wecom.send(sample, "zhangsan")            # the documented message, as WeCom sends it
    assert resp.status_code == 200
    assert wecom.decrypt_reply(resp)["Content"] == answer


def test_wecom_voice_in_a_dialog_keeps_the_dialog(wecom):
    assert "姓名" in wecom.say("zhouli", "谈话")
    resp = wecom.send("voice", "zhouli", MediaId="v2")
    assert wecom.decrypt_reply(resp)["Content"] == "暂不支持语音，请发送文字。"
    assert "2 位相符" in wecom.say("zhouli", "张")     # the dialog goes on where it was


@pytest.mark.parametrize(("msgtype", "content", "answer"), [
    ("audio", {"downloadCode": "a1", "recognition": "你好"}, "暂不支持语音，请发送文字。"),
    ("picture", {"downloadCode": "p1"}, "暂不支持图片，请发送文字。"),
    ("file", {"downloadCode": "f1", "fileName": "a.pdf"}, "暂不支持文件，请发送文字。"),
])
def test_dingtalk_unreadable_message_is_answered(dingtalk, msgtype, content, answer):
    body = message_body("dt_zhangsan", "", now_ms=dingtalk.now_ms())
    body.pop("text")
    body.update(msgtype=msgtype, content=content)
    assert dingtalk.post(body).status_code == 200
    assert dingtalk.session_text(body["sessionWebhook"]) == answer
