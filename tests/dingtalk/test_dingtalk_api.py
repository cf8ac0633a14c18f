"""The DingTalk sender through the real outbox dispatcher, with DingTalk's HTTP API faked by `responses`.

Token shared through Redis (one fetch for many workers, refreshed once when rejected), batchSend
split into chunks of 20 with partial failures retried without duplicates, flow-controlled users
retried later, error classes, interactive cards (one instance per recipient) and their update.
"""
from __future__ import annotations

import functools
import json
import operator
import threading

import pytest
import requests

from bot.adapters.dingtalk import out_track_id
from bot.adapters.dingtalk_api import DingTalkClient
from bot.adapters.dingtalk_sender import render_card_params
from bot.messages import Button, Card, Text
from bot.outbox import enqueue
from models.outbox import OutboxMessage, OutboxStatus
from tests.dingtalk_helpers import APP_KEY, APP_SECRET, DINGTALK_OVERRIDES, TEMPLATE

BATCH = "/v1.0/robot/oToMessages/batchSend"


@pytest.fixture
def config_overrides():
    return {"delivery.platforms": ["dingtalk"], **DINGTALK_OVERRIDES}


def put(services, recipients, reply, kind="send", response_code=None, batch=1000) -> int:
    with services.session_factory() as db:
        rows = enqueue(db, platform="dingtalk", recipients=recipients, reply=reply, kind=kind,
                       response_code=response_code, batch=batch)
        db.commit()
        return rows[0].id


def row(services, row_id) -> OutboxMessage:
    with services.session_factory() as db:
        r = db.get(OutboxMessage, row_id)
        db.expunge(r)
        return r


def make_due(services, row_id) -> None:
    from models.base import utcnow

    with services.session_factory() as db:
        db.get(OutboxMessage, row_id).next_attempt_at = utcnow()
        db.commit()


def test_text_goes_out_with_batch_send_and_a_shared_token(services, dt_api):
    put(services, ["dt_zhangsan"], Text("你好"))
    put(services, ["dt_lisi"], Text("再见"))
    services.outbox_dispatcher().drain()
    assert dt_api.token_calls == 1 and dt_api.tokens_seen == ["TOKEN1", "TOKEN1"]
    # (sends to different people go out concurrently: find the first message, not the first call)
    first = next(b for b in dt_api.batch if json.loads(b["msgParam"]) == {"content": "你好"})
    assert first["robotCode"] == APP_KEY and first["msgKey"] == "sampleText"
    assert json.loads(first["msgParam"]) == {"content": "你好"}
    # another process (a second client on the same Redis) reuses the cached token
    other = DingTalkClient(APP_KEY, APP_SECRET, services.redis)
    assert other.access_token == "TOKEN1" and dt_api.token_calls == 1


