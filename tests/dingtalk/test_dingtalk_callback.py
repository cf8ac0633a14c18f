"""The DingTalk robot callback, driven with bodies signed exactly as DingTalk signs them.

Official vector and sample body from PROTOCOLS.md §5.1; wrong sign, stale timestamp, malformed
and oversize bodies, replayed msgId, the sessionWebhook answer path and its fallbacks, card clicks.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.adapters.dingtalk import (
    CallbackRejected,
    DingTalkVerifier,
    card_callback_key,
    card_callback_token,
    out_track_id,
    parse_card_callback,
    parse_message,
    sign,
)
from bot.web.dingtalk import GROUP_TEXT
from models.outbox import OutboxMessage
from tests.dingtalk_helpers import APP_SECRET, DINGTALK_OVERRIDES, card_callback_body, message_body, official_sample
from tests.helpers import processed_deliveries

pytestmark = pytest.mark.usefixtures("dt_api")


@pytest.fixture
def config_overrides():
    return {"delivery.platforms": ["dingtalk"], **DINGTALK_OVERRIDES}


# --- pure adapter ----------------------------------------------------------------------------------

def test_official_signature_vector():
    assert sign("1577262236757", "testAppSecret") == "Dc2jA7l8d6QkQ44GaOlQvDzR5W1cS7UBLolNXURn+v4="


def test_verifier_accepts_the_official_vector_at_its_time_and_rejects_an_hour_later():
    v = DingTalkVerifier("testAppSecret")
    good = "Dc2jA7l8d6QkQ44GaOlQvDzR5W1cS7UBLolNXURn+v4="
    v.check_headers("1577262236757", good, now=1577262236.757)
    with pytest.raises(CallbackRejected) as err:
        v.check_headers("1577262236757", good, now=1577262236.757 + 3601)
    assert (err.value.status, err.value.reason) == (403, "stale_timestamp")


def test_official_sample_body_maps_to_incoming():
    msg = parse_message(official_sample())
    inc = msg.incoming
    assert (inc.platform, inc.user_id, inc.text, inc.chat_type) == ("dingtalk", "user123", "你好", "group")
    assert inc.message_id == "mmsg0xxxxx"
    assert inc.time == datetime.fromtimestamp(1613630252.678, tz=UTC)
    assert msg.is_group and msg.session_webhook.startswith("https://oapi.dingtalk.com/robot/sendBySession")
    assert msg.session_webhook_expires_ms - 1613630252678 == 5_400_060


@pytest.mark.parametrize("change", [{"senderStaffId": None}, {"msgId": ""}])
def test_message_without_sender_or_id_is_400(change):
    body = {**official_sample(), **change}
    with pytest.raises(CallbackRejected) as err:
        parse_message(body)
    assert err.value.status == 400


def test_non_text_messages_are_marked_unsupported_with_their_media_id():
    body = {**official_sample(), "msgtype": "picture", "content": {"downloadCode": "x"}}
    body.pop("text")
    inc = parse_message(body).incoming
    assert (inc.unsupported, inc.media_id, inc.text) == ("image", "x", None)
    audio = {**body, "msgtype": "audio", "content": {"downloadCode": "a1", "recognition": "你好"}}
    assert parse_message(audio).incoming.unsupported == "voice"
    rich = {**body, "msgtype": "richText", "content": {"richText": [{"text": "谈话 张三"}, {"downloadCode": "p1"}]}}
    assert parse_message(rich).incoming.text == "谈话 张三"
    assert parse_message({**body, "msgtype": "somethingNew"}).incoming.unsupported == "other"


def test_card_callback_maps_to_the_same_action_key_as_wecom():
    track = out_track_id("case12", "dt_liqiang")
    body = card_callback_body("dt_liqiang", "case:12:ack", track)
    inc = parse_card_callback(body)
    assert (inc.platform, inc.user_id, inc.action, inc.card_id) == ("dingtalk", "dt_liqiang", "case:12:ack", track)
    assert inc.response_code == track  # the instance the sender updates after the decision
    now = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
    first = parse_card_callback(body, now=now).message_id
    assert parse_card_callback(body, now=now.replace(second=9)).message_id == first  # retry / double tap
    assert parse_card_callback(body, now=now.replace(second=10)).message_id != first  # a later tap


def test_card_callback_key_falls_back_to_action_param_and_action_ids():
    sdk_sample = {"extension": "{}", "corpId": "ding9f50b15bccd16741", "spaceType": "", "userIdType": 1,
                  "type": "actionCallback", "userId": "04574258341072934",
                  "content": "{\"cardPrivateData\":{\"actionIds\":[\"button_node_ocljnpbz4i4\"],\"params\":{}}}",
                  "spaceId": "", "outTrackId": out_track_id("53d6dda4", "04574258341072934"),
                  "value": "{\"cardPrivateData\":{\"actionIds\":[\"button_node_ocljnpbz4i4\"],\"params\":{}}}"}
    assert card_callback_key(sdk_sample) == "button_node_ocljnpbz4i4"
    with_action = {**sdk_sample, "content": json.dumps({"cardPrivateData": {"params": {"action": "accept"}}})}
    assert card_callback_key(with_action) == "accept"
    with pytest.raises(CallbackRejected):
        parse_card_callback({**sdk_sample, "content": "{not json"})


# --- the endpoint ----------------------------------------------------------------------------------

def test_help_in_single_chat_is_answered_through_the_session_webhook(dingtalk, dt_api):
    text = dingtalk.say("dt_zhangsan", "帮助")
    assert "我的信息" in text and "帮助" in text
    assert dt_api.batch == []  # nothing went through the outbox


def test_official_sample_in_a_group_gets_a_pointer_to_single_chat(dingtalk, dt_api, clock, services):
    body = official_sample()
    clock.set(datetime.fromtimestamp(body["createAt"] / 1000, tz=UTC))
    resp = dingtalk.post(body)
    assert resp.status_code == 200
    assert dingtalk.session_text(body["sessionWebhook"]) == GROUP_TEXT
    assert dt_api.session[0][1]["at"] == {"atUserIds": ["user123"]}
    assert processed_deliveries(services) == 0  # not dispatched


def test_unknown_user_is_told_politely(dingtalk):
    assert "尚未登记" in dingtalk.say("user123", "你好")


def test_wrong_sign_is_403_and_nothing_stored(dingtalk, services, dt_api):
    resp = dingtalk.post(message_body("dt_zhangsan", "帮助", now_ms=dingtalk.now_ms()),
                         signature=sign(str(dingtalk.now_ms()), "anotherSecret"))
    assert resp.status_code == 403
    assert processed_deliveries(services) == 0 and dt_api.session == []


@pytest.mark.parametrize(("offset_s", "status"), [(-290, 200), (290, 200), (-301, 403), (301, 403), (-3500, 403)])
def test_timestamp_must_be_within_five_minutes(dingtalk, offset_s, status):
    ts = dingtalk.now_ms() + offset_s * 1000
    resp = dingtalk.post(message_body("dt_zhangsan", "帮助", now_ms=dingtalk.now_ms()), timestamp=ts)
    assert resp.status_code == status


def test_tolerance_follows_the_config(services, dingtalk):
    from bot.web.dingtalk import verifier

    assert verifier(services).tolerance == 300


def test_body_over_64_kib_is_413(dingtalk):
    resp = dingtalk.post(message_body("dt_zhangsan", "x" * 70_000, now_ms=dingtalk.now_ms()))
    assert resp.status_code == 413


def test_replayed_msg_id_is_handled_once(dingtalk, services, dt_api):
    body = message_body("dt_zhangsan", "我的信息", now_ms=dingtalk.now_ms(), msg_id="msgREPLAY1")
    statuses = [dingtalk.post(body).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    replies = [b for u, b in dt_api.session if u == body["sessionWebhook"]]
    assert len(replies) == 1 and "张三" in replies[0]["text"]["content"]


def test_expired_session_webhook_falls_back_to_the_outbox(dingtalk, services, dt_api):
    body = message_body("dt_zhangsan", "我的信息", now_ms=dingtalk.now_ms())
    body["sessionWebhookExpiredTime"] = dingtalk.now_ms() - 1
    assert dingtalk.post(body).status_code == 200
    assert dt_api.session == []
    services.outbox_dispatcher().drain()
    assert len(dt_api.batch) == 1
    sent = dt_api.batch[0]
    assert sent["userIds"] == ["dt_zhangsan"] and sent["msgKey"] == "sampleText" and sent["robotCode"] == "dingtestappkey"
    assert "张三" in sent["param"]["content"]


def test_failing_session_webhook_falls_back_to_the_outbox(dingtalk, services, dt_api):
    dt_api.queue("/robot/sendBySession", (500, {"errcode": -1}))
    body = message_body("dt_zhangsan", "我的信息", now_ms=dingtalk.now_ms())
    assert dingtalk.post(body).status_code == 200
    services.outbox_dispatcher().drain()
    assert "张三" in dt_api.texts_to("dt_zhangsan")[0]


def test_corp_id_is_checked_when_configured(services, dingtalk):
    from bot.web.dingtalk import verifier

    verifier(services).corp_id = "dingOTHERCORP"
    resp = dingtalk.post(message_body("dt_zhangsan", "帮助", now_ms=dingtalk.now_ms()))
    assert resp.status_code == 403 and resp.data == b"wrong_corp"


# --- card callbacks --------------------------------------------------------------------------------

def test_card_callback_with_wrong_token_is_403(dingtalk, services):
    resp = dingtalk.click("dt_zhangsan", "zz:1", "t1", token="wrong-token")
    assert resp.status_code == 403
    assert processed_deliveries(services) == 0


def test_card_callback_with_stale_signed_headers_is_403(dingtalk):
    ts = dingtalk.now_ms() - 7200 * 1000
    resp = dingtalk.click("dt_zhangsan", "zz:1", "t1", headers={"timestamp": str(ts), "sign": sign(str(ts), APP_SECRET)})
    assert resp.status_code == 403


def test_card_callback_is_dispatched_once_and_answered_through_the_outbox(dingtalk, services, dt_api):
    for _ in range(2):
        resp = dingtalk.click("dt_zhangsan", "zz:1", out_track_id("zz", "dt_zhangsan"))
        assert resp.status_code == 200 and resp.get_json() == {}
    services.outbox_dispatcher().drain()
    assert dt_api.texts_to("dt_zhangsan") == ["这张卡片已失效，无法处理这次点击。"]
    assert processed_deliveries(services) == 1


def test_card_callback_token_is_derived_from_the_secret():
    assert card_callback_token("a") != card_callback_token("b")
    assert len(card_callback_token(APP_SECRET)) == 32


def test_dingtalk_blueprint_is_off_unless_enabled(services):
    from bot.cli.wiring import create_app

    off = create_app(services.config.with_overrides({"dingtalk.enabled": False}), services=services)
    assert off.test_client().post("/dingtalk/callback", data=b"{}").status_code == 404


def test_outbox_rows_for_replies_are_dingtalk_rows(dingtalk, services):
    body = message_body("dt_zhangsan", "我的信息", now_ms=dingtalk.now_ms())
    body["sessionWebhook"] = None
    dingtalk.post(body)
    with services.session_factory() as db:
        row = db.scalars(select(OutboxMessage)).one()
        assert (row.platform, row.recipients, row.ref) == ("dingtalk", ["dt_zhangsan"], f"reply:m{body['msgId']}")


def test_a_double_tap_within_seconds_is_one_click_and_a_later_tap_is_answered(dingtalk, services, dt_api, clock):
    clock.set(clock.now().replace(second=0))
    assert dingtalk.click("dt_zhangsan", "zz:2", out_track_id("zz", "dt_zhangsan")).status_code == 200
    clock.advance(seconds=3)
    assert dingtalk.click("dt_zhangsan", "zz:2", out_track_id("zz", "dt_zhangsan")).status_code == 200
    assert processed_deliveries(services) == 1
    clock.advance(seconds=30)
    assert dingtalk.click("dt_zhangsan", "zz:2", out_track_id("zz", "dt_zhangsan")).status_code == 200
    assert processed_deliveries(services) == 2
