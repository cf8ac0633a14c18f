"""Turns per user: a burst of messages gets one polite answer, not one turn (and notification) each.

Forty `进展` messages pasted at once were forty turns and forty notifications to the secretary.
Beyond `inbound.max_turns` within `inbound.window_seconds`, a user's message is not handled: the
first one refused gets TOO_FAST_TEXT, the rest of the burst nothing. Shared by every worker
(the sliding window of bot.pacing, in Redis); a refused message takes no slot, so the user is
served again as soon as the window has room.
"""
from __future__ import annotations

import math
from datetime import datetime

from .pacing import SlidingWindow

__all__ = ["TOO_FAST_TEXT", "InboundLimiter"]

TOO_FAST_TEXT = "您发送得太快了，请稍后再试。"


class InboundLimiter:
    def __init__(self, redis, max_turns: int, window_seconds: float) -> None:
        self.redis = redis
        self.window = SlidingWindow(redis, [(window_seconds, max_turns)], "lianxin:inbound:")

    def refusal(self, platform: str, user: str, now: datetime) -> str | None:
        """None: handle the message; otherwise the answer instead ("" for silence)."""
        wait = self.window.take(f"{platform}:{user}", now)
        if wait <= 0:
            return None
        if self.redis.set(f"lianxin:inbound:warned:{platform}:{user}", 1, nx=True, ex=max(1, math.ceil(wait))):
            return TOO_FAST_TEXT
        return ""