def test_one_token_fetch_when_many_workers_start_together(services, dt_api):
    clients = [DingTalkClient(APP_KEY, APP_SECRET, services.redis) for _ in range(8)]
    got: list[str] = []
    threads = [threading.Thread(target=lambda c=c: got.append(c.access_token)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["TOKEN1"] * 8 and dt_api.token_calls == 1


def test_rejected_token_is_refreshed_once_and_the_row_retried(services, dt_api):
    rid = put(services, ["dt_zhangsan"], Text("你好"))
    services.outbox_dispatcher().drain()  # fetches TOKEN1, sends
    rid2 = put(services, ["dt_zhangsan"], Text("第二条"))
    dt_api.queue(BATCH, (401, {"code": "InvalidAuthentication", "message": "不合法的access_token",
                              "requestid": "r"}))
    services.outbox_dispatcher().drain()
    assert row(services, rid).status == OutboxStatus.SENT and row(services, rid2).status == OutboxStatus.SENT
    assert dt_api.token_calls == 2 and dt_api.tokens_seen[-1] == "TOKEN2"
    assert dt_api.texts_to("dt_zhangsan") == ["你好", "第二条"]


def test_a_row_of_45_recipients_is_sent_in_chunks_of_20(services, dt_api):
    users = [f"u{i:02d}" for i in range(45)]
    rid = put(services, users, Text("通知"))
    services.outbox_dispatcher().drain()
    assert [len(b["userIds"]) for b in dt_api.batch] == [20, 20, 5]
    assert functools.reduce(operator.iadd, (b["userIds"] for b in dt_api.batch), []) == users
    assert row(services, rid).platform_msgid == "PQK1,PQK2,PQK3"


def test_partial_failure_is_retried_without_sending_twice(services, dt_api):
    users = [f"u{i:02d}" for i in range(45)]
    rid = put(services, users, Text("通知"))
    # first chunk goes through, the second hits a 500: the row is retried later
    original = dt_api._batch
    calls = {"n": 0}

    def flaky(request):
        calls["n"] += 1
        if calls["n"] == 2:
            return 502, {}, "bad gateway"
        return original(request)

    dt_api.rsps.remove("POST", "https://api.dingtalk.com" + BATCH)
    dt_api.rsps.add_callback("POST", "https://api.dingtalk.com" + BATCH, callback=flaky)
    services.outbox_dispatcher().drain()
    r = row(services, rid)
    assert r.status == OutboxStatus.PENDING and r.attempts == 1 and "502" in r.last_error
    make_due(services, rid)
    services.outbox_dispatcher().drain()
    assert row(services, rid).status == OutboxStatus.SENT
    delivered = functools.reduce(operator.iadd, (b["userIds"] for b in dt_api.batch), [])
    assert sorted(delivered) == users  # everyone exactly once


def test_flow_controlled_users_are_retried_alone(services, dt_api):
    dt_api.queue(BATCH, (200, {"processQueryKey": "PQ", "invalidStaffIdList": ["ghost"],
                               "flowControlledStaffIdList": ["u1"]}))
    rid = put(services, ["u0", "u1", "ghost"], Text("通知"))
    services.outbox_dispatcher().drain()
    r = row(services, rid)
    assert r.status == OutboxStatus.PENDING and "flow-controlled" in r.last_error
    make_due(services, rid)
    services.outbox_dispatcher().drain()
    r = row(services, rid)
    assert r.status == OutboxStatus.SENT
    assert dt_api.batch[-1]["userIds"] == ["u1"]


@pytest.mark.parametrize("answer, expect", [
    ((429, {"code": "Throttling", "message": "too many"}), "retry"),
    ((403, {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "qps"}), "retry"),
    ((503, {}), "retry"),
    (requests.ConnectTimeout("timed out"), "retry"),
    ((400, {"code": "InvalidParameter.robotCode", "message": "robot 不存在"}), "dead"),
])
def test_errors_are_classified_for_the_outbox(services, dt_api, answer, expect):
    dt_api.queue(BATCH, answer)
    rid = put(services, ["u0"], Text("通知"))
    services.outbox_dispatcher().drain()
    r = row(services, rid)
    if expect == "retry":
        assert r.status == OutboxStatus.PENDING and r.attempts == 1
    else:
        assert r.status == OutboxStatus.DEAD and "InvalidParameter" in r.last_error


def test_wrong_app_secret_is_a_permanent_error(services, dt_api):
    dt_api.queue("/v1.0/oauth2/accessToken", (400, {"code": "invalidClientIdOrSecret", "message": "无效的appKey"}))
    rid = put(services, ["u0"], Text("通知"))
    services.outbox_dispatcher().drain()
    assert row(services, rid).status == OutboxStatus.DEAD


CARD = Card(title="谈话提醒", body="请于本周内完成谈话", fields=(("对象", "张三"),),
            buttons=(Button("确认", "case:12:ack"), Button("转交", "case:12:fwd", style=2)), card_id="case12")


def test_cards_with_buttons_become_one_instance_per_recipient(services, dt_api):
    rid = put(services, ["dt_liqiang", "dt_chenjing"], CARD)
    services.outbox_dispatcher().drain()
    assert len(dt_api.cards) == 2
    a, b = dt_api.cards
    assert a["outTrackId"] == out_track_id("case12", "dt_liqiang") != b["outTrackId"]
    assert a["cardTemplateId"] == TEMPLATE and a["openSpaceId"] == "dtv1.card//IM_ROBOT.dt_liqiang"
    assert a["imRobotOpenDeliverModel"] == {"spaceType": "IM_ROBOT", "robotCode": APP_KEY}
    assert a["callbackType"] == "HTTP" and a["callbackRouteKey"] == "lianxin" and a["userIdType"] == 1
    params = a["cardData"]["cardParamMap"]
    assert all(isinstance(v, str) for v in params.values())
    assert json.loads(params["buttons"]) == [{"text": "确认", "key": "case:12:ack", "status": "primary"},
                                             {"text": "转交", "key": "case:12:fwd", "status": "normal"}]
    assert "**对象**：张三" in params["markdown"] and params["title"] == "谈话提醒"
    assert row(services, rid).status == OutboxStatus.SENT


def test_card_retry_after_a_timeout_refreshes_instead_of_creating_twice(services, dt_api):
    dt_api.queue("/v1.0/card/instances/createAndDeliver", requests.ReadTimeout("slow"))
    rid = put(services, ["dt_liqiang"], CARD)
    services.outbox_dispatcher().drain()
    assert row(services, rid).status == OutboxStatus.PENDING
    make_due(services, rid)
    services.outbox_dispatcher().drain()
    # the retry first tries to update the instance the timed-out call may have created
    assert dt_api.updates and dt_api.updates[0]["outTrackId"] == out_track_id("case12", "dt_liqiang")
    assert dt_api.cards == [] and row(services, rid).status == OutboxStatus.SENT


def test_card_update_after_a_decision_replaces_the_clicked_instance(services, dt_api):
    track = out_track_id("case12", "dt_liqiang")
    done = Card(title="谈话提醒", body="请于本周内完成谈话", card_id="case12", done_text="已确认（李强）")
    put(services, ["dt_liqiang"], done, kind="update_card", response_code=track)
    services.outbox_dispatcher().drain()
    assert dt_api.cards == []
    params = dt_api.updates_of(track)[0]
    assert params["done_text"] == "已确认（李强）" and json.loads(params["buttons"]) == []
    assert dt_api.updates[0]["cardUpdateOptions"] == {"updateCardDataByKey": True}


def test_plain_cards_and_missing_template_use_markdown(services, dt_api):
    sender = services.senders["dingtalk"]
    sender.card_template_id = ""
    put(services, ["dt_zhangsan"], CARD)
    put(services, ["dt_zhangsan"], Card(title="通知", body="明天开会"))
    services.outbox_dispatcher().drain()
    assert [b["msgKey"] for b in dt_api.batch] == ["sampleMarkdown", "sampleMarkdown"]
    assert dt_api.batch[0]["param"]["title"] == "谈话提醒" and "〔确认〕" in dt_api.batch[0]["param"]["text"]
    assert "明天开会" in dt_api.batch[1]["param"]["text"]


def test_render_card_params_greys_out_buttons_when_done():
    params = render_card_params(Card(title="t", buttons=(Button("a", "k"),), done_text="已处理"))
    assert json.loads(params["buttons"]) == [] and params["done_text"] == "已处理"


def test_out_track_id_is_stable_and_bounded():
    assert out_track_id("x" * 128, "u") == out_track_id("x" * 128, "u")
    assert len(out_track_id("x" * 128, "u" * 64)) <= 64
    assert out_track_id("c", "u1") != out_track_id("c", "u2")


def test_enabled_without_credentials_fails_fast(services):
    from bot.adapters.dingtalk_sender import build_dingtalk_sender
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match=r"dingtalk\.app_secret"):
        build_dingtalk_sender(services.config.with_overrides({"dingtalk.app_secret": ""}), services.redis)


def test_update_of_copies_sent_to_others_uses_their_own_instances(services, dt_api):
    put(services, ["dt_wangwei", "dt_zhaomin"], CARD)
    services.outbox_dispatcher().drain()
    done = Card(title="谈话提醒", card_id="case12", done_text="已由王伟处理")
    put(services, ["dt_zhaomin"], done, kind="update_card")  # no clicked instance: derived from card_id
    services.outbox_dispatcher().drain()
    assert [u["outTrackId"] for u in dt_api.updates] == [out_track_id("case12", "dt_zhaomin")]
    assert {c["outTrackId"] for c in dt_api.cards} >= {dt_api.updates[0]["outTrackId"]}


def test_an_instance_that_cannot_be_updated_is_sent_anew_without_buttons(services, dt_api):
    dt_api.queue("/v1.0/card/instances", (400, {"code": "param.outTrackId.notExist", "message": "卡片不存在"}))
    done = Card(title="谈话提醒", card_id="case12", done_text="已处理", buttons=(Button("确认", "case:12:ack"),))
    rid = put(services, ["dt_zhaomin"], done, kind="update_card", response_code="gone-track")
    services.outbox_dispatcher().drain()
    assert row(services, rid).status == OutboxStatus.SENT
    [fresh] = dt_api.cards_to("dt_zhaomin")
    assert fresh["buttons"] == [] and fresh["done_text"] == "已处理" and fresh["outTrackId"] != "gone-track"
