"""One Redis round trip to start a turn, one to end it.

A turn is the handling of one inbound delivery. It needs the dedupe claim (bot.dedupe), the
user's conversation lock, the dialog state and the "a dialog existed" marker (bot.state). As
separate commands that was five round trips per message, the largest share of the text path's
cost (bench/README.md). The two Lua scripts below do the same work, atomically, in two:

  begin: handled already? → claim "in progress" → take the user's lock → load the state (or
         pop the marker of a dialog that expired since the user's last message)
  end:   save or clear the state (+ marker) → mark the delivery handled → release the lock

Making "state saved" and "delivery handled" one atomic step closes a gap the separate commands
had: a worker killed between saving a dialog answer and marking the delivery handled left the
answer saved while the platform's retry was processed again, against the next step.

The keys are those of bot.dedupe and bot.state, on one Redis (not a cluster: the keys of a turn
do not share a hash slot). Lock semantics are redis-py's Lock: a random token, PX expiry, and
release only by the holder.
"""
from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from .active_days import ACTIVE_DAYS_KEY, ACTIVE_PREFIX, ACTIVE_TTL_SECONDS
from .dedupe import HANDLED, IN_PROGRESS, Deduper
from .identity import ROSTER_VERSION_KEY, TALKS_VERSION_KEY
from .pacing import take_lua
from .state import ConversationBusy, ConversationStore, FormState

__all__ = ["TooFast", "Turn", "TurnGate"]

log = logging.getLogger("lianxin.dispatch")

# With ARGV[10] set, the user's inbound window (bot.inbound_limit) comes first: KEYS[9] its log,
# KEYS[10] the "told to slow down" marker, ARGV[10..] the window's arguments; a refused message
# takes no slot and claims nothing ({4, 1}: tell the user, {4, 0}: stay silent).
_BEGIN = """
if ARGV[10] and ARGV[10] ~= '' then
""" + take_lua("KEYS[9]", "ARGV[10]", "ARGV[11]", 12) + """
  if wait > 0 then
    if redis.call('SET', KEYS[10], 1, 'NX', 'EX', math.max(1, math.ceil(wait))) then return {4, 1} end
    return {4, 0}
  end
end
local d = redis.call('GET', KEYS[1])
if d == ARGV[4] then return {0} end
local v = redis.call('GET', KEYS[5])
local tv = redis.call('GET', KEYS[8])
if not v or not tv then
  local t = redis.call('TIME')
  local fresh = 't' .. t[1] .. '.' .. t[2]
  if not v then v = fresh; redis.call('SET', KEYS[5], v) end
  if not tv then tv = fresh; redis.call('SET', KEYS[8], tv) end
end
if ARGV[7] ~= '' then
  redis.call('SADD', KEYS[6], ARGV[7])
  redis.call('EXPIRE', KEYS[6], ARGV[8])
  redis.call('SADD', KEYS[7], ARGV[9])
end
if ARGV[6] == '1' and not d and redis.call('EXISTS', KEYS[3], KEYS[4]) == 0 then
  redis.call('SET', KEYS[1], ARGV[4], 'EX', ARGV[1])
  return {3, false, false, v, tv}
end
if not d then redis.call('SET', KEYS[1], ARGV[5], 'EX', ARGV[1]) end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return {1} end
local s = redis.call('GET', KEYS[3])
if s then return {2, s, false, v, tv} end
local seen = redis.call('GET', KEYS[4])
if seen then
  redis.call('DEL', KEYS[4])
  return {2, false, seen, v, tv}
end
return {2, false, false, v, tv}
"""

_END = """
if ARGV[3] == 'save' then
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
  redis.call('SET', KEYS[4], ARGV[6], 'EX', ARGV[7])
elseif ARGV[3] == 'clear' then
  redis.call('DEL', KEYS[3], KEYS[4])
end
redis.call('SET', KEYS[1], ARGV[8], 'EX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""

_ABORT = """
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""


class _Script:
    """EVALSHA, loading the script when Redis does not know it (restarted, flushed). redis-py's
    own Script object does the same with more bookkeeping per call; on the text path it showed."""

    def __init__(self, client: redis.Redis, source: str) -> None:
        self.r = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return self.r.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self.r.script_load(self.source)
            return self.r.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


