"""A circuit breaker per platform, so a relay stops calling an API that is down instead of
spending every row's attempts (and its whole pool) on timeouts.

closed → after `threshold` outage failures (timeouts, refused connections, 5xx) within `window`
seconds → open: nothing is sent for `cooldown` seconds → half-open: one probe request; its
success closes the breaker, its failure opens it for another cool-down.

Time comes from the caller (the relay's `now`), so tests and the relay's synthetic clock agree.
Hand-written rather than pybreaker: that one counts consecutive failures without a time window,
wraps the call itself and has no "one probe at a time" handing out; this is 60 lines.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime, timedelta

log = logging.getLogger("lianxin.outbox")

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitBreaker", "breaker_key"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


def breaker_key(platform: str) -> str:
    """Where a relay publishes its breaker state for the web app's /metrics (another process)."""
    return f"lianxin:outbox:breaker:{platform}"


class CircuitBreaker:
    def __init__(self, platform: str, *, threshold: int = 5, window: float = 30.0, cooldown: float = 30.0,
                 metrics=None, redis=None) -> None:
        self.platform = platform
        self.threshold = threshold
        self.window = timedelta(seconds=window)
        self.cooldown = timedelta(seconds=cooldown)
        self.metrics = metrics
        self.redis = redis
        self.state = CLOSED
        self.opened_at: datetime | None = None
        self.probing = False
        self._failures: deque[datetime] = deque()
        self._lock = threading.Lock()
        self._export()

    def reopens_at(self) -> datetime | None:
        return self.opened_at + self.cooldown if self.state != CLOSED and self.opened_at else None

    def allow(self, now: datetime) -> bool:
        """May a request go out now? In half-open state exactly one caller gets True (the probe)."""
        with self._lock:
            if self.state == CLOSED:
                return True
            if self.state == OPEN and self.opened_at is not None and now >= self.opened_at + self.cooldown:
                self._set(HALF_OPEN)
            if self.state == HALF_OPEN and not self.probing:
                self.probing = True
                return True
            return False

    def success(self, now: datetime) -> None:
        with self._lock:
            self._failures.clear()
            self.probing = False
            if self.state != CLOSED:
                log.info("outbox.breaker_closed", extra={"platform": self.platform})
                self._set(CLOSED)

    def failure(self, now: datetime) -> None:
        """An outage failure (not a rate limit, not a refused message)."""
        with self._lock:
            self.probing = False
            if self.state == HALF_OPEN:
                self._open(now)
                return
            self._failures.append(now)
            while self._failures and self._failures[0] <= now - self.window:
                self._failures.popleft()
            if self.state == CLOSED and len(self._failures) >= self.threshold:
                self._open(now)

    def release_probe(self) -> None:
        """The probe was not sent after all (row taken elsewhere, paced): let another one go."""
        with self._lock:
            self.probing = False

    def _open(self, now: datetime) -> None:
        self.opened_at = now
        self._failures.clear()
        log.warning("outbox.breaker_open", extra={"platform": self.platform, "cooldown": self.cooldown.total_seconds()})
        self._set(OPEN)

    def _set(self, state: str) -> None:
        self.state = state
        self._export()

    def _export(self) -> None:
        if self.metrics is not None:
            self.metrics.outbox_breaker.labels(self.platform).set(STATE_VALUE[self.state])
        if self.redis is not None:
            try:
                ttl = max(300, int(self.cooldown.total_seconds() * 4))
                self.redis.set(breaker_key(self.platform), self.state, ex=ttl)
            except Exception:  # the breaker must work without Redis
                log.warning("outbox.breaker_publish_failed", exc_info=True)
