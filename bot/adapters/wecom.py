"""WeCom callback crypto and parsing, with the checks wechatpy 1.8.18 does not make.

wechatpy supplies the AES scheme (PrpCrypto) and the signature function; this module adds what
PROTOCOLS.md §4 lists as missing: a body size cap and DOCTYPE refusal before any XML parse, a
timestamp window, a constant-time signature compare on bytes, every parse or decrypt error
mapped to a `CallbackRejected` (→ 4xx, never a 500), and the template_card_event parser.
"""
from __future__ import annotations

import base64
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.crypto import _get_signature
from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.exceptions import WeChatException

from ..messages import Incoming

__all__ = ["CallbackRejected", "WeComCrypto", "delivery_key", "parse_incoming", "text_reply_xml"]


class CallbackRejected(Exception):
    """The request is not a genuine, fresh, well-formed WeCom callback."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_ENVELOPE_LIST = ("SelectedItem", "OptionId", "OpitonId")


def _safe_parse(xml: bytes | str) -> dict[str, Any]:
    data = xml.encode("utf-8", "surrogateescape") if isinstance(xml, str) else xml
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        raise CallbackRejected(400, "dtd_forbidden")
    try:
        doc = xmltodict.parse(data, force_list=_ENVELOPE_LIST)  # entities disabled by default
    except (ExpatError, ValueError, TypeError, UnicodeError):
        raise CallbackRejected(400, "malformed_xml") from None
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise CallbackRejected(400, "no_xml_root")
    return root


@dataclass
class WeComCrypto:
    token: str
    encoding_aes_key: str
    corp_id: str
    tolerance: int = 300

    def __post_init__(self) -> None:
        self.key = base64.b64decode(self.encoding_aes_key + "=")
        if len(self.key) != 32:
            raise ValueError("encoding_aes_key must decode to 32 bytes")

    # checks ---------------------------------------------------------------------------------
    def _check_fresh(self, timestamp: str, now: float | None) -> None:
        try:
            ts = int(timestamp)
        except (TypeError, ValueError):
            raise CallbackRejected(403, "bad_timestamp") from None
        now = time.time() if now is None else now
        if abs(now - ts) > self.tolerance:
            raise CallbackRejected(403, "stale_timestamp")

    def _check_signature(self, signature: str, timestamp: str, nonce: str, payload: str) -> None:
        if not signature or not nonce:
            raise CallbackRejected(403, "missing_signature")
        expected = _get_signature(self.token, timestamp, nonce, payload)
        given = signature.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(expected.encode("ascii"), given):
            raise CallbackRejected(403, "bad_signature")

    def _decrypt(self, payload: str) -> str:
        try:
            return PrpCrypto(self.key).decrypt(payload, self.corp_id)
        except WeChatException:  # InvalidCorpIdException: encrypted for another corp
            raise CallbackRejected(403, "wrong_receiver") from None
        except Exception:  # binascii, struct, unicode, padding: garbage after a valid signature
            raise CallbackRejected(400, "undecryptable") from None

    # entry points ---------------------------------------------------------------------------
    def verify_url(self, signature: str, timestamp: str, nonce: str, echostr: str,
                   now: float | None = None) -> str:
        """GET URL verification: return the decrypted echostr."""
        if not echostr:
            raise CallbackRejected(400, "missing_echostr")
        self._check_fresh(timestamp, now)
        self._check_signature(signature, timestamp, nonce, echostr)
        return self._decrypt(echostr)

    def decrypt_callback(self, body: bytes, signature: str, timestamp: str, nonce: str,
                         now: float | None = None) -> dict[str, Any]:
        """POST: verify the envelope and return the decrypted inner message as a dict."""
        if not body:
            raise CallbackRejected(400, "empty_body")
        self._check_fresh(timestamp, now)
        envelope = _safe_parse(body)
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise CallbackRejected(400, "no_encrypt")
        self._check_signature(signature, timestamp, nonce, encrypted)
        plain = self._decrypt(encrypted)
        return _safe_parse(plain)

    def encrypt_reply(self, xml: str, nonce: str, timestamp: str | None = None) -> str:
        timestamp = timestamp or str(int(time.time()))
        encrypted = PrpCrypto(self.key).encrypt(xml, self.corp_id)
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
        signature = _get_signature(self.token, timestamp, nonce, encrypted)
        return (f"<xml>\n<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
                f"<TimeStamp>{timestamp}</TimeStamp>\n<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>")


def delivery_key(msg: dict[str, Any]) -> str:
    """MsgId for messages; FromUserName+CreateTime(+Event+EventKey+TaskId) for events."""
    if msg.get("MsgId"):
        return f"m{msg['MsgId']}"
    parts = [msg.get("FromUserName") or "", msg.get("CreateTime") or "", msg.get("Event") or "",
             msg.get("EventKey") or "", msg.get("TaskId") or ""]
    return "e" + "|".join(str(p) for p in parts)[:190]


def _created(msg: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(msg.get("CreateTime") or 0), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return datetime.now(UTC)


# WeCom MsgType → our kind of message we cannot read (the user is told what to send instead)
UNSUPPORTED_TYPES = {"image": "image", "voice": "voice", "video": "video", "file": "file",
                     "location": "location", "link": "link"}


def parse_incoming(msg: dict[str, Any]) -> Incoming | None:
    """Map a decrypted WeCom message to `Incoming`; None for what the bot ignores."""
    user = msg.get("FromUserName")
    if not isinstance(user, str) or not user:
        raise CallbackRejected(400, "no_sender")
    msg_type = (msg.get("MsgType") or "").lower()
    common = dict(platform="wecom", user_id=user, time=_created(msg), message_id=delivery_key(msg))
    if msg_type == "text":
        content = msg.get("Content")
        return Incoming(text=content if isinstance(content, str) else "", **common)
    if msg_type == "event":
        event = (msg.get("Event") or "").lower()
        if event == "template_card_event":
            key = msg.get("EventKey")
            if not isinstance(key, str) or not key:
                return None
            return Incoming(action=key, card_id=msg.get("TaskId") or None,
                            response_code=msg.get("ResponseCode") or None, **common)
        if event == "click":  # custom application menu (菜单) → same as typing the key
            key = msg.get("EventKey")
            return Incoming(text=key if isinstance(key, str) else "", **common)
        return None  # enter_agent, subscribe, location reports…: accepted and ignored
    if msg_type in UNSUPPORTED_TYPES:  # answered with what to send instead (handlers/common.py)
        media = msg.get("MediaId")
        return Incoming(unsupported=UNSUPPORTED_TYPES[msg_type], media_id=media if isinstance(media, str) else None,
                        **common)
    return None


def text_reply_xml(to_user: str, corp_id: str, content: str, now: int | None = None) -> str:
    """Plaintext passive text reply (before encryption)."""
    content = content.replace("]]>", "]]]]><![CDATA[>")
    return (f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName><FromUserName><![CDATA[{corp_id}]]></FromUserName>"
            f"<CreateTime>{now or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content></xml>")
