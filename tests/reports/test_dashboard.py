"""Dashboard over the Flask test client: one-time login links, scope by the policy, escaping."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.web.dashboard import login_link, make_login_token
from models.db import session_scope
from models.org import Unit
from tests.helpers import dashboard_login, person_id


def _unit_id(services, name):
    with services.session_factory() as db:
        return db.scalars(select(Unit.id).where(Unit.name == name)).one()


def test_link_logs_in_once_and_shows_scope(seeded, client):
    link = login_link(seeded.config, person_id(seeded, "liqiang"))
    assert link.startswith("http://127.0.0.1:8080/dashboard/login#t=")
    resp = dashboard_login(client, link)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/dashboard")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "外航维修党支部 · 2026Q4" in page
    assert 'data-label="四车间班组" data-text="50%（3/6）"' in page
    assert 'data-label="五车间班组" data-text="20%（1/5）"' in page
    assert "秘密纪要" not in page and "<script>" not in page        # notes never shown
    # the same link again: refused, even in a fresh browser
    client.delete_cookie("lx_dash")
    again = dashboard_login(client, link)
    assert again.status_code == 403 and "已经使用过" in again.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 401


def test_bad_expired_and_unauthorised_links(seeded, client, monkeypatch):
    assert client.post("/dashboard/login", data={"t": "forged"}).status_code == 403
    token = make_login_token(seeded.config, person_id(seeded, "wangwei"))
    import time as _time

    import itsdangerous.timed as timed

    real = _time.time
    monkeypatch.setattr(timed.time, "time", lambda: real() + 901)
    resp = client.post("/dashboard/login", data={"t": token})
    monkeypatch.undo()
    assert resp.status_code == 403 and "已过期" in resp.get_data(as_text=True)
    resp = dashboard_login(client, login_link(seeded.config, person_id(seeded, "zhangsan")))
    assert resp.status_code == 403 and "仅对党委委员和支部书记开放" in resp.get_data(as_text=True)


def test_scope_enforced_by_policy(seeded, client):
    dashboard_login(client, login_link(seeded.config, person_id(seeded, "liqiang")))
    b = _unit_id(seeded, "附件修理党支部")
    resp = client.get(f"/dashboard?unit={b}")
    assert resp.status_code == 403 and "无权查看" in resp.get_data(as_text=True)
    c = _unit_id(seeded, "技术公司党委")
    assert client.get(f"/dashboard?unit={c}").status_code == 403
    # the committee sees the subtree and may pick a branch and a quarter
    client.delete_cookie("lx_dash")
    dashboard_login(client, login_link(seeded.config, person_id(seeded, "wangwei")))
    page = client.get("/dashboard").get_data(as_text=True)
    assert "技术公司党委 · 2026Q4" in page and 'data-label="外航维修党支部" data-text="36%（4/11）"' in page
    page = client.get(f"/dashboard?unit={b}&quarter=2026Q3").get_data(as_text=True)
    assert "附件修理党支部 · 2026Q3" in page
    assert client.get("/dashboard?quarter=2026Q9").status_code == 400


def test_everything_is_escaped(seeded, client):
    with session_scope(seeded.session_factory) as db:
        team = db.scalars(select(Unit).where(Unit.name == "四车间班组")).one()
        team.name = "<img src=x onerror=alert(1)>"
    dashboard_login(client, login_link(seeded.config, person_id(seeded, "liqiang")))
    page = client.get("/dashboard").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_stats_chat_link_works(seeded, sim, client):
    text = sim.say("wangwei", "统计").text
    link = text.split("\n")[-1]
    assert dashboard_login(client, link).status_code == 303
    assert "技术公司党委 · 2026Q4" in client.get("/dashboard").get_data(as_text=True)


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
@pytest.mark.parametrize("config_overrides", [{"dashboard.wecom_oauth": True}])
def test_wecom_oauth_login(seeded, client):
    import responses

    from tests.helpers import API, FakeWeComAPI

    resp = client.get("/dashboard/oauth")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("https://open.weixin.qq.com/connect/oauth2/authorize?appid=")
    state = resp.headers["Location"].split("state=")[1].split("&")[0]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        FakeWeComAPI(rsps)
        rsps.add(responses.GET, API + "auth/getuserinfo", json={"errcode": 0, "errmsg": "ok", "userid": "chenjing"})
        resp = client.get(f"/dashboard/oauth/callback?code=CODE&state={state}")
        assert resp.status_code == 302
        page = client.get("/dashboard").get_data(as_text=True)
        assert "附件修理党支部 · 2026Q4" in page
        # the state is single use
        assert client.get(f"/dashboard/oauth/callback?code=CODE&state={state}").status_code == 403


def test_oauth_is_off_unless_configured(seeded, client):
    assert client.get("/dashboard/oauth").status_code == 404
