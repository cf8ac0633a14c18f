"""/dingtalk/callback (robot messages) and /dingtalk/card/callback/<token> (card buttons).

Thin like the WeCom blueprint: verify → parse → dispatcher → answer. The answer path:

* text replies to a message go back through the message's `sessionWebhook` (no token, ~90
  minutes, text only), right after the handler's transaction committed: the user sees the
  answer at once, as with WeCom's passive reply. If the webhook is missing, expired, not a
  DingTalk URL, or the call fails, the same text is put in the outbox and sent 1:1 with the
  robot batchSend API (retried, never lost once committed);
* cards (new ones and updates after a decision) and everything addressed to other people go
  through the outbox in the handler's own transaction (sessionWebhook cannot carry cards);
* card clicks carry no sessionWebhook: their text replies go through the outbox.

Group chats: only @-mentions reach a robot there and the bot handles personal, partly
confidential matters, so a group message is answered with a pointer to the 1:1 chat and is not
dispatched.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ..adapters.dingtalk import CallbackRejected, DingTalkVerifier, RobotMessage, parse_card_callback, parse_message
from ..messages import Text
from ..outbox import PermanentError, TransientError, enqueue
from ..replay import SignatureGuard
from .errors import ERROR_TEXT, dispatch

if TYPE_CHECKING:
    from bot.services import Services

    from ..adapters.dingtalk_sender import DingTalkSender

log = logging.getLogger("lianxin.dingtalk")

bp = Blueprint("dingtalk", __name__)

GROUP_TEXT = "为保护个人信息，连心只在单聊中办理事项。请点击机器人头像，发起单聊后再发送“帮助”。"


def _services() -> Services:
    services: Services = current_app.extensions["lianxin"]
    return services


def verifier(services: Services) -> DingTalkVerifier:
    v = services.dingtalk_verifier
    if v is None:
        c = services.config
        v = DingTalkVerifier(c.get("dingtalk.app_secret", str),
                             tolerance=c.get("dingtalk.timestamp_tolerance_seconds", int),
                             max_body_bytes=c.get("server.max_body_bytes", int),
                             corp_id=c.get("dingtalk.corp_id", str),
                             card_tokens=tuple(c.get("dingtalk.card_callback_tokens", list)))
        services.dingtalk_verifier = v
    return v


def signature_guard(services: Services) -> SignatureGuard:
    guard: SignatureGuard | None = services.dingtalk_signature_guard
    if guard is None:
        guard = SignatureGuard(services.redis, services.session_factory, verifier(services).tolerance)
        services.dingtalk_signature_guard = guard
    return guard


def _refuse_replay(services: Services, timestamp: str, signature: str, delivery: str) -> None:
    """403 when this (timestamp, sign) pair was seen before with another delivery (bot.replay)."""
    if not signature_guard(services).claim("dingtalk", timestamp, signature, delivery):
        raise CallbackRejected(403, "replayed_signature")


def _now(services: Services) -> float:
    return services.clock.now().timestamp()


def _reject(services: Services, exc: CallbackRejected) -> Response:
    if services.metrics:
        services.metrics.rejected.labels("dingtalk", exc.reason).inc()
    log.warning("dingtalk.rejected", extra={"reason": exc.reason, "remote": request.remote_addr})
    return Response(exc.reason, status=exc.status, mimetype="text/plain")


def session_webhook_usable(services: Services, msg: RobotMessage) -> bool:
    """A DingTalk https URL that has not expired (one minute of margin)."""
    url = msg.session_webhook
    if not url:
        return False
    parts = urlsplit(url)
    hosts = services.config.get("dingtalk.session_webhook_hosts", list)
    if parts.scheme != "https" or parts.hostname not in hosts or parts.port not in (None, 443) or parts.username:
        return False  # the signature does not cover the body: never let it point us elsewhere (SSRF)
    if msg.session_webhook_expires_ms is not None and msg.session_webhook_expires_ms - 60_000 < _now(services) * 1000:
        return False
    return True


def _enqueue_text(services: Services, user: str, text: str, ref: str) -> None:
    with services.session_factory() as db:
        enqueue(db, platform="dingtalk", recipients=[user], reply=Text(text), ref=ref[:80])
        db.commit()


def answer_text(services: Services, msg: RobotMessage | None, user: str, text: str, ref: str) -> str:
    """Send `text` to `user`: sessionWebhook when usable, else the outbox. Returns the path used."""
    sender = services.senders.get("dingtalk")
    if msg is not None and sender is not None and session_webhook_usable(services, msg):
        try:
            cast("DingTalkSender", sender).client.session_reply(msg.session_webhook or "", text,
                                                                at_user=user if msg.is_group else None)
            return "session_webhook"
        except (TransientError, PermanentError) as exc:
            log.warning("dingtalk.session_reply_failed", extra={"error": str(exc)[:120]})
    _enqueue_text(services, user, text, ref)
    return "outbox"


def handle_robot_message(services: Services, data: dict[str, Any]) -> tuple[int, str]:
    """Process one verified robot message body (HTTP mode; Stream mode can call it too)."""
    msg = parse_message(data)
    if msg.incoming is None:
        return 200, "ignored"
    user = msg.incoming.user_id
    ref = f"reply:{msg.incoming.message_id}"
    if msg.is_group:
        if services.dispatcher.deduper.claim("dingtalk", msg.incoming.message_id):
            _best_effort(services, msg, user, GROUP_TEXT, ref)
        return 200, "group"
    outcome, degraded = dispatch(services, msg.incoming, "dingtalk")
    if degraded:
        _best_effort(services, msg, user, ERROR_TEXT, ref)
        return 503, "degraded"
    if outcome is None:
        text = ERROR_TEXT
    elif outcome.duplicate or not outcome.replies:
        return 200, "duplicate" if outcome.duplicate else "no_reply"
    else:
        text = outcome.text
    return 200, answer_text(services, msg, user, text, ref)


def _best_effort(services: Services, msg: RobotMessage | None, user: str, text: str, ref: str) -> None:
    try:
        answer_text(services, msg, user, text, ref)
    except Exception as exc:  # storage is down too: nothing more we can do for this message
        log.error("dingtalk.answer_lost", extra={"error": type(exc).__name__})


def handle_card_callback(services: Services, data: dict[str, Any], delivery: str | None = None) -> tuple[int, str]:
    """Process one verified card callback body: the click becomes Incoming(action=key).

    `delivery`: the platform's id of this push (Stream frames have one; HTTP clicks do not, and
    get a key derived from the click itself), so that a re-push is refused by the dedupe."""
    incoming = parse_card_callback(data, now=services.clock.now())
    if incoming is None:
        return 200, "ignored"
    if delivery:
        incoming = replace(incoming, message_id=f"s{delivery}"[:190])
    outcome, degraded = dispatch(services, incoming, "dingtalk")
    if degraded:
        return 503, "degraded"
    if outcome is not None and (outcome.duplicate or not outcome.replies):
        return 200, "duplicate" if outcome.duplicate else "no_reply"
    text = ERROR_TEXT if outcome is None else outcome.text
    _best_effort(services, None, incoming.user_id, text, f"reply:{incoming.message_id}")
    return 200, "outbox"


def stream_robot_message(services: Services, data: dict[str, Any], delivery: str | None = None) -> tuple[int, str]:
    """A robot message pushed over the Stream connection (authenticated by the connection itself)."""
    try:
        verifier(services).check_corp(data.get("chatbotCorpId") or data.get("senderCorpId"))
        return handle_robot_message(services, data)
    except CallbackRejected as exc:
        log.warning("dingtalk.stream_rejected", extra={"reason": exc.reason})
        return exc.status, exc.reason


def stream_card_callback(services: Services, data: dict[str, Any], delivery: str | None = None) -> tuple[int, str]:
    """A card click pushed over the Stream connection; `delivery` is the frame's messageId."""
    try:
        verifier(services).check_corp(data.get("corpId"))
        return handle_card_callback(services, data, delivery)
    except CallbackRejected as exc:
        log.warning("dingtalk.stream_rejected", extra={"reason": exc.reason})
        return exc.status, exc.reason


