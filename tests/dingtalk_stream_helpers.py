"""A fake DingTalk Stream gateway: `connections/open` (on the `responses` fake API) and a local
WebSocket server speaking the frame protocol of PROTOCOLS.md §5.1 (developerpedia protocol.md).

The lianxin stream client runs against it in a background thread with its own event loop; the
test pushes CALLBACK frames and waits for their acks, as DingTalk would.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import responses
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from bot.adapters.dingtalk_stream import CARD_TOPIC, ROBOT_TOPIC, LianxinStreamClient
from tests.dingtalk_helpers import API, DingTalkPlatform, card_callback_body

_ids = itertools.count(1)


class FakeStreamGateway:
    """The server side. `ping_every`: each connection gets a SYSTEM ping that often, as DingTalk keeps
    a live subscription talking; `go_silent()` turns the newest connection into a dead subscription
    (no pings, nothing it sends is read), while connections opened afterwards are healthy."""

    def __init__(self, ping_every: float | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.sockets: list[Any] = []
        self.dead: set[int] = set()      # id() of the sockets whose subscription died
        self.ping_every = ping_every
        self.acks: dict[str, dict] = {}
        self.ack_seen: dict[str, threading.Event] = {}
        self.tickets: list[str] = []
        self.on_ack = None          # callback(ack) run in the loop when an ack arrives
        self.port = 0
        self._server = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self._start())

    def call(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        self._server = await serve(self._handler, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handler(self, ws) -> None:
        ticket = ws.request.path.split("ticket=", 1)[-1]
        if ticket not in self.tickets:
            await ws.close(code=4001, reason="bad ticket")
            return
        self.tickets.remove(ticket)              # a ticket is good for one connection
        self.sockets.append(ws)
        pinger = asyncio.create_task(self._keepalive(ws)) if self.ping_every else None
        try:
            await self._read(ws)
        finally:
            if pinger is not None:
                pinger.cancel()

    async def _keepalive(self, ws) -> None:
        assert self.ping_every
        with contextlib.suppress(ConnectionClosed):
            while id(ws) not in self.dead:
                await ws.send(json.dumps(self._system_frame("ping", {"opaque": uuid.uuid4().hex})))
                await asyncio.sleep(self.ping_every)

    async def _read(self, ws) -> None:
        async for raw in ws:
            if id(ws) in self.dead:
                continue
            ack = json.loads(raw)
            mid = ack.get("headers", {}).get("messageId")
            if self.on_ack:
                self.on_ack(ack)
            self.acks[mid] = ack
            self.ack_seen.setdefault(mid, threading.Event()).set()

    def open_connection(self, request):
        """POST /v1.0/gateway/connections/open (responses callback)."""
        body = json.loads(request.body)
        assert body["clientId"] and body["clientSecret"] and body["subscriptions"]
        ticket = uuid.uuid4().hex
        self.tickets.append(ticket)
        return 200, {}, json.dumps({"endpoint": f"ws://127.0.0.1:{self.port}/connect", "ticket": ticket})

    def go_silent(self) -> None:
        """The newest connection's subscription dies: the socket stays open, nothing more happens on it."""
        self.dead.add(id(self.sockets[-1]))

    # pushing ---------------------------------------------------------------------------------
    def wait_connections(self, n: int, timeout: float = 10) -> None:
        event = threading.Event()

        async def poll():
            while len(self.sockets) < n:
                await asyncio.sleep(0.01)
            event.set()

        self.call(asyncio.wait_for(poll(), timeout), timeout + 1)

    def push(self, topic: str, data: dict, *, message_id: str | None = None, wait: bool = True,
             timeout: float = 20) -> dict | None:
        """Send a CALLBACK frame on the newest connection; with wait, return its ack."""
        mid = message_id or f"{uuid.uuid4().hex[:8]}_{next(_ids)}"
        self.ack_seen.setdefault(mid, threading.Event()).clear()
        frame = {"specVersion": "1.0", "type": "CALLBACK",
                 "headers": {"appId": "app", "contentType": "application/json", "messageId": mid,
                             "time": "1690362102194", "topic": topic},
                 "data": json.dumps(data, ensure_ascii=False)}
        self.call(self.sockets[-1].send(json.dumps(frame, ensure_ascii=False)))
        if not wait:
            return None
        assert self.ack_seen[mid].wait(timeout), f"no ack for {mid}"
        return self.acks[mid]

    @staticmethod
    def _system_frame(topic: str, data: dict) -> dict:
        return {"specVersion": "1.0", "type": "SYSTEM",
                "headers": {"contentType": "application/json", "messageId": uuid.uuid4().hex, "topic": topic},
                "data": json.dumps(data)}

    def system(self, topic: str, data: dict) -> None:
        self.call(self.sockets[-1].send(json.dumps(self._system_frame(topic, data))))

    def close(self) -> None:
        async def shutdown():
            self._server.close()
            await self._server.wait_closed()

        self.call(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class StreamRun:
    """The lianxin stream client running in its own thread against the gateway."""

    gateway: FakeStreamGateway
    client: LianxinStreamClient
    thread: threading.Thread = field(init=False)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.client.run(),), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.client.stop(), self.loop).result(10)
        self.thread.join(20)
        self.client.pool.shutdown(wait=True)


def start_stream(services, dt_api, *, ping_every: float | None = None, **kw) -> tuple[FakeStreamGateway, StreamRun]:
    gateway = FakeStreamGateway(ping_every)
    dt_api.rsps.add_callback(responses.POST, f"{API}/v1.0/gateway/connections/open", callback=gateway.open_connection)
    c = services.config
    client = LianxinStreamClient(c.get("dingtalk.app_key", str), c.get("dingtalk.app_secret", str), api_base=API, **kw)
    client.register_turns(services)
    run = StreamRun(gateway, client)
    gateway.wait_connections(1)
    return gateway, run


@dataclass
class StreamResponse:
    """What DingTalkPlatform.post()/click() return in Stream mode: the ack, shaped like a response."""

    ack: dict

    @property
    def status_code(self) -> int:
        return int(self.ack.get("code", 0))

    @property
    def data(self) -> bytes:
        return json.dumps(self.ack).encode()

    def get_json(self) -> Any:
        return json.loads(self.ack.get("data") or "{}").get("response")


class StreamPlatform(DingTalkPlatform):
    """The DingTalk double speaking Stream frames instead of signed HTTP callbacks."""

    gateway: FakeStreamGateway

    def post(self, body, *, timestamp=None, signature=None, headers=None):
        data = json.loads(body) if isinstance(body, bytes) else body
        return StreamResponse(self.gateway.push(ROBOT_TOPIC, data))

    def click(self, user, key, out_track_id, *, token=None, headers=None):
        return StreamResponse(self.gateway.push(CARD_TOPIC, card_callback_body(user, key, out_track_id)))


@pytest.fixture
def dingtalk_stream(client, services, clock, dt_api):
    """A DingTalk platform double on Stream mode (fake gateway + the real lianxin stream client)."""
    gateway, run = start_stream(services, dt_api)
    platform = StreamPlatform(client, services.config, clock, dt_api)
    platform.gateway = gateway
    yield platform
    run.stop()
    gateway.close()
