"""Outbox delivery under WeCom faults: 500, timeouts, 42001, 45009, a dispatcher killed between
send and mark. Every message ends up sent exactly once (counted by platform msgid) or, when the
outcome of an attempt is unknown, re-sent with the duplicate detected, noted and logged."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import requests
import responses
from sqlalchemy import select

from bot.messages import Button, Card, Text
from bot.outbox import enqueue
from models.base import utcnow
from models.outbox import OutboxMessage
from tests.helpers import API


@pytest.fixture
def config_overrides():
    return {"delivery.platforms": ["wecom"]}


def queue(services, n: int) -> list[int]:
    with services.session_factory() as db:
        rows = []
        for i in range(n):
            reply = Text(f"通知 {i}") if i % 2 else Card(title=f"卡片 {i}", buttons=(Button("好", f"x:{i}"),),
                                                          card_id=f"t{i}")
            rows += enqueue(db, platform="wecom", recipients=[f"user{i}"], reply=reply, ref=f"t{i}")
        db.commit()
        return [r.id for r in rows]


def run_until_quiet(d, start, rounds=60, step=timedelta(minutes=11)):
    now = start
    for _ in range(rounds):
        d.run_once(now)
        with d.sf() as db:
            if not db.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "pending")).first():
                return now
        now += step
    raise AssertionError("outbox did not drain")


def rows(services):
    with services.session_factory() as db:
        return db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_500_timeout_42001_and_45009_every_message_sent_exactly_once(services, api):
    ids = queue(services, 6)
    api.script = [500, requests.exceptions.ConnectTimeout("connect timeout"),
                  {"errcode": 42001, "errmsg": "access_token expired"},
                  {"errcode": 45009, "errmsg": "api freq out of limit"}, 503,
                  requests.exceptions.ConnectionError("reset")]
    d = services.outbox_dispatcher(pool_size=1)   # the faults in this order; the pool has tests of its own
    run_until_quiet(d, utcnow())
    assert api.script == []                    # every fault was served
    got = rows(services)
    assert [r.id for r in got] == ids and all(r.status == "sent" for r in got)
    assert len(api.sent) == 6                  # none lost, none sent twice
    msgids = [r.platform_msgid for r in got]
    assert None not in msgids and len(set(msgids)) == 6
    assert sorted(m["touser"] for m in api.sent) == sorted(f"user{i}" for i in range(6))
    assert api.token_calls == 2                # 42001: one refresh, then the same attempt succeeded
    assert all(r.response_code for r in got if r.payload["type"] == "card")


def test_rate_limit_pauses_the_platform_without_spending_attempts(services, api):
    queue(services, 4)
    api.script = [{"errcode": 45009, "errmsg": "api freq out of limit"}]
    d = services.outbox_dispatcher(pool_size=1)   # one send at a time: "the rest of the batch" is well defined
    now = utcnow()
    assert d.run_once(now) == 4
    got = rows(services)
    assert [r.attempts for r in got] == [1, 0, 0, 0]     # the rest of the batch was not tried
    assert all(r.status == "pending" and r.next_attempt_at >= now + timedelta(seconds=60) for r in got)
    assert d.run_once(now + timedelta(seconds=30)) == 0   # still paused
    d.run_once(now + timedelta(seconds=61))
    assert all(r.status == "sent" for r in rows(services)) and len(api.sent) == 4


def test_dead_after_max_attempts_is_listed_and_resent_by_admin(services, api, wecom):
    [row_id] = queue(services, 1)
    api.script = [500] * 8
    d = services.outbox_dispatcher()
    run_until_quiet(d, utcnow())
    [row] = rows(services)
    assert row.status == "dead" and row.attempts == 8 and "HTTP 500" in row.last_error
    listing = wecom.say("admin", "死信")
    assert f"#{row_id}" in listing and "user0" in listing and "尝试8次" in listing
    assert "仅对" in wecom.say("liqiang", "死信")
    assert "已重新排队 1 条" in wecom.say("admin", f"重发 {row_id}")
    d.drain()
    [row] = rows(services)
    assert row.status == "sent" and row.platform_msgid and len(api.sent) == 1


def test_dispatcher_killed_between_send_and_mark_loses_nothing_and_logs_duplicate(services, api, caplog):
    [row_id] = queue(services, 1)
    now = utcnow()
    d1 = services.outbox_dispatcher(name="d1")
    assert d1.claim(now) == [row_id]
    row = d1.start(row_id, now)
    result = d1.send(row)              # reached WeCom ... and the process dies before mark_sent
    d2 = services.outbox_dispatcher(name="d2")
    assert d2.run_once(now + timedelta(seconds=60)) == 0    # lease still held by d1
    assert d2.run_once(now + timedelta(seconds=121)) == 1   # lease expired: taken over
    [row2] = rows(services)
    assert row2.status == "sent" and row2.claimed_by == "d2"
    assert "possible duplicate" in row2.last_error
    assert any(r.message == "outbox.possible_duplicate" for r in caplog.records)
    # the repeat is byte-identical apart from the token, with WeCom's duplicate check on (1,800 s)
    first, second = api.sent
    for body in (first, second):
        body.pop("_token", None)
        assert body["enable_duplicate_check"] == 1 and body["duplicate_check_interval"] == 1800
    assert first == second
    # the "dead" dispatcher coming back cannot overwrite the new holder's outcome
    assert d1.mark_sent(row, result) is False
    assert any(r.message == "outbox.lease_lost" for r in caplog.records)


def test_read_timeout_after_delivery_is_resent_and_flagged(services, api, caplog):
    queue(services, 1)
    delivered = []

    def lost_answer(request):
        delivered.append(json.loads(request.body))
        raise requests.exceptions.ReadTimeout("read timeout")

    api.rsps.remove(responses.POST, API + "message/send")
    api.rsps.add_callback(responses.POST, API + "message/send", callback=lost_answer)
    d = services.outbox_dispatcher()
    now = utcnow()
    d.run_once(now)
    [row] = rows(services)
    assert row.status == "pending" and row.last_error.startswith("unknown outcome")
    api.rsps.remove(responses.POST, API + "message/send")
    api.rsps.add_callback(responses.POST, API + "message/send", callback=api._send)
    run_until_quiet(d, now + timedelta(minutes=11))
    [row] = rows(services)
    assert row.status == "sent" and "possible duplicate" in row.last_error
    assert any(r.message == "outbox.possible_duplicate" for r in caplog.records)
    assert len(delivered) == 1 and len(api.sent) == 1


def test_token_refresh_is_single_flight_and_key_has_no_secret(services, api):
    client = services.senders["wecom"].client
    client.session.set(client.access_token_key, "OLD", 7200)
    barrier = threading.Barrier(4)
    got = []

    def worker():
        barrier.wait()
        got.append(client.refresh_token(stale="OLD"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert api.token_calls == 1 and got == ["TOKEN1"] * 4
    secret = services.config.get("wecom.secret")
    assert all(secret[:6] not in k.decode() for k in services.redis.keys("*"))


def test_card_update_with_a_refused_response_code_falls_back_to_a_new_card(services, api):
    card = Card(title="关爱申请 #1", buttons=(Button("同意", "case:1:approve"),), card_id="case1_care1",
                done_text="已同意")
    with services.session_factory() as db:
        enqueue(db, platform="wecom", kind="update_card", recipients=["zhaomin"], reply=card,
                response_code="USED-OR-EXPIRED", ref="case1_care1")
        db.commit()
    api.rsps.remove(responses.POST, API + "message/update_template_card")
    api.rsps.add(responses.POST, API + "message/update_template_card",
                 json={"errcode": 40058, "errmsg": "invalid response_code"})
    services.outbox_dispatcher().drain()
    [row] = rows(services)
    assert row.status == "sent"
    [sent] = api.cards_to("zhaomin")   # the decision still reaches her, as a new (greyed) card
    assert sent["replace_text"] == "已同意" and sent["task_id"] != "case1_care1"


def test_a_slow_batch_does_not_send_a_row_another_dispatcher_took_over(services, api):
    [row_id] = queue(services, 1)
    now = utcnow()
    d1, d2 = services.outbox_dispatcher(name="d1"), services.outbox_dispatcher(name="d2")
    assert d1.claim(now) == [row_id]          # d1 is busy with earlier rows of its batch ...
    later = now + timedelta(seconds=130)      # ... its lease on this one runs out
    assert d2.run_once(later) == 1
    assert d1.start(row_id, later) is None    # d1 reaches the row: no longer its claim, not sent again
    assert len(api.sent) == 1 and rows(services)[0].status == "sent"
