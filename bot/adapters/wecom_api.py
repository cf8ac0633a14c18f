"""WeCom server API: access token shared through Redis, message/send and update_template_card.

wechatpy's WeChatClient does the HTTP and error decoding; this module fixes what PROTOCOLS.md
§4 flags: auto_retry off (it recurses without bound on 42001), a token key that does not embed
part of the secret, single-flight token refresh across workers (Redis lock), timeouts on every
call, and errcodes classified for the outbox (refresh / back off / give up).
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import redis
import requests
from wechatpy.enterprise import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from models.outbox import OutboxMessage

from ..files import mime_type, stored_for_sending
from ..messages import Card, File, Reply, Text
from ..outbox import PermanentError, RateLimited, SendResult, TokenExpired, TransientError

if TYPE_CHECKING:
    from redis import Redis

    from ..files import FileStore

log = logging.getLogger("lianxin.wecom")

__all__ = ["RATE_ERRORS", "TOKEN_ERRORS", "LianxinWeComClient", "WeComSender", "render_template_card"]

TOKEN_ERRORS = {40001, 40014, 42001}
RATE_ERRORS = {45009, 45033, 45011, -1}
PUBLIC_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"


class LianxinWeComClient(WeChatClient):  # type: ignore[misc]  # wechatpy ships no types
    """WeChatClient with a secret-free token key, a timeout and a cross-worker refresh lock."""

    def __init__(self, corp_id: str, secret: str, agent_id: int, redis_client: Redis, *,
                 timeout: float | tuple[float, float] = (2, 5), api_base: str | None = None) -> None:
        """`timeout`: seconds, or (connect, read); `api_base`: every call goes there, the token
        included (private WeCom deployments, 私有化部署, have their own host)."""
        super().__init__(corp_id, secret, session=RedisStorage(redis_client, prefix="lianxin:wecom"),
                         timeout=timeout, auto_retry=False)
        self.agent_id = agent_id
        self.redis = redis_client
        self._token_failed_at = 0.0   # monotonic time of this process's last failed gettoken
        self._local_lock = threading.Lock()
        # the relay sends from a pool of threads: one kept-alive connection each (requests keeps 10)
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=64)
        self._http.mount("https://", adapter)
        self._http.mount("http://", adapter)
        self.API_BASE_URL = (api_base or PUBLIC_API_BASE).rstrip("/") + "/"

    @property
    def access_token_key(self) -> str:
        digest = hashlib.sha256(f"{self.corp_id}:{self.secret}".encode()).hexdigest()[:12]
        return f"{self.corp_id}_{self.agent_id}_{digest}_access_token"

    @property
    def access_token(self) -> str:
        token: str | None = self.session.get(self.access_token_key)
        if token:
            return token
        return self.refresh_token()

    def refresh_token(self, stale: str | None = None) -> str:
        """Fetch a new token unless another worker already did (single flight). The threads that
        waited for a refresh which just failed fail too, at once: a hanging gettoken costs the
        relay one timeout, not one per thread in turn (the breaker counts them and opens)."""
        asked = time.monotonic()
        # threads of this process queue here (in order, no polling), processes on the Redis lock
        if not self._local_lock.acquire(timeout=15):
            raise TransientError("gettoken: another thread's refresh is stuck")
        lock = self.redis.lock(f"lock:{self.access_token_key}", timeout=15, blocking_timeout=15)
        try:
            lock.acquire()
        except redis.exceptions.LockError:
            self._local_lock.release()
            raise TransientError("gettoken: another worker's refresh is stuck") from None
        try:
            current: str | None = self.session.get(self.access_token_key)
            if current and current != stale:
                return current
            if self._token_failed_at > asked:
                raise TransientError("gettoken failed (in another thread, just now)")
            try:
                res = self._http.get(f"{self.API_BASE_URL}gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret},
                                     timeout=self.timeout)
                res.raise_for_status()
                data = res.json()
            except (requests.RequestException, ValueError) as exc:
                self._token_failed_at = time.monotonic()
                raise TransientError(f"gettoken failed: {type(exc).__name__}") from None
            if data.get("errcode", 0) != 0:
                code = data.get("errcode")
                if code in RATE_ERRORS:
                    raise TransientError(f"gettoken rate limited ({code})", retry_after=60)
                raise PermanentError(f"gettoken refused: errcode {code}")
            ttl = max(60, int(data.get("expires_in", 7200)) - 300)
            token: str = data["access_token"]
            self.session.set(self.access_token_key, token, ttl)
            return token
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                pass   # expired meanwhile (a refresh slower than 15 s)
            self._local_lock.release()

    def invalidate(self, token: str | None) -> None:
        if token and self.session.get(self.access_token_key) == token:
            self.session.delete(self.access_token_key)

    def call(self, endpoint: str, data: dict[str, Any] | None, *, params: dict[str, str] | None = None,
             files: dict[str, tuple[str, bytes, str]] | None = None) -> dict[str, Any]:
        """POST with outbox-friendly errors; a rejected token is refreshed (single flight) and the
        call retried once (WxJava's rule: never more, a token that keeps failing is not a loop).
        `files`: a multipart upload (media/upload) instead of a JSON body."""
        token = self.access_token
        try:
            return self._post(endpoint, token, data, params, files)
        except TokenExpired:
            token = self.refresh_token(stale=token)
            log.info("wecom.token_refreshed", extra={"endpoint": endpoint})
        return self._post(endpoint, token, data, params, files)

    def upload_file(self, name: str, content: bytes, mime: str) -> str:
        """media/upload?type=file (5 B – 20 MB; the media id lasts three days): returns the media id."""
        answer = self.call("media/upload", None, params={"type": "file"}, files={"media": (name, content, mime)})
        media_id = answer.get("media_id")
        if not media_id:
            raise PermanentError("media/upload: no media_id in the answer")
        return str(media_id)

    def _post(self, endpoint: str, token: str, data: dict[str, Any] | None, params: dict[str, str] | None = None,
              files: dict[str, tuple[str, bytes, str]] | None = None) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = self.post(endpoint, params={**(params or {}), "access_token": token},
                                               data=data, files=files)
            return answer
        except WeChatClientException as exc:
            code = exc.errcode
            if code is None:  # HTTP-level failure (5xx)
                status = getattr(getattr(exc, "response", None), "status_code", "?")
                raise TransientError(f"{endpoint}: HTTP {status}") from None
            code = int(code)
            if code in TOKEN_ERRORS:
                self.invalidate(token)
                raise TokenExpired(f"{endpoint}: token rejected ({code})") from None
            if code in RATE_ERRORS:
                raise RateLimited(f"{endpoint}: rate limited ({code})",
                                  retry_after=5 if code == -1 else 60) from None
            raise PermanentError(f"{endpoint}: errcode {code} {str(exc.errmsg)[:80]}") from None
        except (requests.ConnectionError, requests.exceptions.ConnectTimeout) as exc:
            # never reached WeCom: safe to retry
            raise TransientError(f"{endpoint}: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            # read timeout and friends: WeCom may have sent it; the retry is flagged as a possible duplicate
            raise TransientError(f"unknown outcome: {endpoint}: {type(exc).__name__}") from None


def render_template_card(card: Card, agent_public_url: str = "") -> dict[str, Any]:
    """Card → WeCom template_card (button_interaction with buttons, else text_notice)."""
    horizontal = [{"keyname": k[:20], "value": str(v)[:60]} for k, v in card.fields[:6]]
    body = card.body[:500]
    if card.buttons or card.done_text:
        tc: dict[str, Any] = {
            "card_type": "button_interaction",
            "main_title": {"title": card.title[:36], "desc": ""},
            "sub_title_text": body,
            "task_id": card.card_id or f"c{int(time.time() * 1000)}",
            "button_list": [{"text": b.text[:10], "style": b.style, "key": b.key} for b in card.buttons]
            or [{"text": card.done_text or "已处理", "style": 1, "key": "noop"}],
        }
        if card.done_text:
            tc["replace_text"] = card.done_text[:20]
    else:
        tc = {
            "card_type": "text_notice",
            "main_title": {"title": card.title[:36], "desc": ""},
            "sub_title_text": body,
            "card_action": {"type": 1, "url": card.url or agent_public_url or "https://work.weixin.qq.com"},
        }
    if horizontal:
        tc["horizontal_content_list"] = horizontal
    if card.url and "card_action" not in tc:
        tc["jump_list"] = [{"type": 1, "title": "查看详情", "url": card.url}]
    return tc


class WeComSender:
    """Outbox sender for WeCom (message/send, message/update_template_card, file messages)."""

    def __init__(self, client: LianxinWeComClient, public_url: str = "", *, files: FileStore | None = None,
                 confidential: bool = False) -> None:
        """`files`: where File replies' bytes are read; `confidential`: files go as 保密消息 (safe=1)."""
        self.client = client
        self.public_url = public_url
        self.files = files
        self.confidential = confidential

    def send(self, recipients: list[str], reply: Reply, row: OutboxMessage) -> SendResult:
        data: dict[str, Any] = {"touser": "|".join(recipients), "agentid": self.client.agent_id,
                                "enable_duplicate_check": 1, "duplicate_check_interval": 1800}
        if isinstance(reply, Text):
            data.update(msgtype="text", text={"content": reply.text})
        elif isinstance(reply, File):
            name, content = stored_for_sending(self.files, reply)
            media_id = self.client.upload_file(name, content, mime_type(name))
            data.update(msgtype="file", file={"media_id": media_id}, safe=1 if self.confidential else 0)
        else:
            data.update(msgtype="template_card", template_card=render_template_card(reply, self.public_url))
        result = self.client.call("message/send", data)
        invalid = "|".join(x for x in (result.get("invaliduser"), result.get("unlicenseduser")) if x) or None
        if invalid:
            # errcode 0 is not "delivered to everyone" (PROTOCOLS.md §3.4): keep who was refused
            log.warning("wecom.invaliduser", extra={"outbox_id": row.id, "invalid": invalid})
        return SendResult(msgid=result.get("msgid"), response_code=result.get("response_code"),
                          invalid_users=invalid)

    def update_card(self, recipients: list[str], reply: Reply, row: OutboxMessage) -> SendResult:
        """update_template_card with the row's single-use ResponseCode (the click's, or the one
        message/send returned); without one, or if WeCom refuses it (used, expired after 72 h),
        the updated card is sent as a new message under a fresh task_id."""
        assert isinstance(reply, Card)
        if row.response_code:
            data = {"userids": recipients, "agentid": self.client.agent_id, "response_code": row.response_code,
                    "template_card": render_template_card(reply, self.public_url)}
            if not recipients:
                data["atall"] = 1
            try:
                result = self.client.call("message/update_template_card", data)
                invalid = result.get("invaliduser")
                return SendResult(msgid=None, invalid_users="|".join(invalid) if isinstance(invalid, list) and invalid
                                  else (invalid or None))
            except PermanentError as exc:
                log.warning("wecom.update_refused", extra={"outbox_id": row.id, "error": str(exc)[:120]})
        if not recipients:
            return SendResult(msgid=None)
        fresh = replace(reply, card_id=f"{reply.card_id or 'c'}_u{row.id}"[:128], buttons=()
                        if reply.done_text else reply.buttons)
        return self.send(recipients, fresh, row)
