"""DingTalk server API client: the app access token shared through Redis, typed errors, uploads.

Endpoints (PROTOCOLS.md §5.2, §5.3): token: POST {api}/v1.0/oauth2/accessToken {appKey, appSecret}
→ {accessToken, expireIn}; cached in Redis for every worker, refreshed by one worker at a time
(Redis lock, single flight). New-style calls (`api`) carry the token in a header, old-style topapi
calls (`oapi`, media/upload) as ?access_token=. Errors map to TokenExpired (refresh), TransientError
(flow control, 5xx, timeouts, network) and PermanentError (the rest). What is sent, and how, is
`bot.adapters.dingtalk_sender`.
"""
from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import requests

from ..outbox import PermanentError, RateLimited, TokenExpired, TransientError

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger("lianxin.dingtalk")

__all__ = ["DingTalkClient"]

RATE_CODE_WORDS = ("throttl", "qpslimit", "flowcontrol", "ratelimit", "toomanyrequests")
TOKEN_CODE_WORDS = ("invalidauthentication", "accesstoken", "invalidtoken", "tokenexpired")
OAPI_TOKEN_ERRORS = {40001, 40014, 42001, 88}
OAPI_RATE_ERRORS = {-1, 90002, 90018, 90019, 143103, 143104}


class DingTalkClient:
    """HTTP to api.dingtalk.com / oapi.dingtalk.com with a Redis-shared token and typed errors."""

    def __init__(self, app_key: str, app_secret: str, redis_client: Redis, *, api_base: str = "https://api.dingtalk.com",
                 oapi_base: str = "https://oapi.dingtalk.com", timeout: float = 5,
                 http: requests.Session | None = None) -> None:
        if not app_key or not app_secret:
            raise ValueError("dingtalk.app_key and dingtalk.app_secret are required to call the DingTalk API")
        self.app_key = app_key
        self.app_secret = app_secret
        self.redis = redis_client
        self.api_base = api_base.rstrip("/")
        self.oapi_base = oapi_base.rstrip("/")
        self.timeout = timeout
        self.http = http or requests.Session()

    # token ----------------------------------------------------------------------------------
    @property
    def token_key(self) -> str:
        digest = hashlib.sha256(f"{self.app_key}:{self.app_secret}".encode()).hexdigest()[:12]
        return f"lianxin:dingtalk:token:{self.app_key}:{digest}"

    def _cached(self) -> str | None:
        value = self.redis.get(self.token_key)
        return value.decode() if isinstance(value, bytes) else value

    @property
    def access_token(self) -> str:
        return self._cached() or self.refresh_token()

    def refresh_token(self, stale: str | None = None) -> str:
        """Fetch a new token unless another worker already did (single flight through a Redis lock)."""
        with self.redis.lock(f"lock:{self.token_key}", timeout=15, blocking_timeout=15):
            current = self._cached()
            if current and current != stale:
                return current
            try:
                res = self.http.post(f"{self.api_base}/v1.0/oauth2/accessToken",
                                     json={"appKey": self.app_key, "appSecret": self.app_secret}, timeout=self.timeout)
            except requests.RequestException as exc:
                raise TransientError(f"accessToken: {type(exc).__name__}") from None
            data = self._decode(res, "accessToken")
            token = data.get("accessToken")
            if not isinstance(token, str) or not token:
                raise TransientError("accessToken: no token in the answer")
            ttl = max(60, int(data.get("expireIn") or 7200) - 300)
            self.redis.set(self.token_key, token, ex=ttl)
            return token

    def invalidate(self, token: str | None) -> None:
        if token and self._cached() == token:
            self.redis.delete(self.token_key)

    # calls ----------------------------------------------------------------------------------
    def _decode(self, res: requests.Response, what: str, token: str | None = None) -> dict[str, Any]:
        try:
            data = res.json() if res.content else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        status = res.status_code
        if 200 <= status < 300:
            return data
        code = str(data.get("code") or "")
        lowered = code.lower().replace("_", "").replace(".", "")
        message = f"{what}: HTTP {status} {code} {str(data.get('message') or '')[:120]}".strip()
        if status == 429 or any(w in lowered for w in RATE_CODE_WORDS):
            raise RateLimited(message, retry_after=60)
        if status >= 500:
            raise TransientError(message)
        if status == 401 or any(w in lowered for w in TOKEN_CODE_WORDS):
            if token is None:  # the token endpoint itself: wrong appKey/appSecret
                raise PermanentError(message)
            self.invalidate(token)
            raise TokenExpired(message)
        raise PermanentError(message)

    def api(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """New-style OpenAPI (api.dingtalk.com, header x-acs-dingtalk-access-token).

        A rejected token is refreshed (single flight) and the call retried once, never more."""
        token = self.access_token
        try:
            return self._api(method, path, body, token)
        except TokenExpired:
            token = self.refresh_token(stale=token)
            log.info("dingtalk.token_refreshed", extra={"path": path})
        return self._api(method, path, body, token)

    def _api(self, method: str, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        try:
            res = self.http.request(method, f"{self.api_base}{path}", json=body, timeout=self.timeout,
                                    headers={"x-acs-dingtalk-access-token": token})
        except (requests.ConnectionError, requests.exceptions.ConnectTimeout) as exc:
            raise TransientError(f"{path}: {type(exc).__name__}") from None  # never reached DingTalk
        except requests.RequestException as exc:  # read timeout: DingTalk may have acted on it
            raise TransientError(f"unknown outcome: {path}: {type(exc).__name__}") from None
        return self._decode(res, path, token)

    def oapi(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Old-style topapi (oapi.dingtalk.com, ?access_token=, errcode in the body)."""
        token = self.access_token
        try:
            res = self.http.post(f"{self.oapi_base}{path}", params={"access_token": token}, json=body,
                                 timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"{path}: {type(exc).__name__}") from None
        return self._oapi_answer(res, path, token)

    def _oapi_answer(self, res: requests.Response, path: str, token: str) -> dict[str, Any]:
        """errcode in the body: 0 → the answer, token codes → TokenExpired, throttling → RateLimited."""
        if res.status_code >= 500:
            raise TransientError(f"{path}: HTTP {res.status_code}")
        try:
            data: dict[str, Any] = res.json()
        except ValueError:
            raise TransientError(f"{path}: answer is not JSON") from None
        code = int(data.get("errcode") or 0)
        if code == 0:
            return data
        message = f"{path}: errcode {code} {str(data.get('errmsg') or '')[:120]}"
        if code in OAPI_TOKEN_ERRORS:
            self.invalidate(token)
            raise TokenExpired(message)
        if code in OAPI_RATE_ERRORS:
            raise RateLimited(message, retry_after=60)
        raise PermanentError(message)

    def upload_file(self, name: str, content: bytes) -> str:
        """oapi media/upload?type=file (multipart `media`, ≤ 20 MB) → the media id for sampleFile."""
        token = self.access_token
        try:
            res = self.http.post(f"{self.oapi_base}/media/upload", params={"access_token": token, "type": "file"},
                                 files={"media": (name, content)}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"media/upload: {type(exc).__name__}") from None
        data = self._oapi_answer(res, "/media/upload", token)
        if not data.get("media_id"):
            raise PermanentError("media/upload: no media_id in the answer")
        return str(data["media_id"])

    def session_reply(self, url: str, text: str, at_user: str | None = None) -> None:
        """Answer through a message's sessionWebhook (no token; text only; ~90 minutes)."""
        body: dict[str, Any] = {"msgtype": "text", "text": {"content": text}}
        if at_user:
            body["at"] = {"atUserIds": [at_user]}
        try:
            res = self.http.post(url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"sessionWebhook: {type(exc).__name__}") from None
        if res.status_code >= 300:
            raise TransientError(f"sessionWebhook: HTTP {res.status_code}")
        try:
            data = res.json()
        except ValueError:
            data = {}
        if int(data.get("errcode") or 0) != 0:
            raise PermanentError(f"sessionWebhook: errcode {data.get('errcode')}")
