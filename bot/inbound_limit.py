"""Turns per user: a burst of messages gets one polite answer, not one turn (and notification) each.

Forty `进展` messages pasted at once were forty turns and forty notifications to the secretary.
Beyond `inbound.max_turns` within `inbound.window_seconds`, a user's message is not handled: the
first one refused gets TOO_FAST_TEXT, the rest of the burst nothing. Shared by every worker
(the sliding window of bot.pacing, in Redis); a refused message takes no slot, so the user is
served again as soon as the window has room.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from redis import Redis

from .pacing import SlidingWindow

__all__ = ["TOO_FAST_TEXT", "InboundLimiter"]

TOO_FAST_TEXT = "您发送得太快了，请稍后再试。"


class InboundLimiter:
    """The window's keys and arguments; the slot is taken inside the turn's begin script (bot.turn),
    in the same Redis round trip as the dedupe claim, before anything else of the turn."""

    def __init__(self, redis: Redis, max_turns: int, window_seconds: float) -> None:
        self.redis = redis
        self.window = SlidingWindow(redis, [(window_seconds, max_turns)], "lianxin:inbound:")

    def keys(self, platform: str, user: str) -> list[str]:
        """The user's log, and the marker that the user was told to slow down."""
        return [self.window.key(f"{platform}:{user}"), f"lianxin:inbound:warned:{platform}:{user}"]

    def args(self, now: datetime) -> list[Any]:
        return self.window.args(now)
