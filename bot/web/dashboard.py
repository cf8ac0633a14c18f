"""/dashboard: server-rendered statistics for committee members and branch secretaries.

Login: the bot sends a signed one-time link (bot/dashboard_login.py) (`统计` command): an itsdangerous token holding the
person id and a random nonce, valid for security.login_link_ttl_seconds; the nonce is burnt in
Redis (SET NX) on first use, so a forwarded or replayed link is refused. The page then keeps a
signed cookie (same key, separate salt) for dashboard.session_hours. WeCom OAuth (optional,
dashboard.wecom_oauth: true) identifies the WeCom user instead of a link.

Access: every request asks models.policy (`stats.view` on the unit asked for). Everything shown
is rendered by Jinja with autoescaping, including unit names; talk notes are never shown at all.

Charts are inline SVG drawn by the templates from numbers computed here (no JavaScript chart
library, no CDN): the page works offline on an intranet, prints, is readable by tests, and
nothing executes in the browser.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import select

from models.enums import Role, UnitKind
from models.org import Person, Unit
from models.policy import can, scopes

from ..dashboard_login import LOGIN_SALT, SESSION_SALT, login_link, make_login_token, signing_key
from ..dashboard_login import serializer as _serializer

bp = Blueprint("dashboard", __name__)

COOKIE = "lx_dash"

__all__ = ["bp", "login_link", "make_login_token", "signing_key"]


# --- request helpers --------------------------------------------------------------------------

def _services():
    return current_app.extensions["lianxin"]


def _page(status: int, title: str, message: str):
    return make_response(render_template("dashboard_message.html", title=title, message=message), status)


def _current_person(db) -> Person | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    cfg = _services().config
    try:
        data = _serializer(cfg, SESSION_SALT).loads(raw, max_age=int(cfg.get("dashboard.session_hours", float) * 3600))
    except (BadSignature, SignatureExpired):
        return None
    person = db.get(Person, data.get("p"))
    return person if person is not None and person.active else None


def _start_session(person: Person, target: str):
    cfg = _services().config
    resp = redirect(target)
    resp.set_cookie(COOKIE, _serializer(cfg, SESSION_SALT).dumps({"p": person.id}),
                    max_age=int(cfg.get("dashboard.session_hours", float) * 3600), httponly=True,
                    samesite="Lax", secure=cfg.get("server.public_url", str).startswith("https://"))
    return resp


def _target(unit: str | None, quarter: str | None) -> str:
    params = {k: v for k, v in (("unit", unit), ("quarter", quarter)) if v}
    return url_for("dashboard.index", **params)


# --- login ------------------------------------------------------------------------------------

@bp.get("/dashboard/login")
def login():
    svc = _services()
    cfg = svc.config
    token = request.args.get("t", "")
    ttl = cfg.get("security.login_link_ttl_seconds", int)
    try:
        data = _serializer(cfg, LOGIN_SALT).loads(token, max_age=ttl)
    except SignatureExpired:
        return _page(403, "链接已过期", "登录链接已过期。请在连心中重新发送“统计”获取新链接。")
    except BadSignature:
        return _page(403, "链接无效", "登录链接无效。请在连心中发送“统计”获取登录链接。")
    nonce = str(data.get("n", ""))
    if not nonce or not svc.redis.set(f"dashboard:login:used:{nonce}", 1, nx=True, ex=ttl + 60):
        return _page(403, "链接已使用", "这个登录链接已经使用过了（每个链接只能使用一次）。请在连心中重新发送“统计”。")
    with svc.session_factory() as db:
        person = db.get(Person, data.get("p"))
        if person is None or not person.active or not can(person, "stats.view"):
            _audit(db, person, "denied")
            return _page(403, "无权访问", "抱歉，数据看板仅对党委委员和支部书记开放。")
        _audit(db, person, "ok")
        return _start_session(person, _target(request.args.get("unit"), request.args.get("quarter")))


def _audit(db, person: Person | None, outcome: str) -> None:
    from models.audit import audit

    audit(db, actor_id=person.id if person else None, action="login", target_type="dashboard", via="dashboard",
          outcome=outcome)
    db.commit()


@bp.get("/dashboard/logout")
def logout():
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
        return _start_session(person, url_for("dashboard.index"))


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
    from models.coverage import current_quarter, previous_quarter
    from models.stats import dashboard as dashboard_data

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


# --- chart geometry (the templates draw SVG from these numbers) ------------------------------

@dataclass
class Bar:
    label: str
    value: float          # 0..1 for rates, raw number otherwise
    text: str             # the label printed next to the bar, e.g. "75% (3/4)"
    width: float          # pixels
    y: float


def bars(items: list[tuple[str, float, str]], *, max_value: float | None = None, width: float = 420,
         row: float = 28) -> list[Bar]:
    top = max_value if max_value is not None else max([v for _, v, _ in items] + [1])
    return [Bar(label, v, text, round(width * (v / top if top else 0), 1), i * row)
            for i, (label, v, text) in enumerate(items)]


def _pct(n: int, d: int) -> str:
    return f"{n / d:.0%}（{n}/{d}）" if d else "—（0/0）"


def build_charts(data) -> dict:
    from models.talk import CATEGORY_LABELS, Category

    coverage = bars([(r.name, r.rate, _pct(r.talked, r.members)) for r in data.coverage_rows], max_value=1.0)
    quarters = list(data.trend)
    top = max([max(v.values()) for v in data.trend.values()] + [1])
    w, h = 420, 160
    step = w / max(len(quarters) - 1, 1)
    series = []
    for flag, label, color in (("watch", "关注", "#e0a800"), ("urgent", "紧急", "#c0392b")):
        points = [(round(i * step, 1), round(h - h * data.trend[q].get(flag, 0) / top, 1), q, data.trend[q].get(flag, 0))
                  for i, q in enumerate(quarters)]
        series.append({"flag": flag, "label": label, "color": color, "points": points,
                       "polyline": " ".join(f"{x},{y}" for x, y, _, _ in points)})
    categories = []
    for cat, levels in sorted(data.flags.items()):
        try:
            name = CATEGORY_LABELS[Category(cat)]
        except ValueError:
            name = cat
        categories.append((name, levels.get("watch", 0), levels.get("urgent", 0)))
    funnel_top = max([n for _, n in data.funnel] + [1])
    funnel = [{"label": label, "n": n, "width": round(420 * n / funnel_top, 1), "y": i * 30}
              for i, (label, n) in enumerate(data.funnel)]
    if data.participation:
        participation = bars([(label, (n / d if d else 0.0), _pct(n, d)) for label, n, d in data.participation],
                             max_value=1.0)
        participation_title = "活动参与率"
    else:
        participation = bars([(r.name, r.rate, _pct(r.studied, r.assigned)) for r in data.learning_rows],
                             max_value=1.0)
        participation_title = "学习完成率"
    return {"coverage": coverage, "trend": {"quarters": quarters, "series": series, "top": top, "w": w, "h": h,
                                            "step": step},
            "categories": categories, "funnel": funnel, "participation": participation,
            "participation_title": participation_title}
