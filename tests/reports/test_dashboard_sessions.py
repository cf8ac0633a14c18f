"""Dashboard sessions (issue 16): logout ends the session on the server, a login link stays spent
after a Redis restart, security headers on every response, the token never in a URL the server
sees; and (issue 15) the same link again in the browser that is logged in shows the dashboard."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import func, select

from bot.dashboard_login import SESSION_SALT, serializer
from bot.web.dashboard import login_link
from models.websession import DashboardSession, SpentLoginLink
from tests.helpers import dashboard_login, person_id


def _cookie(client) -> str:
    return client.get_cookie("lx_dash").value


def test_logout_ends_the_session_on_the_server(seeded, client, app):
    dashboard_login(client, login_link(seeded.config, person_id(seeded, "liqiang")))
    stolen = _cookie(client)                                   # e.g. copied from the browser profile
    assert client.get("/dashboard").status_code == 200
    assert "已退出" in client.get("/dashboard/logout").get_data(as_text=True)
    other = app.test_client()
    other.set_cookie("lx_dash", stolen)
    resp = other.get("/dashboard")
    assert resp.status_code == 401 and "请先登录" in resp.get_data(as_text=True)
    with seeded.session_factory() as db:
        [row] = db.scalars(select(DashboardSession)).all()
    assert row.ended_at is not None and len(row.id_hash) == 64 and row.id_hash not in stolen


def test_a_signed_person_id_alone_is_no_session(seeded, app):
    forged = serializer(seeded.config, SESSION_SALT).dumps({"p": person_id(seeded, "wangwei")})
    c = app.test_client()
    c.set_cookie("lx_dash", forged)
    assert c.get("/dashboard").status_code == 401


def test_sessions_expire_by_the_servers_clock(seeded, client, clock):
    dashboard_login(client, login_link(seeded.config, person_id(seeded, "liqiang")))
    clock.advance(hours=7, minutes=59)
    assert client.get("/dashboard").status_code == 200
    clock.advance(minutes=2)                                   # dashboard.session_hours = 8
    assert client.get("/dashboard").status_code == 401


def test_a_used_link_stays_used_after_redis_loses_everything(seeded, client, app):
    link = login_link(seeded.config, person_id(seeded, "liqiang"))
    assert dashboard_login(client, link).status_code == 303
    seeded.redis.flushdb()     # a Redis restart without persistence (flushdb: other test processes share the server)
    again = dashboard_login(app.test_client(), link)
    assert again.status_code == 403 and "已经使用过" in again.get_data(as_text=True)
    with seeded.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(SpentLoginLink)) == 1


def test_the_same_link_again_in_the_logged_in_browser_shows_the_dashboard(seeded, client, app):
    link = login_link(seeded.config, person_id(seeded, "liqiang"), quarter="2026Q3")
    assert dashboard_login(client, link).status_code == 303
    resp = dashboard_login(client, link)                       # issue 15: tapped again in the same browser
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/dashboard?quarter=2026Q3")
    assert "外航维修党支部 · 2026Q3" in client.get(resp.headers["Location"]).get_data(as_text=True)
    # someone else's browser, even one logged in as another person, is refused
    other = app.test_client()
    dashboard_login(other, login_link(seeded.config, person_id(seeded, "wangwei")))
    assert dashboard_login(other, link).status_code == 403
    with seeded.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(DashboardSession)) == 2


def test_the_token_is_never_in_a_url_the_server_receives(seeded, client):
    link = login_link(seeded.config, person_id(seeded, "liqiang"), unit_id=3, quarter="2026Q4")
    parts = urlsplit(link)
    token = dict(parse_qsl(parts.fragment))["t"]
    assert parts.query == "" and token not in parts.path and len(token) > 40
    # a link rebuilt with the token in the query string (as before) does not log anyone in
    resp = client.get(f"{parts.path}?{parts.fragment}")
    assert resp.status_code == 200 and "正在登录" in resp.get_data(as_text=True)
    assert client.get_cookie("lx_dash") is None and client.get("/dashboard").status_code == 401


def test_security_headers_on_every_dashboard_response(seeded, client):
    link = login_link(seeded.config, person_id(seeded, "liqiang"))
    responses = [client.get("/dashboard"), client.get("/dashboard/login"),
                 client.post("/dashboard/login", data={"t": "forged"})]
    responses.append(dashboard_login(client, link))
    responses += [client.get("/dashboard"), client.get("/dashboard?unit=999999"), client.get("/dashboard/logout")]
    assert [r.status_code for r in responses] == [401, 200, 403, 303, 200, 404, 200]
    for r in responses:
        assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Frame-Options"] == "DENY"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_expired_spent_links_and_sessions_are_cleaned_up(seeded, client, clock, app):
    dashboard_login(client, login_link(seeded.config, person_id(seeded, "liqiang")))
    clock.advance(hours=9)
    dashboard_login(app.test_client(), login_link(seeded.config, person_id(seeded, "wangwei")))
    with seeded.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(DashboardSession)) == 1
        assert db.scalar(select(func.count()).select_from(SpentLoginLink)) == 1
