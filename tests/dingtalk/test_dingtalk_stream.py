"""Stream mode on a fake gateway: messages and clicks reach the same dispatcher as HTTP mode, and
the SDK's known failure modes are guarded (PROTOCOLS.md §5.6): a silent dead connection is
replaced by the watchdog, a re-pushed frame is handled once, a burst is bounded and every frame
is acked only after its turn committed."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from bot.adapters.dingtalk import out_track_id
from bot.adapters.dingtalk_stream import CARD_TOPIC, ROBOT_TOPIC
from models.outbox import ProcessedDelivery
from tests.dingtalk_helpers import DINGTALK_OVERRIDES, card_callback_body, message_body
from tests.dingtalk_stream_helpers import start_stream


@pytest.fixture
def config_overrides():
    return {"delivery.platforms": ["dingtalk"], **DINGTALK_OVERRIDES, "dingtalk.stream_mode": True}


def answers(dt_api, body) -> list[str]:
    return [b["text"]["content"] for u, b in dt_api.session if u == body["sessionWebhook"]]


def test_a_message_over_stream_is_answered_through_the_session_webhook(dingtalk_stream, dt_api):
    body = message_body("dt_zhangsan", "我的信息", now_ms=dingtalk_stream.now_ms())
    ack = dingtalk_stream.gateway.push(ROBOT_TOPIC, body)
    assert ack["code"] == 200 and ack["headers"]["contentType"] == "application/json"
    assert "张三" in answers(dt_api, body)[0]


def test_ping_is_answered_with_its_opaque(dingtalk_stream):
    gw = dingtalk_stream.gateway
    gw.system("ping", {"opaque": "abc-123"})
    body = message_body("dt_zhangsan", "帮助", now_ms=dingtalk_stream.now_ms())
    gw.push(ROBOT_TOPIC, body)   # frames are answered in order: the ping's ack came first
    pongs = [a for a in gw.acks.values() if a.get("data") and "abc-123" in a["data"]]
    assert len(pongs) == 1 and pongs[0]["code"] == 200


def test_cards_are_delivered_with_stream_callbacks(dingtalk_stream, dt_api, services):
    dingtalk_stream.say("dt_zhouli", "谈话")
    assert "2 位相符" in dingtalk_stream.say("dt_zhouli", "张")   # a choice card follows
    services.outbox_dispatcher().drain()
    assert dt_api.cards and all(c["callbackType"] == "STREAM" and "callbackRouteKey" not in c for c in dt_api.cards)


def test_watchdog_reconnects_a_silent_connection(services, dt_api, clock):
    # a live connection is pinged every 0.1 s (ten times within the watchdog's second), so only the
    # dead one is closed, however long the turn below takes on a loaded machine
    gateway, run = start_stream(services, dt_api, watchdog_seconds=1, ping_every=0.1)
    try:
        gateway.go_silent()            # the subscription died: no pings arrive, acks go nowhere
        gateway.wait_connections(2)    # the watchdog closed the silent socket and opened another
        body = message_body("dt_zhangsan", "我的信息", now_ms=int(clock.now().timestamp() * 1000))
        assert gateway.push(ROBOT_TOPIC, body)["code"] == 200
        assert "张三" in answers(dt_api, body)[0]
        assert run.client.stats["watchdog_reconnects"] >= 1
    finally:
        run.stop()
        gateway.close()


def test_disconnect_frame_leads_to_a_new_connection(dingtalk_stream, dt_api):
    gw = dingtalk_stream.gateway
    gw.system("disconnect", {"reason": "connection is expired"})
    gw.wait_connections(2)
    body = message_body("dt_zhangsan", "我的信息", now_ms=dingtalk_stream.now_ms())
    assert gw.push(ROBOT_TOPIC, body)["code"] == 200


def test_a_frame_pushed_again_during_a_slow_turn_is_handled_once(dingtalk_stream, dt_api, services):
    gw = dingtalk_stream.gateway
    release = threading.Event()
    handle = services.dispatcher.handle
    calls = []

    def slow(incoming):
        calls.append(incoming.message_id)
        if len(calls) == 1:
            release.wait(10)               # the first turn is slow: DingTalk pushes the frame again
        return handle(incoming)

    services.dispatcher.handle = slow
    body = message_body("dt_zhangsan", "我的信息", now_ms=dingtalk_stream.now_ms())
    gw.push(ROBOT_TOPIC, body, message_id="frame-1", wait=False)
    gw.push(ROBOT_TOPIC, body, message_id="frame-2", wait=False)   # same msgId, a new push
    threading.Timer(0.3, release.set).start()
    for mid in ("frame-1", "frame-2"):
        assert gw.ack_seen[mid].wait(20) and gw.acks[mid]["code"] == 200
    assert len(answers(dt_api, body)) == 1

    # a card click re-pushed with the same frame messageId (events are re-pushed when the ack is late)
    click = card_callback_body("dt_zhangsan", "zz:1", out_track_id("zz", "dt_zhangsan"))
    for _ in range(2):
        assert gw.push(CARD_TOPIC, click, message_id="click-1")["code"] == 200
    services.outbox_dispatcher().drain()
    assert dt_api.texts_to("dt_zhangsan") == ["这张卡片已失效，无法处理这次点击。"]
    with services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(ProcessedDelivery)) == 1


def test_a_burst_is_bounded_and_acked_only_after_each_turn_committed(services, dt_api, clock):
    gateway, run = start_stream(services, dt_api, max_in_flight=2, max_pending=4)
    lock = threading.Lock()
    running = {"now": 0, "max": 0}
    committed: set[str] = set()
    early_acks: list[str] = []
    handle = services.dispatcher.handle
    frame_of: dict[str, str] = {}

    def counted(incoming):
        with lock:
            running["now"] += 1
            running["max"] = max(running["max"], running["now"])
        try:
            return handle(incoming)
        finally:
            with lock:
                running["now"] -= 1
                committed.add(incoming.message_id)

    def on_ack(ack):
        mid = ack["headers"]["messageId"]
        if mid in frame_of and frame_of[mid] not in committed:
            early_acks.append(mid)

    services.dispatcher.handle = counted
    gateway.on_ack = on_ack
    try:
        now_ms = int(clock.now().timestamp() * 1000)
        bodies = [message_body("dt_zhangsan", "我的信息", now_ms=now_ms) for _ in range(30)]
        for i, body in enumerate(bodies):
            frame_of[f"burst-{i}"] = f"m{body['msgId']}"
            gateway.push(ROBOT_TOPIC, body, message_id=f"burst-{i}", wait=False)
        for i in range(30):
            assert gateway.ack_seen[f"burst-{i}"].wait(30), f"burst-{i} not acked"
        assert all(gateway.acks[f"burst-{i}"]["code"] == 200 for i in range(30))
        assert running["max"] <= 2 and early_acks == []
        assert all(len(answers(dt_api, b)) == 1 for b in bodies)     # nothing lost, nothing twice
    finally:
        run.stop()
        gateway.close()
