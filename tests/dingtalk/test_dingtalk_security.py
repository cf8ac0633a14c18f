"""The two ways into DingTalk callbacks found in issue 16, reproduced and refused.

1. A captured robot-callback `timestamp`/`sign` pair replayed with another body (the admin's id,
   "授权 张三 党委委员 …"): refused, the pair being bound to the first msgId (bot.replay), in
   Redis and, when Redis lost it, in the database.
2. A card click POSTed to /dingtalk/card/callback/<token> with no headers (the token had leaked
   through the access log) approved a care request in a committee member's name: the signature
   headers are required (made with the registered apiSecret), tokens rotate, and the clicked
   instance must have been delivered to the clicker.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.adapters.dingtalk import out_track_id, sign, track_belongs_to
from models.org import Person, RoleAssignment
from tests.case_helpers import fill_care_form, flag_talk, load
from tests.dingtalk_helpers import APP_SECRET, DINGTALK_OVERRIDES, message_body

GRANT = "授权 张三 党委委员 技术公司党委"


@pytest.fixture
def config_overrides():
    return {"delivery.platforms": ["dingtalk"], **DINGTALK_OVERRIDES}


def roles_of(services, uid: str) -> list[str]:
    with services.session_factory() as db:
        person = db.scalars(select(Person).where(Person.wecom_userid == uid)).one()
        return [r.role for r in db.scalars(select(RoleAssignment).where(RoleAssignment.person_id == person.id))]


def test_replayed_signature_with_the_admins_body_is_refused(dingtalk, services):
    # a harmless message from an ordinary employee; its headers are captured
    captured = dingtalk.headers()
    ok = dingtalk.post(message_body("dt_zhangsan", "帮助", now_ms=dingtalk.now_ms()), headers=captured)
    assert ok.status_code == 200
    # the same headers with another body: the admin granting zhangsan a committee role
    forged = message_body("dt_admin", GRANT, now_ms=dingtalk.now_ms())
    resp = dingtalk.post(forged, headers=captured)
    assert (resp.status_code, resp.data) == (403, b"replayed_signature")
    assert "committee" not in roles_of(services, "zhangsan")
    # the same body, signed by DingTalk itself (fresh headers), is what the admin may do (and confirm)
    assert dingtalk.post(forged).status_code == 200
    assert "committee" not in roles_of(services, "zhangsan")        # a role change waits for 确认
    assert dingtalk.post(message_body("dt_admin", "确认", now_ms=dingtalk.now_ms())).status_code == 200
    assert "committee" in roles_of(services, "zhangsan")


def test_replay_is_refused_after_redis_lost_the_pair(dingtalk, services):
    captured = dingtalk.headers()
    assert dingtalk.post(message_body("dt_zhangsan", "帮助", now_ms=dingtalk.now_ms()), headers=captured).status_code == 200
    services.redis.flushdb()   # Redis restarted without persistence, or evicted the key
    resp = dingtalk.post(message_body("dt_admin", GRANT, now_ms=dingtalk.now_ms()), headers=captured)
    assert (resp.status_code, resp.data) == (403, b"replayed_signature")
    assert "committee" not in roles_of(services, "zhangsan")


def test_the_platform_repeating_one_delivery_is_answered_once_not_refused(dingtalk, dt_api):
    headers = dingtalk.headers()
    body = message_body("dt_zhangsan", "我的信息", now_ms=dingtalk.now_ms())
    assert [dingtalk.post(body, headers=headers).status_code for _ in range(2)] == [200, 200]
    assert len([b for u, b in dt_api.session if u == body["sessionWebhook"]]) == 1


# --- card clicks -----------------------------------------------------------------------------------

def care_card(services, dingtalk, dt_api) -> tuple[int, dict]:
    """Flag a talk, let the secretary ask for care: (case id, the care card delivered to wangwei)."""
    case_id = flag_talk(services, platform="dingtalk")
    outbox = services.outbox_dispatcher()
    outbox.drain()
    flag = [c for c in dt_api.cards_to("dt_liqiang") if c["buttons"]][-1]
    dingtalk.press("dt_liqiang", "确认收到", card=flag)
    dingtalk.press("dt_liqiang", "发起关爱申请", card=flag)
    outbox.drain()

    def say(user: str, text: str) -> str:
        out = dingtalk.say(user, text)
        outbox.drain()
        return out

    fill_care_form(say, "dt_liqiang", "家属住院，需探望慰问并申请困难补助")
    return case_id, [c for c in dt_api.cards_to("dt_wangwei") if c["buttons"]][-1]


def approve_key(card: dict) -> str:
    return next(b["key"] for b in card["buttons"] if b["text"] == "同意")


def test_card_click_without_signature_headers_is_refused(dingtalk, services, dt_api):
    case_id, card = care_card(services, dingtalk, dt_api)
    # the URL token leaked (e.g. from an access log): a POST with no headers, in wangwei's name
    resp = dingtalk.click("dt_wangwei", approve_key(card), card["outTrackId"], headers={})
    assert (resp.status_code, resp.data) == (403, b"missing_signature")
    # signed with the appSecret instead of the registered apiSecret: refused too
    ts = str(dingtalk.now_ms())
    app_signed = {"timestamp": ts, "sign": sign(ts, APP_SECRET)}
    resp = dingtalk.click("dt_wangwei", approve_key(card), card["outTrackId"], headers=app_signed)
    assert (resp.status_code, resp.data) == (403, b"bad_signature")
    assert load(services, case_id).state != "approved"


def test_card_click_by_someone_it_was_not_delivered_to_is_refused(dingtalk, services, dt_api):
    case_id, card = care_card(services, dingtalk, dt_api)
    # zhaomin received her own copy; wangwei's instance (forwarded, or a forged body) is not hers
    resp = dingtalk.click("dt_zhaomin", approve_key(card), card["outTrackId"])
    assert (resp.status_code, resp.data) == (403, b"not_the_recipient")
    resp = dingtalk.click("dt_zhangsan", approve_key(card), card["outTrackId"])
    assert resp.status_code == 403
    assert load(services, case_id).state != "approved"


def test_a_valid_click_by_the_recipient_approves(dingtalk, services, dt_api):
    case_id, card = care_card(services, dingtalk, dt_api)
    assert dingtalk.press("dt_wangwei", "同意", card=card).status_code == 200
    assert load(services, case_id).state == "approved"


def test_replayed_card_signature_with_another_body_is_refused(dingtalk, services, dt_api):
    case_id, card = care_card(services, dingtalk, dt_api)
    captured = dingtalk.card_headers()
    other = dingtalk.click("dt_liqiang", "zz:1", out_track_id("zz", "dt_liqiang"), headers=captured)
    assert other.status_code == 200
    resp = dingtalk.click("dt_wangwei", approve_key(card), card["outTrackId"], headers=captured)
    assert (resp.status_code, resp.data) == (403, b"replayed_signature")
    assert load(services, case_id).state != "approved"


def test_card_tokens_rotate(dingtalk, services):
    from bot.web.dingtalk import verifier

    verifier(services).card_tokens = ("new-token-2026", "old-token-2025")
    track = out_track_id("zz", "dt_zhangsan")
    for token in ("new-token-2026", "old-token-2025"):
        assert dingtalk.click("dt_zhangsan", "zz:1", track, token=token).status_code == 200
    # the token derived from the appSecret (the default) is no longer accepted once a list is set
    assert dingtalk.click("dt_zhangsan", "zz:1", track).status_code == 403
    # a token's apiSecret does not sign for another token
    resp = dingtalk.click("dt_zhangsan", "zz:1", track, token="new-token-2026", headers=dingtalk.card_headers("old-token-2025"))
    assert (resp.status_code, resp.data) == (403, b"bad_signature")


def test_out_track_id_tells_whom_the_card_was_delivered_to():
    for card_id in ("case12", "f_" + "x" * 80):
        track = out_track_id(card_id, "dt_wangwei")
        assert len(track) <= 64
        assert track_belongs_to(track, "dt_wangwei")
        assert not track_belongs_to(track, "dt_zhaomin")
    assert out_track_id("case12", "u") == out_track_id("case12", "u")
    assert not track_belongs_to("garbage", "dt_wangwei")


def test_access_log_never_prints_the_card_token_or_query_strings():
    import logging
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from bot.access_log import RedactingLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    log = RedactingLogger(cfg)
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    log.access_log.addHandler(handler)
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/dingtalk/card/callback/SECRETTOKEN123?a=1",
               "PATH_INFO": "/dingtalk/card/callback/SECRETTOKEN123", "QUERY_STRING": "a=1",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1",
               "HTTP_REFERER": "https://x/dashboard/login?token=LOGINTOKEN"}
    resp = SimpleNamespace(status="200 OK", sent=2, headers=[])
    log.access(resp, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=5))
    assert records and "/dingtalk/card/callback/" in records[0] and "POST" in records[0]
    assert "SECRETTOKEN123" not in records[0] and "LOGINTOKEN" not in records[0]
