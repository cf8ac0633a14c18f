"""A DingTalk-only deployment (WeCom disabled): people known only by their DingTalk id."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models.org import Person
from tests.dingtalk_helpers import DINGTALK_OVERRIDES


@pytest.fixture
def config_overrides():
    return {"delivery.platforms": ["dingtalk"], "wecom.enabled": False, "wecom.secret": "", **DINGTALK_OVERRIDES}


def test_dingtalk_only_deployment_serves_people_without_wecom_ids(services, client, dingtalk, dt_api):
    assert "wecom" not in services.senders and "dingtalk" in services.senders
    assert client.post("/wecom/callback", data=b"<xml/>").status_code in (403, 404, 400)
    with services.session_factory() as db:
        p = db.scalars(select(Person).where(Person.wecom_userid == "zhangsan")).one()
        p.wecom_userid = None
        db.commit()
    assert "张三" in dingtalk.say("dt_zhangsan", "我的信息")
