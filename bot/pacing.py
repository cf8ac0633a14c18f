"""Per-recipient pacing shared by every relay (Redis), coalescing, and spreading mass sends.

WeCom drops, silently and without an error code, app messages beyond 30 per member per minute
and 1,000 per hour (PROTOCOLS.md §3.1), cards included. The relay therefore takes a slot per
recipient before each send from a sliding-window log in Redis (one Lua script, atomic across
relays): at most `limit` sends in any `window` seconds, never more, unlike a token bucket whose
burst allows up to twice the rate within one rolling minute. A row without a slot waits, without
spending an attempt, until the oldest send leaves the window.

The same script limits inbound turns per user (bot.inbound_limit).
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

__all__ = ["Pacer", "SlidingWindow", "merge_texts", "spread_time"]

# KEYS[1] the log (a sorted set of send times); ARGV: now, member, then (window, limit) pairs.
# Returns "0" when a slot was taken, else the seconds until one frees (as a string: Lua numbers
# become integers on the way back).
_TAKE = """
local now = tonumber(ARGV[1])
local wait, longest = 0, 0
for i = 3, #ARGV, 2 do
  local w, lim = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if w > longest then longest = w end
  local n = redis.call('ZCOUNT', KEYS[1], '(' .. (now - w), '+inf')
  if n >= lim then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - w), '+inf', 'WITHSCORES', 'LIMIT', n - lim, 1)
    local free = tonumber(oldest[2]) + w - now
    if free > wait then wait = free end
  end
end
if wait > 0 then return tostring(wait) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(longest) + 60)
return '0'
"""


class SlidingWindow:
    """At most `limit` events per `window` seconds, for every (window, limit) pair, per key."""

    def __init__(self, redis, limits: Sequence[tuple[float, int]], prefix: str) -> None:
        self.redis = redis
        self.limits = [(float(w), int(n)) for w, n in limits if n > 0]
        self.prefix = prefix
        self._script = redis.register_script(_TAKE)

    def take(self, key: str, now: datetime) -> float:
        """Take a slot: 0.0 if taken, else the seconds to wait for one."""
        if not self.limits:
            return 0.0
        args: list = [now.timestamp(), uuid.uuid4().hex]
        for w, n in self.limits:
            args += [w, n]
        return float(self._script(keys=[f"{self.prefix}{key}"], args=args))


class Pacer:
    """Send slots per (platform, recipient), for the platforms that have limits."""

    def __init__(self, redis, limits: dict[str, Sequence[tuple[float, int]]]) -> None:
        self.windows = {p: SlidingWindow(redis, lim, f"lianxin:pace:{p}:") for p, lim in limits.items() if lim}

    def paces(self, platform: str) -> bool:
        return platform in self.windows

    def take(self, platform: str, recipients: Sequence[str], now: datetime) -> tuple[list[str], float]:
        """Slots for each recipient: (recipients refused, longest wait among them)."""
        window = self.windows.get(platform)
        if window is None:
            return [], 0.0
        refused, wait = [], 0.0
        for r in recipients:
            w = window.take(r, now)
            if w > 0:
                refused.append(r)
                wait = max(wait, w)
        return refused, wait


def merge_texts(texts: Sequence[str], max_bytes: int = 2000) -> list[list[int]]:
    """Group message texts (by index) into as few messages of ≤ max_bytes as possible, in order."""
    groups: list[list[int]] = []
    size = 0
    for i, t in enumerate(texts):
        n = len(t.encode()) + 8
        if not groups or size + n > max_bytes:
            groups.append([])
            size = 40   # the header line
        groups[-1].append(i)
        size += n
    return groups


def spread_time(start: datetime, key: str, window_seconds: float, avoid_minutes: Sequence[int] = (0, 30)) -> datetime:
    """A not-before time for one of many scheduled sends: a stable place for `key` within the
    window after `start` (a re-run lands on the same time), moved out of the minutes WeCom asks
    mass senders to avoid (:00 and :30)."""
    u = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    remaining = u * max(window_seconds, 0.0)   # seconds of allowed time to skip, so avoided minutes add none
    at = start
    for _ in range(10_000):
        minute_end = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        if at.minute in avoid_minutes:
            at = minute_end
            continue
        room = (minute_end - at).total_seconds()
        if remaining < room:
            return at + timedelta(seconds=remaining)
        remaining -= room
        at = minute_end
    return at
