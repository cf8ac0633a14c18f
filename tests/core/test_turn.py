"""bot.turn: the two Redis scripts around every delivery, on fakeredis and on the real Redis."""
from __future__ import annotations

import threading
import time

import pytest

from bot.dedupe import Deduper
from bot.state import ConversationBusy, ConversationStore, FormState
from bot.turn import TurnGate


@pytest.fixture
def gate(services):
    store = ConversationStore(services.redis, ttl_seconds=600, lock_timeout=1)
    return TurnGate(store, Deduper(services.redis, ttl_seconds=3600), poll_seconds=0.01)


def _state(step: str) -> FormState:
    return FormState(form="talk", form_id="f1", step=step)


def test_a_handled_delivery_is_refused_and_the_saved_state_is_what_the_next_turn_loads(gate):
    turn = gate.begin("wecom", "m1", "zhangsan")
    assert turn is not None and turn.state is None
    gate.end(turn, state=_state("note"), ttl=600)
    assert gate.begin("wecom", "m1", "zhangsan") is None          # WeCom's retry of m1
    nxt = gate.begin("wecom", "m2", "zhangsan")
    assert nxt.state.step == "note"
    gate.end(nxt, state=None)                                      # the dialog finished
    last = gate.begin("wecom", "m3", "zhangsan")
    assert last.state is None and last.expired_form is None        # finished, so not "expired"
    gate.end(last, state=None)


def test_a_second_delivery_waits_for_the_first_and_sees_its_answer(gate):
    first = gate.begin("wecom", "m1", "lisi")
    seen = {}

    def second():
        t = gate.begin("wecom", "m2", "lisi")
        seen["state"] = t.state
        gate.end(t, state=t.state, ttl=600)

    worker = threading.Thread(target=second)
    worker.start()
    time.sleep(0.1)
    assert "state" not in seen                                     # still waiting for lisi's lock
    gate.end(first, state=_state("category"), ttl=600)
    worker.join(3)
    assert seen["state"].step == "category"                        # lock, then load: not a stale copy


def test_a_failed_turn_lets_the_platforms_retry_through(gate):
    turn = gate.begin("wecom", "m1", "wangwu")
    gate.abort(turn)                                               # the transaction rolled back
    retry = gate.begin("wecom", "m1", "wangwu")
    assert retry is not None                                       # processed, not refused
    gate.end(retry, state=None)


def test_a_user_held_longer_than_the_lock_wait_gets_busy_and_the_claim_is_released(gate, services):
    services.redis.set("lock:conv:wecom:zhaoliu", "someone-else", px=5000)   # a stuck holder
    with pytest.raises(ConversationBusy):
        gate.begin("wecom", "m9", "zhaoliu")
    assert services.redis.get("dedupe:wecom:m9") is None           # WeCom's retry will be processed


def test_a_dialog_that_expired_is_reported_once(gate, services):
    turn = gate.begin("wecom", "m1", "sunqi")
    gate.end(turn, state=_state("note"), ttl=600)
    services.redis.delete("conv:wecom:sunqi")                      # what the TTL does
    nxt = gate.begin("wecom", "m2", "sunqi")
    assert nxt.state is None and nxt.expired_form == "talk"
    gate.end(nxt, state=None)
    again = gate.begin("wecom", "m3", "sunqi")
    assert again.expired_form is None
    gate.end(again, state=None)


def test_the_inbound_window_is_checked_in_the_begin_script_once_per_message(gate, services):
    """Two turns per window: the third message is refused before it claims anything (told once, then
    silence), and a message that waited for the user's lock took one slot, not one per poll."""
    from datetime import UTC, datetime

    from bot.inbound_limit import InboundLimiter
    from bot.turn import TooFast

    limiter = InboundLimiter(services.redis, max_turns=2, window_seconds=60)

    def begin(msg):
        return gate.begin("wecom", msg, "sunqi", limit=(limiter.keys("wecom", "sunqi"),
                                                        limiter.args(datetime.now(UTC))))

    first = begin("m1")
    seen = {}

    def second():
        seen["turn"] = begin("m2")           # polls while m1 holds sunqi's lock

    worker = threading.Thread(target=second)
    worker.start()
    time.sleep(0.1)
    gate.end(first, state=None)
    worker.join(3)
    gate.end(seen["turn"], state=None)
    assert services.redis.zcard("lianxin:inbound:wecom:sunqi") == 2
    assert begin("m3") == TooFast(warned=True)
    assert begin("m4") == TooFast(warned=False)
    assert services.redis.get("dedupe:wecom:m3") is None          # refused before the claim: a retry is handled
