"""The outbox relay as a user of WeCom notices it: urgent messages first, a card before its update,
no more than WeCom accepts per member per minute (nothing lost, nothing silently dropped), piles
of notifications merged, one polite answer to a burst, mass reminders spread, and a private
deployment's api_base used for every call."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.simulator import sim_incoming
from bot.inbound_limit import TOO_FAST_TEXT
from bot.messages import Button, Card, Text
from bot.outbox import Priority, enqueue
from bot.pacing import spread_time
from models.base import utcnow
from models.outbox import OutboxMessage
from tests.fake_wecom_server import FakeWeComServer


@pytest.fixture
def config_overrides():
    return {"delivery.platforms": ["wecom"]}


def rows(services):
    with services.session_factory() as db:
        return db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def add(services, *items):
    """items: (recipients, reply, priority[, kind, ref])"""
    with services.session_factory() as db:
        for recipients, reply, priority, *rest in items:
            kind, ref = (rest + ["send", ""])[:2] if rest else ("send", "")
            enqueue(db, platform="wecom", recipients=recipients, reply=reply, priority=priority, kind=kind, ref=ref)
        db.commit()


def flag_card(n: int) -> Card:
    return Card(title=f"标记谈话 #{n}", body="需要关注", buttons=(Button("认领", f"case:{n}:ack"),), card_id=f"case{n}_flag")


def test_urgent_flag_card_goes_before_a_backlog_of_broadcasts(services, api):
    add(services, *[([f"user{i}"], Text(f"活动通知 {i}"), Priority.BULK) for i in range(120)])
    add(services, (["zhaomin"], flag_card(1), Priority.URGENT))
    relay = services.outbox_dispatcher(batch_size=20, pool_size=4)
    relay.run_once()
    # the first batch had room for 20 of 121: the secretary's flag card was among them
    assert api.cards_to("zhaomin") and len(api.sent) == 20
    relay.drain()
    assert len(api.sent) == 121 and all(r.status == "sent" for r in rows(services))


def test_a_card_update_never_overtakes_its_card_even_when_more_urgent(services, api):
    card = flag_card(2)
    add(services, (["zhaomin"], card, Priority.NORMAL, "send", card.card_id),
        (["zhaomin"], Text("另一条"), Priority.BULK),
        (["zhaomin"], card, Priority.URGENT, "update_card", f"update:{card.card_id}"))
    services.outbox_dispatcher(pool_size=8).drain()
    sent = [m.get("msgtype") for m in api.to("zhaomin")]
    # the update has no response code yet, so it goes out as a new card: after the original
    assert sent[:2] == ["template_card", "template_card"] and sent[2] == "text"


def test_forty_notifications_to_one_member_at_most_thirty_a_minute_nothing_lost_urgent_first(services, api):
    items = [(["zhaomin"], Text(f"帮扶进展 #{i}：已走访"), Priority.NORMAL) for i in range(39)]
    items.insert(20, (["zhaomin"], flag_card(3), Priority.URGENT))
    add(services, *items)
    relay = services.outbox_dispatcher(coalesce_min=0)       # pacing alone (merging is the next test)
    t0 = utcnow()
    for s in range(0, 60, 5):                                 # one relay pass every 5 s for a minute
        relay.run_once(t0 + timedelta(seconds=s))
    first_minute = len(api.to("zhaomin"))
    assert first_minute == 30                                 # WeCom would drop the 31st: it waits instead
    assert api.to("zhaomin")[0]["msgtype"] == "template_card"  # the urgent flag card went first
    for s in range(60, 200, 5):
        relay.run_once(t0 + timedelta(seconds=s))
    got = rows(services)
    assert all(r.status == "sent" for r in got) and len(api.to("zhaomin")) == 40   # nothing lost
    assert all(r.attempts == 1 for r in got)                 # waiting for a slot used no attempt
    texts = api.texts_to("zhaomin")
    assert sorted(texts) == sorted(f"帮扶进展 #{i}：已走访" for i in range(39))


def test_a_pile_of_notifications_becomes_one_message_urgent_still_first(services, api):
    items = [(["zhaomin"], Text(f"帮扶进展 #{i}：已走访"), Priority.NORMAL) for i in range(39)]
    items.insert(20, (["zhaomin"], flag_card(4), Priority.URGENT))
    add(services, *items)
    services.outbox_dispatcher().drain()
    sent = api.to("zhaomin")
    assert sent[0]["msgtype"] == "template_card"
    merged = "\n".join(api.texts_to("zhaomin"))
    assert len(sent) <= 5 and "条新通知" in merged            # a few messages instead of 40
    assert all(f"帮扶进展 #{i}：已走访" in merged for i in range(39))  # every one of them is in there
    got = rows(services)
    assert {r.status for r in got} == {"sent", "merged"}
    assert sum(r.status == "merged" for r in got) == 39
    assert all(r.last_error.startswith("merged into #") for r in got if r.status == "merged")


def test_a_broadcast_to_many_is_split_around_members_without_a_slot(services, api):
    add(services, *[(["zhaomin"], Text(f"通知 {i}"), Priority.NORMAL) for i in range(30)])
    relay = services.outbox_dispatcher(coalesce_min=0)
    t0 = utcnow()
    relay.run_once(t0)
    add(services, (["zhaomin", "liqiang", "wangwu"], Text("季度提醒"), Priority.BULK))
    relay.run_once(utcnow() + timedelta(seconds=1))
    assert [m["touser"] for m in api.sent if m.get("text", {}).get("content") == "季度提醒"] == ["liqiang|wangwu"]
    relay.run_once(t0 + timedelta(seconds=70))
    assert api.texts_to("zhaomin")[-1] == "季度提醒" and all(r.status == "sent" for r in rows(services))


def test_every_wecom_call_goes_to_api_base_token_included(stack, clock):
    from bot.cli.wiring import build_services
    from tests.conftest import make_config

    engine, r = stack
    with FakeWeComServer() as fake:
        config = make_config(engine.url.render_as_string(hide_password=False),
                             **{"delivery.platforms": ["wecom"], "wecom.api_base": fake.api_base})
        services = build_services(config, redis_client=r, clock=clock, engine=engine)
        add(services, (["zhaomin"], Text("私有化部署"), Priority.NORMAL), (["liqiang"], flag_card(5), Priority.URGENT))
        services.outbox_dispatcher().drain()
        assert fake.paths.count("/cgi-bin/gettoken") == 1
        assert sorted(fake.paths) == sorted(["/cgi-bin/gettoken", "/cgi-bin/message/send", "/cgi-bin/message/send"])
        assert all(r.status == "sent" for r in rows(services))


@pytest.mark.parametrize("config_overrides", [{"delivery.platforms": ["sim"], "inbound.max_turns": 10,
                                               "inbound.window_seconds": 10}])
def test_a_burst_of_messages_gets_one_polite_answer(services, clock):
    answers = [services.dispatcher.handle(sim_incoming("liqiang", text="帮助")).text for _ in range(40)]
    assert all(a and a != TOO_FAST_TEXT for a in answers[:10])
    assert answers[10] == TOO_FAST_TEXT and answers[11:] == [""] * 29
    clock.advance(seconds=11)
    assert services.dispatcher.handle(sim_incoming("liqiang", text="帮助")).text not in ("", TOO_FAST_TEXT)
    assert services.dispatcher.handle(sim_incoming("zhaomin", text="帮助")).text not in ("", TOO_FAST_TEXT)


def test_mass_sends_are_spread_and_avoid_the_hour_and_half_hour():
    start = utcnow().replace(minute=0, second=0, microsecond=0)
    times = [spread_time(start, f"talk-reminder:{i}", 900) for i in range(2000)]
    assert all(start <= t < start + timedelta(seconds=1020) for t in times)
    assert not any(t.minute in (0, 30) for t in times)
    per_minute = {}
    for t in times:
        per_minute[t.minute] = per_minute.get(t.minute, 0) + 1
    assert max(per_minute.values()) < 2000 / 10                   # no minute gets the crowd
    assert spread_time(start, "talk-reminder:7", 900) == times[7]  # a re-run lands on the same time


def test_metrics_show_backlog_by_priority_and_the_breaker(services, client):
    from tests.delivery.test_metrics import _scrape

    add(services, (["zhaomin"], flag_card(6), Priority.URGENT), (["liqiang"], Text("周报"), Priority.BULK),
        (["wangwu"], Text("周报"), Priority.BULK))
    services.outbox_dispatcher().breakers["wecom"]._open(utcnow())   # as a relay process would publish it
    m = _scrape(client)
    assert m[("lianxin_outbox_pending", (("priority", "urgent"),))] == 1
    assert m[("lianxin_outbox_pending", (("priority", "bulk"),))] == 2
    assert m[("lianxin_outbox_breaker_state", (("platform", "wecom"),))] == 2
