"""/dashboard: server-rendered statistics for committee members and branch secretaries.

Login: the bot sends a signed one-time link (bot/dashboard_login.py) (`统计` command): an itsdangerous token holding the
person id and a random nonce, valid for security.login_link_ttl_seconds, carried in the URL
fragment; the login page's script (static/dashboard_login.js) posts it, so it is never in a log.
The nonce is recorded in the database on first use, so a forwarded or replayed link is refused even
after a Redis restart. The cookie (signed, separate salt) holds a random session id whose row in
`dashboard_session` (models/websession.py) logout ends: a copied cookie dies with the logout.
WeCom OAuth (optional, dashboard.wecom_oauth: true) identifies the WeCom user instead of a link.
Every dashboard response says no-store, DENY framing and a CSP that allows only our own files.

Access: every request asks models.policy (`stats.view` on the unit asked for). Everything shown
is rendered by Jinja with autoescaping, including unit names; talk notes are never shown at all.

Charts are inline SVG drawn by the templates from numbers computed by reports.render.dashboard
(no JavaScript chart library, no CDN): the page works offline on an intranet, prints, is
readable by tests, and no script runs on it (the only script is the login page's, which posts the fragment).
"""
from __future__ import annotations

import secrets
from urllib.parse import quote

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import select

from models.enums import Role, UnitKind
from models.org import Person, Unit
from models.policy import can, scopes
from models.websession import end_session, find_session, spend_login_link, start_session

from ..dashboard_login import LOGIN_SALT, SESSION_SALT, login_link, make_login_token, signing_key
from ..dashboard_login import serializer as _serializer

bp = Blueprint("dashboard", __name__)

COOKIE = "lx_dash"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache", "X-Frame-Options": "DENY",
                    "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer",
                    "X-Content-Type-Options": "nosniff"}


@bp.after_request
def _security_headers(resp):
    """Every dashboard response: never cached, never framed, only our own scripts and styles."""
    resp.headers.update(SECURITY_HEADERS)
    return resp

__all__ = ["bp", "login_link", "make_login_token", "signing_key"]


# --- request helpers --------------------------------------------------------------------------

def _services():
    return current_app.extensions["lianxin"]


def _page(status: int, title: str, message: str):
    return make_response(render_template("dashboard_message.html", title=title, message=message), status)


def _session_hours() -> float:
    return _services().config.get("dashboard.session_hours", float)


