"""The WeCom webhook, driven with payloads encrypted exactly as WeCom does (wechatpy's crypto).

Modelled on Slack's and Stripe's signature tests (RELIABILITY.md §1.7): official vectors,
wrong signature, stale timestamp, hostile XML, oversize body, retried deliveries.
"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.adapters.wecom import CallbackRejected, WeComCrypto
from models.outbox import ProcessedDelivery
from tests.helpers import text_xml
from tests.payloads import wecom_xml

# Official vectors from Tencent's Sample.py (PROTOCOLS.md §1.4)
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"
GET_SIG, GET_TS, GET_NONCE = "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "1476416373", "47744683"
GET_ECHO = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
POST_SIG, POST_TS, POST_NONCE = "0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "1476422779", "1597212914"
POST_BODY = ("<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA["
             "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLN"
             "shw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh"
             "010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNf"
             "SsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
             "]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>")


def at(ts: str) -> datetime:
    return datetime.fromtimestamp(int(ts), tz=UTC)


def test_official_vectors_decrypt_with_our_crypto():
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    assert crypto.verify_url(GET_SIG, GET_TS, GET_NONCE, GET_ECHO, now=int(GET_TS)) == "1288432023552776189"
    msg = crypto.decrypt_callback(POST_BODY.encode(), POST_SIG, POST_TS, POST_NONCE, now=int(POST_TS))
    assert msg["FromUserName"] == "ChenJiaShun" and msg["Content"] == "你好" and msg["MsgId"] == "1456453720"


def test_url_verification_echoes_decrypted_echostr(client, clock):
    clock.set(at(GET_TS))
    resp = client.get(f"/wecom/callback?msg_signature={GET_SIG}&timestamp={GET_TS}&nonce={GET_NONCE}"
                      f"&echostr={GET_ECHO.replace('+', '%2B').replace('/', '%2F').replace('=', '%3D')}")
    assert resp.status_code == 200
    assert resp.data == b"1288432023552776189"  # no quotes, no newline


def test_url_verification_with_wrong_signature_is_403(client, clock):
    clock.set(at(GET_TS))
    resp = client.get(f"/wecom/callback?msg_signature={'0' * 40}&timestamp={GET_TS}&nonce={GET_NONCE}&echostr=abc")
    assert resp.status_code == 403


def test_official_post_sample_is_accepted_and_answered(client, clock, wecom):
    clock.set(at(POST_TS))
    resp = client.post(f"/wecom/callback?msg_signature={POST_SIG}&timestamp={POST_TS}&nonce={POST_NONCE}",
                       data=POST_BODY.encode(), content_type="text/xml")
    assert resp.status_code == 200
    reply = wecom.decrypt_reply(resp)  # ChenJiaShun is not on the roster: told so, politely
    assert reply["ToUserName"] == "ChenJiaShun" and "尚未登记" in reply["Content"]


def test_text_message_gets_encrypted_passive_reply(wecom):
    text = wecom.say("zhangsan", "帮助")
    assert "我的信息" in text and "帮助" in text


def test_wrong_signature_is_403_and_nothing_stored(wecom, services):
    resp = wecom.post_xml(text_xml("zhangsan", "帮助", wecom.corp_id), signature="f" * 40)
    assert resp.status_code == 403
    with services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(ProcessedDelivery)) == 0


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_timestamp_more_than_five_minutes_off_is_403(wecom, clock, offset):
    ts = int(clock.now().timestamp()) + offset
    resp = wecom.post_xml(text_xml("zhangsan", "帮助", wecom.corp_id), timestamp=ts)
    assert resp.status_code == 403


def test_non_ascii_signature_is_403_not_500(wecom):
    resp = wecom.post_xml(text_xml("zhangsan", "帮助", wecom.corp_id), signature="签名" * 20)
    assert resp.status_code == 403


BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><xml><Encrypt>&lol3;</Encrypt></xml>')
XXE = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Encrypt>&xxe;</Encrypt></xml>'


@pytest.mark.parametrize("body", [b"not xml at all", b"<xml><ToUserName>x</ToUserName></xml>", b"<xml/>", b"",
                                  BOMB.encode(), XXE.encode(), b"<xml><Encrypt>\xff\xfe</Encrypt>",
                                  b"<xml><Encrypt><![CDATA[!!!notbase64!!!]]></Encrypt></xml>"])
def test_hostile_or_malformed_bodies_get_4xx_and_store_nothing(client, clock, services, body):
    ts = str(int(clock.now().timestamp()))
    resp = client.post(f"/wecom/callback?msg_signature={'a' * 40}&timestamp={ts}&nonce=1", data=body,
                       content_type="text/xml")
    assert 400 <= resp.status_code < 500
    with services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(ProcessedDelivery)) == 0


def test_body_over_64_kib_is_413(wecom):
    resp = wecom.post_xml(text_xml("zhangsan", "x" * 70_000, wecom.corp_id))
    assert resp.status_code == 413


def test_same_message_delivered_three_times_is_handled_once(wecom, services):
    xml = text_xml("zhangsan", "我的信息", wecom.corp_id, msg_id=987654321)
    replies = [wecom.decrypt_reply(wecom.post_xml(xml)) for _ in range(3)]
    assert replies[0] and "张三" in replies[0]["Content"]
    assert replies[1] is None and replies[2] is None  # 200 with an empty body: WeCom stops retrying
    with services.session_factory() as db:   # a read-only command writes nothing, not even its delivery
        assert db.scalar(select(func.count()).select_from(ProcessedDelivery)) == 0


@pytest.mark.parametrize("event", ["enter_agent", "some_future_event"])
def test_entering_the_app_and_unknown_events_are_accepted_and_ignored(wecom, event):
    resp = wecom.send("enter_agent", "zhangsan", Event=event)
    assert resp.status_code == 200 and resp.data == b""


def test_message_encrypted_for_another_corp_is_rejected():
    import xmltodict
    from wechatpy.enterprise.crypto import WeChatCrypto

    other = WeChatCrypto(TOKEN, AES_KEY, "wwothercorp")
    plain = wecom_xml("text", ToUserName="wwothercorp", FromUserName="zhangsan", Content="x")
    env = xmltodict.parse(other.encrypt_message(plain, "n1", "1700000000"))["xml"]
    body = wecom_xml("envelope", ToUserName="wwothercorp", AgentID=1000002, Encrypt=env["Encrypt"]).encode()
    with pytest.raises(CallbackRejected) as err:
        WeComCrypto(TOKEN, AES_KEY, CORP_ID).decrypt_callback(body, env["MsgSignature"], "1700000000", "n1",
                                                              now=1700000000)
    assert err.value.status == 403