@bp.post("/dingtalk/callback")
def receive() -> ResponseReturnValue:
    services = _services()
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug answers 413 first
    v = verifier(services)
    timestamp, signature = request.headers.get("timestamp"), request.headers.get("sign")
    try:
        v.check_headers(timestamp, signature, _now(services))
        data = v.body(raw)
        v.check_corp(data.get("chatbotCorpId") or data.get("senderCorpId"))
        _refuse_replay(services, timestamp or "", signature or "", str(data.get("msgId") or ""))   # checked above
        status, outcome = handle_robot_message(services, data)
    except CallbackRejected as exc:
        return _reject(services, exc)
    return jsonify(status=outcome), status


@bp.post("/dingtalk/card/callback/<token>")
def card_callback(token: str) -> ResponseReturnValue:
    services = _services()
    raw = request.get_data(cache=False)
    v = verifier(services)
    timestamp, signature = request.headers.get("timestamp"), request.headers.get("sign")
    try:
        accepted = v.check_token(token)
        v.check_card_headers(accepted, timestamp, signature, _now(services))
        data = v.body(raw)
        v.check_corp(data.get("corpId"))
        _refuse_replay(services, timestamp or "", signature or "", "card:" + hashlib.sha256(raw).hexdigest()[:40])
        status, outcome = handle_card_callback(services, data)
    except CallbackRejected as exc:
        return _reject(services, exc)
    return jsonify({}) if status == 200 else (jsonify(status=outcome), status)


@bp.errorhandler(413)
def too_large(_exc: Exception) -> Response:
    return Response("body too large", status=413, mimetype="text/plain")