def _session_id() -> str | None:
    """The session id from the signed cookie, or None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(_services().config, SESSION_SALT).loads(raw, max_age=int(_session_hours() * 3600))
    except (BadSignature, SignatureExpired):
        return None
    sid = data.get("s") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) else None


def _current_person(db) -> Person | None:
    sid = _session_id()
    row = find_session(db, sid, _services().clock.now()) if sid else None
    if row is None:
        return None
    person = db.get(Person, row.person_id)
    return person if person is not None and person.active else None


def _start_session(db, person: Person, target: str):
    cfg = _services().config
    sid = start_session(db, person.id, hours=_session_hours(), now=_services().clock.now())
    db.commit()
    resp = redirect(target, code=303 if request.method == "POST" else 302)
    resp.set_cookie(COOKIE, _serializer(cfg, SESSION_SALT).dumps({"s": sid}),
                    max_age=int(_session_hours() * 3600), httponly=True,
                    samesite="Lax", secure=cfg.get("server.public_url", str).startswith("https://"))
    return resp


def _target(unit: str | None, quarter: str | None) -> str:
    params = {k: v for k, v in (("unit", unit), ("quarter", quarter)) if v}
    return url_for("dashboard.index", **params)


# --- login ------------------------------------------------------------------------------------

@bp.get("/dashboard/login")
def login_page():
    """The page a login link opens: its script posts the token from the URL fragment."""
    return render_template("dashboard_login.html")


@bp.post("/dashboard/login")
def login():
    svc = _services()
    cfg = svc.config
    token = request.form.get("t", "")
    target = _target(request.form.get("unit"), request.form.get("quarter"))
    ttl = cfg.get("security.login_link_ttl_seconds", int)
    try:
        data = _serializer(cfg, LOGIN_SALT).loads(token, max_age=ttl)
    except SignatureExpired:
        return _page(403, "链接已过期", "登录链接已过期。请在连心中重新发送“统计”获取新链接。")
    except BadSignature:
        return _page(403, "链接无效", "登录链接无效。请在连心中发送“统计”获取登录链接。")
    nonce = str(data.get("n", ""))
    with svc.session_factory() as db:
        current = _current_person(db)
        if current is not None and current.id == data.get("p"):
            return redirect(target, code=303)      # the same link again in the browser already logged in
        if not nonce or not spend_login_link(db, nonce, ttl_seconds=ttl, now=svc.clock.now()):
            return _page(403, "链接已使用", "这个登录链接已经使用过了（每个链接只能使用一次）。请在连心中重新发送“统计”。")
        person = db.get(Person, data.get("p"))
        if person is None or not person.active or not can(person, "stats.view"):
            _audit(db, person, "denied")
            return _page(403, "无权访问", "抱歉，数据看板仅对党委委员和支部书记开放。")
        _audit(db, person, "ok")
        return _start_session(db, person, target)


def _audit(db, person: Person | None, outcome: str) -> None:
    from models.audit import audit

    audit(db, actor_id=person.id if person else None, action="login", target_type="dashboard", via="dashboard",
          outcome=outcome)
    db.commit()


@bp.route("/dashboard/logout", methods=["GET", "POST"])
def logout():
    """End the session on the server (a copy of the cookie stops working too), then drop the cookie."""
    sid = _session_id()
    if sid:
        with _services().session_factory() as db:
            if end_session(db, sid, _services().clock.now()):
                db.commit()
    resp = _page(200, "已退出", "您已退出数据看板。")
    resp.delete_cookie(COOKIE)
    return resp


@bp.get("/dashboard/oauth")
def oauth_start():
    """WeCom web login (OAuth2, snsapi_base) when configured: dashboard.wecom_oauth = true."""
    cfg = _services().config
    if not cfg.get("dashboard.wecom_oauth", bool):
        abort(404)
    redirect_uri = cfg.get("server.public_url", str).rstrip("/") + url_for("dashboard.oauth_callback")
    state = secrets.token_urlsafe(12)
    _services().redis.set(f"dashboard:oauth:{state}", 1, ex=600)
    url = ("https://open.weixin.qq.com/connect/oauth2/authorize?appid=" + quote(cfg.get("wecom.corp_id"))
           + "&redirect_uri=" + quote(redirect_uri, safe="") + "&response_type=code&scope=snsapi_base"
           + f"&state={state}&agentid={cfg.get('wecom.agent_id', int)}#wechat_redirect")
    return redirect(url)


@bp.get("/dashboard/oauth/callback")
def oauth_callback():
    svc = _services()
    cfg = svc.config
    if not cfg.get("dashboard.wecom_oauth", bool):
        abort(404)
    state = request.args.get("state", "")
    if not state or not svc.redis.delete(f"dashboard:oauth:{state}"):
        return _page(403, "登录失败", "登录请求已过期，请重新打开看板。")
    from bot.adapters.wecom_api import LianxinWeComClient

    client = LianxinWeComClient(cfg.get("wecom.corp_id"), cfg.get("wecom.secret"), cfg.get("wecom.agent_id", int),
                                svc.redis, timeout=cfg.get("wecom.http_timeout_seconds", float),
                                api_base=cfg.get("wecom.api_base", str) or None)
    try:
        info = client.get("auth/getuserinfo", params={"access_token": client.access_token,
                                                      "code": request.args.get("code", "")})
    except Exception:
        return _page(502, "登录失败", "暂时无法通过企业微信确认您的身份，请稍后再试，或在连心中发送“统计”获取登录链接。")
    userid = info.get("userid") or info.get("UserId")
    with svc.session_factory() as db:
        person = db.scalars(select(Person).where(Person.wecom_userid == userid)).first() if userid else None
        if person is None or not person.active or not can(person, "stats.view"):
            _audit(db, person, "denied")
            return _page(403, "无权访问", "抱歉，数据看板仅对党委委员和支部书记开放。")
        _audit(db, person, "ok")
        return _start_session(db, person, url_for("dashboard.index"))


# --- the page ---------------------------------------------------------------------------------

def _scope_units(db, person: Person) -> list[Unit]:
    """Units offered in the filter: the person's stats scopes and the committees/branches below them."""
    roots = [u for u in scopes(person, Role.COMMITTEE, Role.SECRETARY) if u.path]
    if not roots:
        return []
    from sqlalchemy import or_

    kinds = [UnitKind.COMMITTEE.value, UnitKind.GENERAL_BRANCH.value, UnitKind.BRANCH.value]
    units = db.scalars(select(Unit).where(or_(*[Unit.path.like(f"{r.path}%") for r in roots]),
                                          Unit.kind.in_(kinds), Unit.active.is_(True))
                       .order_by(Unit.full_name).limit(500)).all()
    return [u for u in units if can(person, "stats.view", u)]


@bp.get("/dashboard")
def index():
    from models.quarters import current_quarter, previous_quarter
    from reports.queries.summary import dashboard as dashboard_data
    from reports.render.dashboard import build_charts

    svc = _services()
    cfg = svc.config
    with svc.session_factory() as db:
        person = _current_person(db)
        if person is None:
            return _page(401, "请先登录", "请在连心中发送“统计”，点击机器人发来的看板链接登录。")
        if not can(person, "stats.view"):
            return _page(403, "无权访问", "抱歉，数据看板仅对党委委员和支部书记开放。")
        units = _scope_units(db, person)
        unit_arg = request.args.get("unit", "")
        if unit_arg:
            try:
                unit = db.get(Unit, int(unit_arg))
            except ValueError:
                unit = None
            if unit is None:
                return _page(404, "没有这个单位", "请求的单位不存在。")
        else:
            unit = units[0] if units else None
        if unit is None or not can(person, "stats.view", unit):
            from models.audit import audit

            audit(db, actor_id=person.id, action="authz_fail", target_type="Unit", target_id=unit_arg,
                  via="dashboard", outcome="denied", detail="stats.view")
            db.commit()
            return _page(403, "无权查看", "抱歉，您无权查看该单位的统计。")
        now_q = current_quarter(svc.clock.now(), cfg.timezone)
        quarters = [now_q]
        while len(quarters) < 8:
            quarters.append(previous_quarter(quarters[-1]))
        quarter = request.args.get("quarter", "") or now_q
        if quarter not in quarters:
            try:
                previous_quarter(quarter)
            except ValueError:
                return _page(400, "季度格式不对", "季度应写成 2026Q4 这样的格式。")
            quarters.append(quarter)
        data = dashboard_data(db, unit, quarter, now=svc.clock.now(), config=cfg)
        charts = build_charts(data)
        return render_template("dashboard.html", person=person, unit=unit, units=units, quarter=quarter,
                               quarters=quarters, data=data, charts=charts)
