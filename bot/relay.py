"""The outbox relay: claims due rows, most urgent first, and sends them through a bounded pool.

Delivery policy: at-least-once, with every possible duplicate detected and logged.
1. claim: a lease on due rows (claimed_by, claimed_until), ordered by priority then age,
   FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite; a live relay never outlives
   its lease (lease 120 s ≫ read timeout 5 s + one token refresh).
2. the claimed rows are split into lanes, one per recipient: lanes run concurrently in a pool of
   `pool_size` threads, the rows of one lane one after the other (urgent first, a card before
   its update), so nobody gets an update before the card or two sends racing each other.
3. before the HTTP call the row is committed as "in flight" (attempts + 1). If the process dies
   between the send and the mark, the lease expires and another relay re-claims the row;
   it sees the "in flight" marker (or an "unknown outcome" read timeout), logs
   `outbox.possible_duplicate`, sends again and notes the suspicion on the row (last_error of a
   sent row). Losing a message is worse than a rare repeat, so we re-send rather than drop.
4. the repeat is harmless on WeCom: message/send goes out with enable_duplicate_check=1 and the
   same body (same task_id for cards), and WeCom drops an identical message to the same user
   within duplicate_check_interval (1,800 s ≫ the lease).
5. the mark is conditional on still holding the claim (claimed_by = me); a relay that lost
   its lease logs `outbox.lease_lost` instead of overwriting the new holder's outcome.
Errors: TokenExpired → the sender already refreshed (single flight) and retried once; the row is
retried at once. RateLimited → this platform pauses for retry_after and the rest of the batch
for it is released without using an attempt. TransientError → capped exponential backoff with
jitter, and it counts towards the platform's circuit breaker (bot.breaker): while it is open the
relay claims nothing for that platform and rows wait without spending attempts. PermanentError
or max_attempts → dead (admins: 死信 / 重发).
Pacing (bot.pacing): a row whose recipient has no send slot left waits, without an attempt;
low-priority texts piling up for one person are merged into one message (bot.relay_merge).
Stopping (SIGTERM): claim nothing new, release the rows not started, let the in-flight calls
finish within the deadline, release whatever is still claimed, return.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from models.base import utcnow
from models.outbox import OutboxMessage, OutboxStatus

from .breaker import CLOSED, CircuitBreaker
from .messages import reply_from_dict
from .outbox import PermanentError, RateLimited, Sender, SendResult, TokenExpired, TransientError
from .pacing import Pacer
from .relay_merge import Claimed, coalesce, lanes

log = logging.getLogger("lianxin.outbox")

__all__ = ["OutboxRelay"]


class OutboxRelay:
    """Claims due rows, sends them through the platform senders, records the outcome."""

    def __init__(self, session_factory: sessionmaker[Session], senders: dict[str, Sender], *,
                 max_attempts: int = 8, batch_size: int = 50, backoff_base: float = 2.0,
                 backoff_cap: float = 600.0, lease_seconds: int = 120, name: str | None = None,
                 metrics=None, pool_size: int = 32, pacer: Pacer | None = None,
                 breakers: dict[str, CircuitBreaker] | None = None, coalesce_min: int = 5,
                 stop_deadline: float = 10.0) -> None:
        self.sf = session_factory
        self.senders = senders
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.lease = timedelta(seconds=lease_seconds)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.metrics = metrics
        self.pool_size = max(1, pool_size)
        self.pacer = pacer
        self.breakers = breakers if breakers is not None else {p: CircuitBreaker(p, metrics=metrics) for p in senders}
        self.coalesce_min = coalesce_min
        self.stop_deadline = stop_deadline
        self.stopping = threading.Event()
        self._stop_at: float | None = None
        self._pool: ThreadPoolExecutor | None = None

    # claiming -------------------------------------------------------------------------------
    def claim(self, now: datetime | None = None) -> list[int]:
        """Take a lease on up to batch_size due rows; safe with many relays."""
        return [c.id for c in self._claim(now or utcnow(), list(self.senders), self.batch_size)]

    def _claim(self, now: datetime, platforms: list[str], limit: int) -> list[Claimed]:
        if not platforms or limit <= 0:
            return []
        until = now + self.lease
        cols = (OutboxMessage.id, OutboxMessage.platform, OutboxMessage.recipients, OutboxMessage.priority,
                OutboxMessage.kind, OutboxMessage.ref, OutboxMessage.attempts)
        with self.sf() as db, db.begin():
            due = and_(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= now,
                OutboxMessage.platform.in_(platforms),
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            q = select(*cols).where(due).order_by(OutboxMessage.priority, OutboxMessage.id).limit(limit)
            if db.bind.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so select+update is atomic.
            rows = [Claimed(*r) for r in db.execute(q).all()]
            if rows:
                db.execute(update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                           .values(claimed_by=self.name, claimed_until=until))
            return rows

    # running --------------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> int:
        """Send one batch; returns how many rows were claimed (sent, retried, or released)."""
        if self.stopping.is_set():
            return 0
        now = now or utcnow()
        closed, probes = [], []
        for platform in self.senders:
            breaker = self.breakers.get(platform)
            if breaker is None or breaker.state == CLOSED:
                closed.append(platform)
            elif breaker.allow(now):
                probes.append(platform)
        claimed = self._claim(now, closed, self.batch_size)
        probe_ids = set()
        for platform in probes:   # an open breaker lets one request through after its cool-down
            got = self._claim(now, [platform], 1)
            if got:
                probe_ids.add(got[0].id)
                claimed += got
            else:
                self.breakers[platform].release_probe()
        if not claimed:
            return 0
        paused: dict[str, datetime] = {}
        work = [coalesce(self, lane, now) if self.coalesce_min else lane for lane in lanes(claimed)]
        if self.pool_size == 1 or len(work) == 1:
            for lane in work:
                self._run_lane(lane, now, paused, probe_ids)
        else:
            pool = self._executor()
            pending = {pool.submit(self._run_lane, lane, now, paused, probe_ids) for lane in work}
            while pending:
                _, pending = wait(pending, timeout=0.1)
                if pending and self._stop_at is not None and time.monotonic() > self._stop_at + self.stop_deadline:
                    log.warning("outbox.stop_deadline", extra={"in_flight": len(pending)})
                    break   # stop() gives their rows back; their next sender flags possible duplicates
        return len(claimed)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.pool_size, thread_name_prefix="outbox")
        return self._pool

    def _run_lane(self, lane: list[Claimed], now: datetime, paused: dict[str, datetime], probe_ids: set[int]) -> None:
        for item in lane:
            try:
                if self.stopping.is_set():
                    self._release(item.id, None)     # not started: another relay (or our successor) sends it
                    continue
                self._deliver(item, now, paused, probe=item.id in probe_ids)
            except Exception:   # a database hiccup: the lease expires and the row is retried
                log.exception("outbox.lane_error", extra={"outbox_id": item.id})

    def run_forever(self, stop: threading.Event, poll: float = 2.0) -> None:
        """Relay loop for a process or thread: send what is due, sleep `poll` when idle, never die.
        When `stop` is set: claim nothing new and return within stop_deadline (see stop())."""
        watcher = threading.Thread(target=self._watch_stop, args=(stop,), daemon=True, name="outbox-stop")
        watcher.start()
        while not stop.is_set():
            try:
                if self.run_once() == 0:
                    stop.wait(self._idle_wait(poll))
            except Exception:
                log.exception("outbox.loop_error")
                stop.wait(poll * 5)
        self.stop()

    def _watch_stop(self, stop: threading.Event) -> None:
        stop.wait()
        self._stop_at = time.monotonic()
        self.stopping.set()   # lanes of the running batch release the rows they have not started

    def _idle_wait(self, poll: float) -> float:
        """Sleep less than `poll` when a breaker's cool-down ends sooner (urgent rows are waiting)."""
        now = utcnow()
        ends = [b.reopens_at() for b in self.breakers.values() if b.state != CLOSED]
        soonest = min(((e - now).total_seconds() for e in ends if e is not None), default=poll)
        return max(0.05, min(poll, soonest))

    def stop(self) -> int:
        """Claim nothing new; wait up to stop_deadline for in-flight sends, then give back every row
        still claimed (one still in flight keeps its marker: its next sender flags a possible duplicate)."""
        self.stopping.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        with self.sf() as db, db.begin():
            res = db.execute(update(OutboxMessage).where(OutboxMessage.claimed_by == self.name,
                                                         OutboxMessage.status == OutboxStatus.PENDING,
                                                         OutboxMessage.claimed_until.is_not(None))
                             .values(claimed_until=None))
        released = res.rowcount or 0
        log.info("outbox.stopped", extra={"relay": self.name, "released": released})
        return released

    def drain(self, max_rounds: int = 1000, now: datetime | None = None) -> int:
        total = 0
        for _ in range(max_rounds):
            n = self.run_once(now)
            total += n
            if n == 0:
                break
        return total

    # delivering -----------------------------------------------------------------------------
    def start(self, row_id: int, now: datetime) -> OutboxMessage | None:
        """Commit the "in flight" marker; returns the row (detached) or None if not ours."""
        with self.sf() as db:
            row = db.get(OutboxMessage, row_id)
            if row is None or row.status != OutboxStatus.PENDING or row.claimed_by != self.name:
                return None
            suspect = bool(row.attempts > 0 and row.last_error
                           and row.last_error.startswith(("in flight", "unknown outcome")))
            if suspect:
                # the previous attempt may have reached the platform: say so, then send again
                log.warning("outbox.possible_duplicate", extra={"outbox_id": row.id, "ref": row.ref,
                                                                "previous": row.last_error[:120]})
            # conditional on still holding the claim, and the lease renewed from now: a batch that
            # took long must not send a row another relay has re-claimed meanwhile
            started = max(now, utcnow())
            res = db.execute(update(OutboxMessage)
                             .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.name,
                                    OutboxMessage.status == OutboxStatus.PENDING,
                                    OutboxMessage.attempts == row.attempts)
                             .values(attempts=OutboxMessage.attempts + 1, last_error=f"in flight by {self.name}",
                                     claimed_until=started + self.lease)
                             .execution_options(synchronize_session=False))
            db.commit()
            if res.rowcount != 1:
                return None
            db.expunge(row)   # what the UPDATE wrote, without reading (and decrypting) the row again
            row.attempts += 1
            row.last_error = f"in flight by {self.name}"
            row.claimed_until = started + self.lease
            row.suspect_duplicate = suspect  # type: ignore[attr-defined]  (transient, not a column)
            return row

    def send(self, row: OutboxMessage):
        sender = self.senders[row.platform]
        reply = reply_from_dict(row.payload)
        recipients = list(row.recipients or [])
        if row.kind == "update_card":
            return sender.update_card(recipients, reply, row)
        return sender.send(recipients, reply, row)

    def _deliver(self, item: Claimed, now: datetime, paused: dict[str, datetime], probe: bool = False) -> None:
        breaker = self.breakers.get(item.platform)
        if item.platform in paused:
            self._release(item.id, paused[item.platform])
            return
        if breaker is not None and not probe and breaker.state != CLOSED:
            self._release(item.id, breaker.reopens_at())   # the platform is down: wait, attempts untouched
            return
        if self.pacer is not None and item.kind == "send" and not self._paced(item, now):
            if probe and breaker is not None:
                breaker.release_probe()
            return
        row = self.start(item.id, now)
        if row is None:
            if probe and breaker is not None:
                breaker.release_probe()
            return
        try:
            result = self.send(row)
        except TokenExpired as exc:
            self._retry(row, str(exc), delay=0, now=now)
            return
        except RateLimited as exc:
            delay = exc.retry_after if exc.retry_after is not None else 60
            paused[row.platform] = now + timedelta(seconds=delay)
            self._retry(row, str(exc), delay=delay, now=now)
            return
        except TransientError as exc:
            if breaker is not None:
                breaker.failure(now)
            if breaker is not None and breaker.state != CLOSED:
                # the outage, not the row: wait for the breaker, never towards dead-letter for it
                reopen = breaker.reopens_at() or now
                self._retry(row, str(exc), delay=max((reopen - now).total_seconds(), 0.0), now=now, count=False)
            else:
                self._retry(row, str(exc), delay=exc.retry_after, now=now)
            return
        except PermanentError as exc:
            if breaker is not None:
                breaker.success(now)   # the platform answered
            error = str(exc)
            if getattr(row, "suspect_duplicate", False):
                # e.g. a card re-sent with the same task_id: the first attempt may well have arrived
                error = f"refused after an attempt with unknown outcome (may have been delivered): {error}"
            self._dead(row, error)
            return
        except Exception as exc:  # unknown failure: retry with backoff, never lose the row
            if probe and breaker is not None:
                breaker.release_probe()
            log.exception("outbox.send_crashed", extra={"outbox_id": row.id})
            self._retry(row, f"{type(exc).__name__}", delay=None, now=now)
            return
        if breaker is not None:
            breaker.success(now)
        self.mark_sent(row, result)

    def _paced(self, item: Claimed, now: datetime) -> bool:
        """Take a send slot for every recipient; False when the row waits (released or split)."""
        assert self.pacer is not None
        refused, wait_s = self.pacer.take(item.platform, list(item.recipients or []), now)
        if not refused:
            return True
        later = now + timedelta(seconds=wait_s)
        if len(refused) < len(item.recipients or []) and item.attempts == 0:
            from .relay_merge import split_off
            split_off(self, item, refused, later)   # the others go now, those without a slot later
            return True
        self._release(item.id, later)
        if self.metrics:
            self.metrics.outbox_paced.labels(item.platform).inc()
        return False

    def mark_sent(self, row: OutboxMessage, result: SendResult) -> bool:
        note = None
        if getattr(row, "suspect_duplicate", False):
            note = "possible duplicate: an earlier attempt's outcome was unknown (resent)"
        values = dict(status=OutboxStatus.SENT, sent_at=utcnow(), platform_msgid=result.msgid,
                      invalid_users=result.invalid_users, last_error=note, claimed_until=None)
        if result.response_code:
            values["response_code"] = result.response_code
        ok = self._update_mine(row, values)
        if not ok:
            log.error("outbox.lease_lost", extra={"outbox_id": row.id, "msgid": result.msgid})
            return False
        if self.metrics:
            self.metrics.outbox_sent.labels(row.platform).inc()
        log.info("outbox.sent", extra={"outbox_id": row.id, "platform": row.platform,
                                       "msgid": result.msgid, "n": len(row.recipients or [])})
        return True

    def _update_mine(self, row: OutboxMessage, values: dict) -> bool:
        with self.sf() as db, db.begin():
            res = db.execute(update(OutboxMessage).where(OutboxMessage.id == row.id,
                                                         OutboxMessage.claimed_by == self.name,
                                                         OutboxMessage.status == OutboxStatus.PENDING)
                             .values(**values))
            return res.rowcount == 1

    def _release(self, row_id: int, until: datetime | None) -> None:
        """Give a claimed row back without using an attempt (platform paused or down, no send slot,
        stopping); `until` None keeps its due time."""
        values: dict = dict(claimed_until=None)
        if until is not None:
            values["next_attempt_at"] = until
        with self.sf() as db, db.begin():
            db.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == self.name,
                                                   OutboxMessage.status == OutboxStatus.PENDING)
                       .values(**values))

    def backoff(self, attempts: int) -> float:
        cap = min(self.backoff_cap, self.backoff_base * (2 ** max(attempts - 1, 0)))
        return random.uniform(cap / 2, cap)  # "equal jitter": never zero, never above the cap

    def _retry(self, row: OutboxMessage, error: str, delay: float | None, now: datetime, count: bool = True) -> None:
        """Back off; `count=False` (an outage the breaker caught): the row never dies of it."""
        if count and row.attempts >= self.max_attempts:
            self._dead(row, error)
            return
        if delay is None:
            delay = self.backoff(row.attempts)
        values: dict = dict(next_attempt_at=now + timedelta(seconds=delay), last_error=error[:500], claimed_until=None)
        if not count and row.attempts >= self.max_attempts:
            values["attempts"] = self.max_attempts - 1   # keeps "attempted" (duplicate detection), not dead
        self._update_mine(row, values)
        if self.metrics:
            self.metrics.outbox_failures.labels(row.platform).inc()
        log.warning("outbox.retry", extra={"outbox_id": row.id, "attempts": row.attempts, "error": error[:200],
                                           "delay": round(delay, 1)})

    def _dead(self, row: OutboxMessage, error: str) -> None:
        self._update_mine(row, dict(status=OutboxStatus.DEAD, last_error=error[:500], claimed_until=None))
        if self.metrics:
            self.metrics.outbox_failures.labels(row.platform).inc()
        log.error("outbox.dead", extra={"outbox_id": row.id, "attempts": row.attempts, "error": error[:200]})
