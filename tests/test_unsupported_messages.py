"""Messages lianxin cannot read (voice, image, file, location…) are answered with what to send
instead, on WeCom and DingTalk alike, and leave a dialog in progress as it was."""
from __future__ import annotations

import pytest

from tests.dingtalk_helpers import BOTH_PLATFORMS, dingtalk, dt_api, message_body  # noqa: F401


@pytest.fixture
def config_overrides():
    return dict(BOTH_PLATFORMS)


def wecom_xml(user: str, msg_type: str, extra: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[ww]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{extra}"
            f"<MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>")


@pytest.mark.parametrize(("msg_type", "extra", "answer"), [
    ("voice", "<MediaId><![CDATA[v1]]></MediaId><Format><![CDATA[amr]]></Format>", "暂不支持语音，请发送文字。"),
    ("image", "<PicUrl><![CDATA[http://p]]></PicUrl><MediaId><![CDATA[i1]]></MediaId>", "暂不支持图片，请发送文字。"),
    ("location", "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>15</Scale>"
                 "<Label><![CDATA[车间]]></Label>", "暂不支持位置，请发送文字。"),
])
def test_wecom_unreadable_message_is_answered(wecom, msg_type, extra, answer):
    resp = wecom.post_xml(wecom_xml("zhangsan", msg_type, extra, 9100 + len(msg_type)))
    assert resp.status_code == 200
    assert wecom.decrypt_reply(resp)["Content"] == answer


def test_wecom_voice_in_a_dialog_keeps_the_dialog(wecom):
    assert "姓名" in wecom.say("zhouli", "谈话")
    resp = wecom.post_xml(wecom_xml("zhouli", "voice", "<MediaId><![CDATA[v2]]></MediaId>", 9201))
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
