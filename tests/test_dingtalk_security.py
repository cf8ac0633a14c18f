"""The two ways into DingTalk callbacks found in issue 16, reproduced and refused.

1. A captured robot-callback `timestamp`/`sign` pair replayed with another body (the admin's id,
   "授权 张三 党委委员 …"): refused, the pair being bound to the first msgId (bot.replay), in
   Redis and, when Redis lost it, in the database.
2. Card clicks on /dingtalk/card/callback/<token>: tests in the second half of this file.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models.org import Person, RoleAssignment
from tests.dingtalk_helpers import DINGTALK_OVERRIDES, dingtalk, dt_api, message_body  # noqa: F401

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
    # the same body, signed by DingTalk itself (fresh headers), is what the admin may do
    assert dingtalk.post(forged).status_code == 200
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
