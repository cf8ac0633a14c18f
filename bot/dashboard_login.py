"""Signed one-time dashboard login links: made by the bot (`统计`), checked by /dashboard/login.

Kept outside bot/web so that handlers can make a link without reaching web code. The token is
an itsdangerous URLSafeTimedSerializer dump of {"p": person id, "n": random nonce}; its age is
checked against security.login_link_ttl_seconds and the nonce is recorded in the database on
first use (bot/web/dashboard.py, models/websession.py). The token travels in the URL fragment
(`/dashboard/login#t=…`): browsers never send a fragment to the server, so it cannot appear in an
access log, a proxy log or a Referer; the login page's script posts it.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from urllib.parse import urlencode

from itsdangerous import URLSafeTimedSerializer

__all__ = ["LOGIN_SALT", "SESSION_SALT", "login_link", "make_login_token", "serializer", "signing_key"]

LOGIN_SALT = "lianxin-dashboard-login"
SESSION_SALT = "lianxin-dashboard-session"
_PROCESS_KEY = secrets.token_hex(32)


def signing_key(config) -> str:
    """The key for login links and the dashboard cookie.

    The bot (which makes links) and the web workers (which check them) must share it: set the
    environment variable named by security.dashboard_secret_env (LIANXIN_SECRET_KEY). Without it,
    a key derived from the notes keys (LIANXIN_NOTES_KEYS, present in every process) is used, and
    as a last resort a per-process key (single-process demo and tests only).
    """
    env_name = config.get("security.dashboard_secret_env", str)
    if os.environ.get(env_name):
        return os.environ[env_name]
    notes = os.environ.get(config.get("security.notes_keys_env", str), "")
    if notes:
        return hmac.new(notes.split(",")[0].strip().encode(), b"lianxin dashboard v1", hashlib.sha256).hexdigest()
    return _PROCESS_KEY


def serializer(config, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_key(config), salt=salt)


def make_login_token(config, person_id: int) -> str:
    return serializer(config, LOGIN_SALT).dumps({"p": person_id, "n": uuid.uuid4().hex})


def login_link(config, person_id: int, *, unit_id: int | None = None, quarter: str | None = None) -> str:
    """A one-time dashboard link for `person_id` (the access policy is asked again when it is used)."""
    base = config.get("server.public_url", str).rstrip("/")
    params = {"t": make_login_token(config, person_id)}
    if unit_id:
        params["unit"] = str(unit_id)
    if quarter:
        params["quarter"] = quarter
    return f"{base}/dashboard/login#{urlencode(params)}"
