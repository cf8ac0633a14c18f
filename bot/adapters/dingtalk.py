"""DingTalk robot callbacks: signature check and JSON → `Incoming`. Pure: no I/O, no clock.

Two inbound requests reach us in HTTP mode (PROTOCOLS.md §5.1, §5.2):

* the enterprise internal robot's message callback (POST /dingtalk/callback), signed with the
  `timestamp` (ms) and `sign` headers: sign = base64(HMAC-SHA256(key=appSecret,
  msg=f"{timestamp}\\n{appSecret}")); DingTalk calls a timestamp more than one hour off illegal.
* the interactive card "回传请求" callback (POST /dingtalk/card/callback/<token>), which
  DingTalk sends to the URL we registered for our callbackRouteKey together with an apiSecret
  ("加密密钥用于校验来源", POST /v1.0/card/callbacks/register). Three checks, all required:
  the path token is one of the accepted ones (dingtalk.card_callback_tokens, rotatable; the
  path is kept out of access logs by bot.access_log); the `timestamp`/`sign` headers are
  DingTalk's robot signature made with that token's apiSecret (`card_api_secret`, derived
  from the appSecret and the token, so a leaked URL does not give it away); and the clicked
  card instance (outTrackId) was delivered to the clicking user (`track_belongs_to`).
  Source and caveat: the register API documents apiSecret as the key "用于校验来源" (TOP request
  OapiImChatScencegroupInteractivecardCallbackRegisterRequest; DingTalk developer Q&A), but no
  source we found publishes the header algorithm of card callbacks; we expect the robot
  callback's (`timestamp`, `sign` = HMAC-SHA256 keyed with the apiSecret). Confirm on a real
  tenant before relying on HTTP card callbacks; Stream mode does not depend on it.

The signature covers the timestamp only, not the body: bot.replay accepts each (timestamp, sign)
pair once, bound to the first delivery; the msgId dedupe (Redis + database) answers a repeated
delivery once; the corp id in the body is checked when configured.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..messages import Incoming

__all__ = [
    "DEFAULT_TOLERANCE",
    "CallbackRejected",
    "DingTalkVerifier",
    "RobotMessage",
    "card_api_secret",
    "card_callback_key",
    "card_callback_token",
    "load_json",
    "out_track_id",
    "parse_card_callback",
    "parse_message",
    "sign",
    "track_belongs_to",
]


CLICK_WINDOW_SECONDS = 10
# DingTalk calls a timestamp more than 1 hour off illegal; we accept 5 minutes. The callback is
# signed when DingTalk sends it and arrives within seconds, NTP keeps both clocks within a
# second, and a repeat of the same delivery with its old timestamp is the only late arrival we
# could refuse wrongly (none is documented for robot callbacks). The window bounds how long a
# captured pair must be remembered (bot.replay) and how long a leaked one is worth anything.
DEFAULT_TOLERANCE = 300


class CallbackRejected(Exception):
    """The request is not a genuine, fresh, well-formed DingTalk callback."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(timestamp: str, app_secret: str) -> str:
    """DingTalk's robot callback signature for `timestamp` (milliseconds, as sent)."""
    digest = hmac.new(app_secret.encode("utf-8"), f"{timestamp}\n{app_secret}".encode(),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def card_callback_token(app_secret: str) -> str:
    """The default secret path segment of our card callback URL, when no token is configured."""
    digest = hmac.new(app_secret.encode("utf-8"), b"lianxin:dingtalk:card-callback", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:32]


def card_api_secret(app_secret: str, token: str) -> str:
    """The apiSecret registered with the card callback URL that carries `token`; DingTalk signs
    the card callbacks with it. Derived from the appSecret too, so the URL alone does not give it."""
    digest = hmac.new(app_secret.encode("utf-8"), f"lianxin:dingtalk:card-api-secret:{token}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:32]


def out_track_id(card_id: str, user: str) -> str:
    """One card instance per recipient: `<card id>_<16 hex of sha256(card id|user)>`, ≤ 64
    characters. A card id longer than 47 is shortened to 30 characters + a digest of the whole,
    so that the instance id alone tells whom it was delivered to (`track_belongs_to`)."""
    if len(card_id) > 47:
        card_id = f"{card_id[:30]}~{hashlib.sha256(card_id.encode()).hexdigest()[:16]}"
    digest = hashlib.sha256(f"{card_id}|{user}".encode()).hexdigest()[:16]
    return f"{card_id}_{digest}"


def track_belongs_to(track: str, user: str) -> bool:
    """Was the card instance `track` (an outTrackId made by `out_track_id`) delivered to `user`?"""
    card_id, sep, digest = track.rpartition("_")
    if not sep or not card_id or len(card_id) > 47 or len(digest) != 16:
        return False
    expected = hashlib.sha256(f"{card_id}|{user}".encode()).hexdigest()[:16]
    return hmac.compare_digest(expected, digest)


@dataclass
class DingTalkVerifier:
    app_secret: str
    tolerance: int = DEFAULT_TOLERANCE  # seconds; DingTalk's own limit is 1 hour ("1小时以上" illegal)
    max_body_bytes: int = 65536
    corp_id: str = ""                # when set, chatbotCorpId/corpId must match

    def __post_init__(self) -> None:
        if not self.app_secret:
            raise ValueError("dingtalk.app_secret is empty")

    def check_headers(self, timestamp: str | None, signature: str | None, now: float) -> None:
        """403 unless `sign` matches `timestamp` and the timestamp is within the tolerance."""
        if not timestamp or not signature:
            raise CallbackRejected(403, "missing_signature")
        try:
            ts_ms = int(timestamp)
        except (TypeError, ValueError):
            raise CallbackRejected(403, "bad_timestamp") from None
        if abs(now * 1000 - ts_ms) > self.tolerance * 1000:
            raise CallbackRejected(403, "stale_timestamp")
        expected = sign(timestamp, self.app_secret).encode("ascii")
        if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape")):
            raise CallbackRejected(403, "bad_signature")

    card_tokens: tuple[str, ...] = ()   # accepted card callback path tokens, newest first

    def accepted_tokens(self) -> tuple[str, ...]:
        return self.card_tokens or (card_callback_token(self.app_secret),)

    def check_token(self, token: str | None) -> str:
        """The accepted token equal to `token` (compared in constant time); else 403."""
        given = (token or "").encode("utf-8", "surrogateescape")
        found = ""
        for accepted in self.accepted_tokens():
            if hmac.compare_digest(accepted.encode("utf-8"), given):
                found = accepted
        if not token or not found:
            raise CallbackRejected(403, "bad_token")
        return found

    def check_card_headers(self, token: str, timestamp: str | None, signature: str | None, now: float) -> None:
        """403 unless the card callback carries DingTalk's signature made with this token's apiSecret."""
        DingTalkVerifier(card_api_secret(self.app_secret, token), tolerance=self.tolerance).check_headers(
            timestamp, signature, now)

    def check_corp(self, corp_id: Any) -> None:
        if self.corp_id and corp_id != self.corp_id:
            raise CallbackRejected(403, "wrong_corp")

    def body(self, raw: bytes) -> dict[str, Any]:
        if len(raw) > self.max_body_bytes:
            raise CallbackRejected(413, "body_too_large")
        return load_json(raw)


def load_json(raw: bytes | str) -> dict[str, Any]:
    """Malformed JSON or a non-object → 400 (never a 500)."""
    if not raw:
        raise CallbackRejected(400, "empty_body")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CallbackRejected(400, "malformed_json") from None
    if not isinstance(data, dict):
        raise CallbackRejected(400, "not_an_object")
    return data


@dataclass(frozen=True)
class RobotMessage:
    """What the web layer needs besides `Incoming`: where and how to answer."""

    incoming: Incoming | None        # never None since unreadable messages are answered (kept for callers)
    session_webhook: str | None
    session_webhook_expires_ms: int | None
    is_group: bool
    conversation_id: str | None


def _ms_to_dt(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def parse_message(data: Mapping[str, Any]) -> RobotMessage:
    """Map the robot message callback body to `Incoming` (text; other types as `unsupported`)."""
    user = data.get("senderStaffId")
    if not isinstance(user, str) or not user:
        # senderId is an encrypted id, not our user id: without a staff id we cannot identify anyone
        raise CallbackRejected(400, "no_sender")
    msg_id = data.get("msgId")
    if not isinstance(msg_id, str) or not msg_id:
        raise CallbackRejected(400, "no_msg_id")
    conv_type = str(data.get("conversationType") or "1")
    is_group = conv_type == "2"
    webhook = data.get("sessionWebhook") if isinstance(data.get("sessionWebhook"), str) else None
    try:
        expires = int(data["sessionWebhookExpiredTime"]) if data.get("sessionWebhookExpiredTime") else None
    except (TypeError, ValueError):
        expires = None
    common = dict(platform="dingtalk", user_id=user, time=_ms_to_dt(data.get("createAt")),
                  message_id=f"m{msg_id}"[:190], chat_type="group" if is_group else "single")
    msgtype = data.get("msgtype") or "text"
    if msgtype == "text":
        text = data.get("text")
        content = text.get("content") if isinstance(text, dict) else None
        incoming = Incoming(text=(content if isinstance(content, str) else "").strip(), **common)
    else:
        incoming = _unsupported_or_rich_text(msgtype, data.get("content"), common)
    conv = data.get("conversationId")
    return RobotMessage(incoming=incoming, session_webhook=webhook, session_webhook_expires_ms=expires,
                        is_group=is_group, conversation_id=conv if isinstance(conv, str) else None)


# DingTalk msgtype → our kind of message we cannot read (the user is told what to send instead)
UNSUPPORTED_TYPES = {"picture": "image", "audio": "voice", "video": "video", "file": "file"}


def _unsupported_or_rich_text(msgtype: Any, content: Any, common: dict[str, Any]) -> Incoming:
    """A richText with text in it is read as that text; anything else becomes `unsupported`."""
    content = content if isinstance(content, dict) else {}
    media = content.get("downloadCode") or content.get("pictureDownloadCode")
    if msgtype == "richText":
        parts = content.get("richText") if isinstance(content.get("richText"), list) else []
        text = "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)).strip()
        if text:
            return Incoming(text=text, **common)
        media = next((p.get("downloadCode") for p in parts if isinstance(p, dict) and p.get("downloadCode")), None)
        return Incoming(unsupported="image", media_id=media if isinstance(media, str) else None, **common)
    kind = UNSUPPORTED_TYPES.get(msgtype if isinstance(msgtype, str) else "", "other")
    return Incoming(unsupported=kind, media_id=media if isinstance(media, str) else None, **common)


def _json_field(value: Any) -> dict[str, Any]:
    """`content`/`value` arrive as JSON strings (sometimes already decoded)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            decoded = json.loads(value)
        except ValueError:
            raise CallbackRejected(400, "malformed_content") from None
        return decoded if isinstance(decoded, dict) else {}
    return {}


def card_callback_key(data: Mapping[str, Any]) -> str | None:
    """The button key of a card callback: params.key (our template), else params.action, else actionIds[0]."""
    content = _json_field(data.get("content")) or _json_field(data.get("value"))
    private = content.get("cardPrivateData") if isinstance(content.get("cardPrivateData"), dict) else {}
    params = private.get("params") if isinstance(private.get("params"), dict) else {}
    for name in ("key", "action"):
        value = params.get(name)
        if isinstance(value, str) and value:
            return value
    ids = private.get("actionIds")
    if isinstance(ids, list) and ids and isinstance(ids[0], str) and ids[0]:
        return ids[0]
    return None


def parse_card_callback(data: Mapping[str, Any], now: datetime | None = None) -> Incoming | None:
    """Map an interactive card callback (type actionCallback) to `Incoming(action=key)`.

    `response_code` carries the clicked instance's outTrackId: the dispatcher copies it onto
    the "update_card" outbox row, and the DingTalk sender updates exactly that instance.
    """
    user = data.get("userId")
    track = data.get("outTrackId")
    if not isinstance(user, str) or not user or not isinstance(track, str) or not track:
        raise CallbackRejected(400, "no_user_or_card")
    if (data.get("type") or "actionCallback") != "actionCallback":
        return None
    if not track_belongs_to(track, user):
        # the instance was delivered to someone else (forwarded, or a forged body)
        raise CallbackRejected(403, "not_the_recipient")
    key = card_callback_key(data)
    if key is None:
        return None
    now = now or datetime.now(UTC)
    # The callback carries no delivery id: a repeat of the same click on the same instance within
    # the same 10-second window is one delivery (platform retry, double tap); a later tap is a new
    # event, answered by the handler as WeCom's is ("无需重复报名"), which is idempotent anyway.
    raw = json.dumps(data.get("content") or data.get("value") or "", ensure_ascii=False, sort_keys=True)
    window = int(now.timestamp()) // CLICK_WINDOW_SECONDS
    digest = hashlib.sha256(f"{track}|{user}|{key}|{raw}|{window}".encode()).hexdigest()[:48]
    return Incoming(platform="dingtalk", user_id=user, time=now, message_id="c" + digest, action=key,
                    card_id=track, response_code=track)
