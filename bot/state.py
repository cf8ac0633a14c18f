"""Conversation state in Redis (JSON, TTL) with lock-then-load, so any worker can continue a dialog.

Keys: conv:{platform}:{user}. Each turn takes lock:conv:{platform}:{user} before loading state
and releases it after saving (bot.turn does both in one script each), so a double tap or a
retried delivery handled by another worker at the same moment sees the saved state, not a stale
copy (aiogram #1317). convseen:{platform}:{user} remembers that a dialog existed, so that its
expiry can be told to the user at their next message.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis

__all__ = ["ConversationBusy", "ConversationStore", "FormState"]


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
        # the fields as they are (answers are JSON primitives): asdict's deep copy showed on the talk path
        return json.dumps(vars(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> FormState:
        return cls(**json.loads(raw))


class ConversationStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int, lock_timeout: int = 10) -> None:
        self.r = client
        self.ttl = ttl_seconds
        self.lock_timeout = lock_timeout

    @staticmethod
    def key(platform: str, user: str) -> str:
        return f"conv:{platform}:{user}"
