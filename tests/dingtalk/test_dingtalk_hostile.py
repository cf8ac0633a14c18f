"""Hostile and malformed DingTalk callbacks: always a clear 4xx, nothing stored, nothing called.

Runs on the embedded stack only (the request is refused before storage is touched); the
signature, replay and answer-path tests in test_dingtalk_callback.py run on both stacks.
"""
from __future__ import annotations

import pytest

from tests.dingtalk_helpers import DINGTALK_OVERRIDES, message_body
from tests.helpers import processed_deliveries


@pytest.fixture
def stack(sqlite_engine, fake_redis):
    return sqlite_engine, fake_redis


@pytest.fixture
def config_overrides():
    return {"delivery.platforms": ["dingtalk"], **DINGTALK_OVERRIDES}


@pytest.mark.parametrize("headers", [{}, {"timestamp": "1"}, {"sign": "x"},
                                     {"timestamp": "abc", "sign": "x"}, {"timestamp": "1", "sign": "签名"}])
def test_missing_or_garbage_headers_are_403_not_500(dingtalk, headers):
    resp = dingtalk.post(message_body("dt_zhangsan", "帮助", now_ms=dingtalk.now_ms()), headers=headers)
    assert resp.status_code == 403


@pytest.mark.parametrize("offset_s", [-3601, 3601, -86400])
def test_stale_timestamp_is_403_even_with_a_valid_sign(dingtalk, services, offset_s):
    ts = dingtalk.now_ms() + offset_s * 1000
    resp = dingtalk.post(message_body("dt_zhangsan", "帮助", now_ms=ts), timestamp=ts)
    assert resp.status_code == 403 and resp.data == b"stale_timestamp"
    assert processed_deliveries(services) == 0


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b"\"text\"", b"", b"{\"msgId\": \"x\"}", b"\xff\xfe"])
def test_malformed_bodies_are_4xx_and_store_nothing(dingtalk, services, body):
    resp = dingtalk.post(body)
    assert 400 <= resp.status_code < 500
    assert processed_deliveries(services) == 0


@pytest.mark.parametrize("url", ["http://oapi.dingtalk.com/robot/sendBySession?session=1",
                                 "https://169.254.169.254/latest/meta-data",
                                 "https://oapi.dingtalk.com.evil.example/robot/sendBySession",
                                 "https://user@oapi.dingtalk.com/robot/sendBySession"])
def test_session_webhook_outside_dingtalk_is_never_called(dingtalk, services, dt_api, url):
    body = message_body("dt_zhangsan", "我的信息", now_ms=dingtalk.now_ms())
    body["sessionWebhook"] = url
    assert dingtalk.post(body).status_code == 200
    assert not any("evil" in c.request.url or "169.254" in c.request.url or c.request.url.startswith("http:")
                   for c in dt_api.rsps.calls)
    services.outbox_dispatcher().drain()
    assert "张三" in dt_api.texts_to("dt_zhangsan")[0]