@dataclass
class Turn:
    """A started turn: the keys it holds and what `begin` loaded."""
    keys: list[str]          # dedupe, lock, state, expiry marker
    token: str
    state: FormState | None
    expired_form: str | None
    roster_version: object = None   # bot.identity: the sender cached under another version is reloaded
    light: bool = False             # a read-only command outside a dialog: handled already, no lock, no end
    talks_version: object = None    # cached views that count talks are rebuilt when it changes


@dataclass
class TooFast:
    """The user's inbound window is full: the message is not handled (`warned`: tell them once)."""
    warned: bool


class TurnGate:
    def __init__(self, store: ConversationStore, deduper: Deduper, poll_seconds: float = 0.02) -> None:
        self.store = store
        self.deduper = deduper
        self.r: redis.Redis = store.r
        self.poll = poll_seconds
        self._begin = _Script(self.r, _BEGIN)
        self._end = _Script(self.r, _END)
        self._abort = _Script(self.r, _ABORT)

    def begin(self, platform: str, delivery_key: str, user: str, *, read_only: bool = False,
              active: tuple[str, str] | None = None,
              limit: tuple[list[str], list[Any]] | None = None) -> Turn | TooFast | None:
        """None for a repeat of a delivery already handled; TooFast when `limit` (the keys and
        arguments of bot.inbound_limit) refuses the message; else the started turn.

        read_only: the message is a command that only reads. If the user has no dialog going, the
        delivery is marked handled at once and no lock is taken: the turn is light, nothing ends it
        (a worker killed during it loses that one answer; the platform's retry is refused).
        active: (day, member) recorded in the day's set of active users (bot.active_days).

        Waits for the user's lock while another worker holds it, longer than the lock's own
        expiry so that a dead holder's lock runs out first; then raises ConversationBusy."""
        conv = self.store.key(platform, user)
        day, member = active or ("", "")
        keys = [self.deduper.key(platform, delivery_key), f"lock:{conv}", conv, f"convseen:{platform}:{user}",
                ROSTER_VERSION_KEY, f"{ACTIVE_PREFIX}{day}", ACTIVE_DAYS_KEY, TALKS_VERSION_KEY]
        token = uuid.uuid4().hex
        lock_ms = int(self.store.lock_timeout * 1000)
        deadline = time.monotonic() + self.store.lock_timeout + 1
        args = [self.deduper.ttl, token, lock_ms, HANDLED, IN_PROGRESS, "1" if read_only else "",
                member, ACTIVE_TTL_SECONDS, day]
        if limit is not None:
            keys += limit[0]
            args += limit[1]
        while True:
            res = self._begin(keys=keys, args=args)
            if res[0] == 0:
                return None
            if res[0] == 4:
                return TooFast(bool(res[1]))
            del args[9:]   # the window's slot is taken once, not again while waiting for the lock
            if res[0] >= 2:
                raw, seen, version = res[1], res[2], res[3]
                return Turn(keys[:4], token, FormState.from_json(raw) if raw else None,
                            seen.decode() if seen else None, version, light=res[0] == 3, talks_version=res[4])
            if time.monotonic() >= deadline:
                self.deduper.release(platform, delivery_key)   # let the platform's retry through
                raise ConversationBusy(user)
            time.sleep(self.poll)

    def end(self, turn: Turn, *, state: FormState | None, keep: bool = False, ttl: int = 0) -> None:
        """The turn's transaction committed (or found the delivery handled): save `state` (None
        clears it; keep=True leaves it as it was), mark the delivery handled, unlock."""
        if keep:
            args = [turn.token, self.deduper.ttl, "keep", "", 0, "", 0, HANDLED]
        elif state is None:
            args = [turn.token, self.deduper.ttl, "clear", "", 0, "", 0, HANDLED]
        else:
            args = [turn.token, self.deduper.ttl, "save", state.to_json(), ttl, state.form, ttl * 48, HANDLED]
        self._end(keys=turn.keys, args=args)

    def abort(self, turn: Turn) -> None:
        """Handling failed and rolled back: forget the claim (the retry must be processed), unlock.

        Best effort, so that the original error reaches the caller: if Redis is unreachable, the
        claim stays "in progress" (which lets a retry in) and the lock expires by itself."""
        try:
            self._abort(keys=turn.keys[:2], args=[turn.token])
        except redis.exceptions.RedisError as exc:
            log.warning("turn.abort_failed", extra={"error": type(exc).__name__})
