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
from typing import Any

from redis import Redis

__all__ = ["Pacer", "SlidingWindow", "merge_texts", "spread_time", "take_lua"]

def take_lua(key: str, now: str, member: str, first: int) -> str:
    """The sliding-window take as a Lua fragment (also inside bot.turn's begin script): the log
    `key` (a sorted set of times), the time `now`, a unique `member`, then (window, limit) pairs
    from ARGV[first] on; leaves `wait` = 0 when a slot was taken, else the seconds until one frees."""
    return f"""
local now = tonumber({now})
local wait, longest = 0, 0
for i = {first}, #ARGV, 2 do
  local w, lim = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if w > longest then longest = w end
  local n = redis.call('ZCOUNT', {key}, '(' .. (now - w), '+inf')
  if n >= lim then
    local oldest = redis.call('ZRANGEBYSCORE', {key}, '(' .. (now - w), '+inf', 'WITHSCORES', 'LIMIT', n - lim, 1)
    local free = tonumber(oldest[2]) + w - now
    if free > wait then wait = free end
  end
end
if wait <= 0 then
  redis.call('ZREMRANGEBYSCORE', {key}, '-inf', now - longest)
  redis.call('ZADD', {key}, now, {member})
  redis.call('EXPIRE', {key}, math.ceil(longest) + 60)
end
"""


# KEYS[1] the log; ARGV: now, member, then (window, limit) pairs. Returns "0" when a slot was taken,
# else the seconds until one frees (as a string: Lua numbers become integers on the way back).
_TAKE = take_lua("KEYS[1]", "ARGV[1]", "ARGV[2]", 3) + """
if wait > 0 then return tostring(wait) end
return '0'
"""


class SlidingWindow:
    """At most `limit` events per `window` seconds, for every (window, limit) pair, per key."""

    def __init__(self, redis: Redis, limits: Sequence[tuple[float, int]], prefix: str) -> None:
        self.redis = redis
        self.limits = [(float(w), int(n)) for w, n in limits if n > 0]
        self.prefix = prefix
        self._script = redis.register_script(_TAKE)

    def take(self, key: str, now: datetime) -> float:
        """Take a slot: 0.0 if taken, else the seconds to wait for one."""
        if not self.limits:
            return 0.0
        return float(self._script(keys=[self.key(key)], args=self.args(now)))

    def key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def args(self, now: datetime) -> list[Any]:
        """now, a unique member, then the (window, limit) pairs: the arguments of `take_lua`."""
        args: list[Any] = [now.timestamp(), uuid.uuid4().hex]
        for w, n in self.limits:
            args += [w, n]
        return args


class Pacer:
    """Send slots per (platform, recipient), for the platforms that have limits."""

    def __init__(self, redis: Redis, limits: dict[str, Sequence[tuple[float, int]]]) -> None:
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
