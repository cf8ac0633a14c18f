"""/wecom/callback: GET URL verification, POST encrypted messages and events.

Thin on purpose: verify → parse → dispatcher → passive reply. Nothing here calls the WeCom
API (the request path must answer well inside WeCom's 5 s window); cards and messages to
others go through the outbox.
"""
from __future__ import annotations

import logging
import secrets

from flask import Blueprint, Response, current_app, request

from ..adapters.wecom import CallbackRejected, WeComCrypto, parse_incoming, text_reply_xml
from .errors import ERROR_TEXT, dispatch, unavailable

log = logging.getLogger("lianxin.wecom")

bp = Blueprint("wecom", __name__)


def _crypto() -> WeComCrypto:
    services = current_app.extensions["lianxin"]
    crypto = services.wecom_crypto
    if crypto is None:
        c = services.config
        crypto = WeComCrypto(c.get("wecom.token"), c.get("wecom.encoding_aes_key"), c.get("wecom.corp_id"),
                             tolerance=c.get("wecom.timestamp_tolerance_seconds", int))
        services.wecom_crypto = crypto
    return crypto


def _now() -> float:
    clock = current_app.extensions["lianxin"].clock
    return clock.now().timestamp()


def _reject(exc: CallbackRejected) -> Response:
    services = current_app.extensions["lianxin"]
    if services.metrics:
        services.metrics.rejected.labels("wecom", exc.reason).inc()
    log.warning("wecom.rejected", extra={"reason": exc.reason, "remote": request.remote_addr})
    return Response(exc.reason, status=exc.status, mimetype="text/plain")


@bp.get("/wecom/callback")
def verify_url():
    a = request.args
    try:
        echo = _crypto().verify_url(a.get("msg_signature", ""), a.get("timestamp", ""), a.get("nonce", ""),
                                    a.get("echostr", ""), now=_now())
    except CallbackRejected as exc:
        return _reject(exc)
    return Response(echo, mimetype="text/plain")  # no quotes, no BOM, no newline


@bp.post("/wecom/callback")
def receive():
    a = request.args
    services = current_app.extensions["lianxin"]
    body = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug answers 413 first
    crypto = _crypto()
    try:
        msg = crypto.decrypt_callback(body, a.get("msg_signature", ""), a.get("timestamp", ""),
                                      a.get("nonce", ""), now=_now())
        incoming = parse_incoming(msg)
    except CallbackRejected as exc:
        return _reject(exc)
    if incoming is None:
        return Response("", status=200)  # events we do not use: accepted, ignored
    outcome, degraded = dispatch(services, incoming, "wecom")
    if degraded:
        return unavailable()
    if outcome is None:
        text = ERROR_TEXT
    elif outcome.duplicate or not outcome.replies:
        return Response("", status=200)
    else:
        text = outcome.text
    reply = text_reply_xml(incoming.user_id, crypto.corp_id, text, int(_now()))
    nonce = a.get("nonce") or secrets.token_hex(8)
    return Response(crypto.encrypt_reply(reply, nonce, str(int(_now()))), mimetype="application/xml")


@bp.errorhandler(413)
def too_large(_exc):
    return Response("body too large", status=413, mimetype="text/plain")
