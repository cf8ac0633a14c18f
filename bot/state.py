"""Conversation state in Redis (JSON, TTL) with lock-then-load, so any worker can continue a dialog.

Keys: conv:{platform}:{user}. The dispatcher takes lock:conv:{platform}:{user} before loading
state and releases it after saving, so a double tap or a retried delivery handled by another
worker at the same moment sees the saved state, not a stale copy (aiogram #1317).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

import redis

__all__ = ["FormState", "ConversationStore", "ConversationBusy"]


class ConversationBusy(RuntimeError):
    """Another worker holds this user's conversation for longer than the lock wait."""


@dataclass
class FormState:
    form: str
    form_id: str
    step: str
    answers: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)   # previous steps, for "返回"
    started_at: float = 0.0
    updated_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "FormState":
        return cls(**json.loads(raw))


class ConversationStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int, lock_timeout: int = 10) -> None:
        self.r = client
        self.ttl = ttl_seconds
        self.lock_timeout = lock_timeout

    @staticmethod
    def key(platform: str, user: str) -> str:
        return f"conv:{platform}:{user}"

    @contextmanager
    def locked(self, platform: str, user: str) -> Iterator[None]:
        lock = self.r.lock(f"lock:{self.key(platform, user)}", timeout=self.lock_timeout,
                           blocking_timeout=self.lock_timeout + 1)  # outwait a dead holder
        if not lock.acquire():
            raise ConversationBusy(user)
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                pass  # expired while we worked; the next holder already owns it

    def load(self, platform: str, user: str) -> FormState | None:
        raw = self.r.get(self.key(platform, user))
        return FormState.from_json(raw) if raw else None

    def save(self, platform: str, user: str, state: FormState, ttl: int | None = None) -> None:
        self.r.set(self.key(platform, user), state.to_json(), ex=ttl or self.ttl)

    def clear(self, platform: str, user: str) -> None:
        """The dialog ended normally (done or cancelled): no expiry notice later."""
        self.r.delete(self.key(platform, user), f"convseen:{platform}:{user}")

    def mark_expiry_notice(self, platform: str, user: str, form: str, ttl: int) -> None:
        """Remember that a dialog existed, so that its expiry can be told to the user."""
        self.r.set(f"convseen:{platform}:{user}", form, ex=ttl * 48)

    def load_or_expired(self, platform: str, user: str) -> tuple[FormState | None, str | None]:
        """(state, None) for a live dialog; else (None, name of a dialog that expired since the
        user's last message, or None). One round trip in the common case; call under `locked`."""
        seen_key = f"convseen:{platform}:{user}"
        pipe = self.r.pipeline(transaction=False)
        pipe.get(self.key(platform, user))
        pipe.get(seen_key)
        raw, seen = pipe.execute()
        if raw:
            return FormState.from_json(raw), None
        if seen:
            self.r.delete(seen_key)
            return None, seen.decode()
        return None, None

    def pop_expired(self, platform: str, user: str) -> str | None:
        """Return the form name if a dialog expired since the user's last message."""
        if self.r.exists(self.key(platform, user)):
            return None
        raw = self.r.getdel(f"convseen:{platform}:{user}")
        return raw.decode() if raw else None
