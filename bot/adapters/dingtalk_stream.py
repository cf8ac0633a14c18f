"""DingTalk Stream mode: one outbound WebSocket instead of public callback URLs.

Built on the official SDK `dingtalk-stream` (0.24.3 on the package index): its frame classes
(CallbackMessage, AckMessage, SystemMessage), its handler contract (CallbackHandler.raw_process
turns `process()`'s result into the ack) and its topics (ChatbotMessage.TOPIC, card callbacks).
Robot messages and card clicks go to the same functions as HTTP mode (bot.web.dingtalk
`handle_robot_message` / `handle_card_callback`), hence the same dispatcher, dedupe and answers.

The SDK's own connection loop (`DingTalkStreamClient.start`) is replaced, because of the failure
modes reported against it (PROTOCOLS.md §5.6, SDK issue #65 and downstream fixes):

* silent dead connections — the socket stays open while nothing arrives (the server's SYSTEM
  pings stop): a watchdog reconnects when no frame came for `watchdog_seconds`. websockets'
  own ping/pong still catches a dead TCP peer;
* redelivery after a slow ack — a frame is acked only after its turn committed; a redelivered
  robot message is refused by the msgId dedupe, a redelivered card click by the frame's
  messageId (its delivery key here; HTTP clicks have no id);
* a burst — at most `max_in_flight` turns run at once (a thread pool of that size) and at most
  `max_pending` frames wait; beyond that the reader stops reading (TCP back-pressure) instead
  of creating tasks without bound. SYSTEM frames (ping, disconnect) are answered at once;
* blocking I/O in the event loop — `open_connection` runs in a thread, with a timeout and our
  configured API base (the SDK posts to a hard-coded host without a timeout);
* reconnects back off exponentially (1 s → 60 s, jittered) instead of a fixed 10 s.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote_plus

import dingtalk_stream
import requests
import websockets
from dingtalk_stream.frames import AckMessage, CallbackMessage, SystemMessage

__all__ = ["CARD_TOPIC", "ROBOT_TOPIC", "LianxinStreamClient", "build_stream_client"]

log = logging.getLogger("lianxin.dingtalk.stream")

ROBOT_TOPIC = dingtalk_stream.ChatbotMessage.TOPIC                  # /v1.0/im/bot/messages/get
CARD_TOPIC = dingtalk_stream.CallbackHandler.TOPIC_CARD_CALLBACK    # /v1.0/card/instances/callback


class _TurnHandler(dingtalk_stream.CallbackHandler):
    """Runs one verified body through `fn(services, data, delivery)` in the turn pool; acks after."""

    def __init__(self, fn, services, pool: ThreadPoolExecutor) -> None:
        super().__init__()
        self.fn = fn
        self.services = services
        self.pool = pool

    async def process(self, message: CallbackMessage):
        loop = asyncio.get_running_loop()
        data = message.data if isinstance(message.data, dict) else {}
        try:
            status, outcome = await loop.run_in_executor(self.pool, self.fn, self.services, data,
                                                         message.headers.message_id)
        except Exception:   # CallbackRejected and handler bugs: answered as HTTP mode would, never a crash
            log.exception("stream.turn_failed", extra={"topic": message.headers.topic})
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "error"
        if status >= 500:
            return AckMessage.STATUS_SYSTEM_EXCEPTION, outcome   # degraded: let DingTalk push it again
        return AckMessage.STATUS_OK, ({} if message.headers.topic == CARD_TOPIC else outcome)


class LianxinStreamClient(dingtalk_stream.DingTalkStreamClient):
    """The SDK client with a guarded connection loop (see the module docstring)."""

    def __init__(self, client_id: str, client_secret: str, *, api_base: str = "https://api.dingtalk.com",
                 watchdog_seconds: float = 180, max_in_flight: int = 8, max_pending: int = 64,
                 http_timeout: float = 10, max_backoff: float = 60) -> None:
        super().__init__(dingtalk_stream.Credential(client_id, client_secret), logger=log)
        self.open_url = api_base.rstrip("/") + "/v1.0/gateway/connections/open"
        self.watchdog_seconds = watchdog_seconds
        self.max_in_flight = max_in_flight
        self.pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="dingtalk-turn")
        self.pending = asyncio.Semaphore(max_pending)   # frames accepted, not yet acked
        self.http_timeout = http_timeout
        self.max_backoff = max_backoff
        self.connections = 0                            # websockets opened (for logs and tests)
        self.stats = {"watchdog_reconnects": 0, "frames": 0}
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()

    def register_turns(self, services) -> None:
        """Register the robot-message and card-callback handlers, both feeding `services.dispatcher`."""
        from ..web.dingtalk import stream_card_callback, stream_robot_message

        self.register_callback_handler(ROBOT_TOPIC, _TurnHandler(stream_robot_message, services, self.pool))
        self.register_callback_handler(CARD_TOPIC, _TurnHandler(stream_card_callback, services, self.pool))

    # --- connection --------------------------------------------------------------------------
    def open_connection(self) -> dict[str, Any] | None:
        """POST gateway/connections/open → {endpoint, ticket} (a ticket is good for one connection)."""
        topics = [{"type": "CALLBACK", "topic": t} for t in self.callback_handler_map]
        body = {"clientId": self.credential.client_id, "clientSecret": self.credential.client_secret,
                "subscriptions": topics, "ua": "lianxin/dingtalk-stream", "localIp": _local_ip()}
        try:
            res = requests.post(self.open_url, json=body, timeout=self.http_timeout)
            res.raise_for_status()
            data = res.json()
        except (requests.RequestException, ValueError) as exc:
            log.error("stream.open_failed", extra={"error": str(exc)[:200]})
            return None
        if not isinstance(data, dict) or not data.get("endpoint") or not data.get("ticket"):
            log.error("stream.open_failed", extra={"error": "no endpoint/ticket"})
            return None
        return data

    async def run(self) -> None:
        """Connect, serve, reconnect, until `stop()`; in-flight turns finish and are acked first."""
        self.pre_start()
        self._stop = asyncio.Event()
        attempt = 0
        while not self._stop.is_set():
            conn = await asyncio.get_running_loop().run_in_executor(None, self.open_connection)
            if conn is not None:
                uri = f"{conn['endpoint']}?ticket={quote_plus(str(conn['ticket']))}"
                try:
                    async with websockets.connect(uri, open_timeout=self.http_timeout, ping_interval=20,
                                                  ping_timeout=20) as ws:
                        self.websocket = ws
                        self.connections += 1
                        attempt = 0
                        log.info("stream.connected", extra={"connection": self.connections})
                        await self._serve(ws)
                except (TimeoutError, OSError, websockets.exceptions.WebSocketException) as exc:
                    log.warning("stream.connection_lost", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
                finally:
                    self.websocket = None
            if self._stop.is_set():
                break
            delay = min(self.max_backoff, 2 ** min(attempt, 6)) * (0.5 + random.random() / 2) if attempt else 0.1
            attempt += 1
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            except TimeoutError:
                pass
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self.websocket is not None:
            await self.websocket.close()

    async def _serve(self, ws) -> None:
        while not self._stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=self.watchdog_seconds)
            except TimeoutError:
                self.stats["watchdog_reconnects"] += 1
                log.warning("stream.watchdog", extra={"silent_seconds": self.watchdog_seconds})
                await ws.close()
                return
            self.stats["frames"] += 1
            try:
                frame = json.loads(raw)
            except (TypeError, ValueError):
                log.warning("stream.bad_frame")
                continue
            if not isinstance(frame, dict):
                continue
            if frame.get("type") == SystemMessage.TYPE:
                if await self._system(ws, frame):
                    return
                continue
            await self.pending.acquire()      # a burst waits here: the socket is not read meanwhile
            task = asyncio.create_task(self._callback(ws, frame))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _system(self, ws, frame: dict) -> bool:
        """Answer ping (echoing its opaque); on disconnect, True: reconnect now (the server closes in 10 s)."""
        msg = SystemMessage.from_dict(frame)
        ack = await self.system_handler.raw_process(msg)
        if msg.headers.topic == SystemMessage.TOPIC_DISCONNECT:
            log.info("stream.disconnect_requested")
            await ws.close()
            return True
        await ws.send(json.dumps(ack.to_dict()))
        return False

    async def _callback(self, ws, frame: dict) -> None:
        try:
            msg = CallbackMessage.from_dict(frame)
            handler = self.callback_handler_map.get(msg.headers.topic)
            if handler is None:
                ack = AckMessage()
                ack.code, ack.message = AckMessage.STATUS_NOT_IMPLEMENT, "unknown topic"
                ack.headers.message_id = msg.headers.message_id
                ack.headers.content_type = "application/json"
            else:
                ack = await handler.raw_process(msg)   # returns after the turn committed
            try:
                await ws.send(json.dumps(ack.to_dict()))
            except websockets.exceptions.ConnectionClosed:
                log.warning("stream.ack_lost", extra={"message_id": msg.headers.message_id})
        except Exception:
            log.exception("stream.frame_failed")
        finally:
            self.pending.release()


def _local_ip() -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))   # no packet is sent: only picks the outgoing interface
            return s.getsockname()[0]
    except OSError:
        return ""


def build_stream_client(services) -> LianxinStreamClient:
    """The stream client for `lianxin dingtalk-stream`, configured from dingtalk.* settings."""
    c = services.config
    client = LianxinStreamClient(
        c.get("dingtalk.app_key", str), c.get("dingtalk.app_secret", str),
        api_base=c.get("dingtalk.api_base", str),
        watchdog_seconds=c.get("dingtalk.stream_watchdog_seconds", float),
        max_in_flight=c.get("dingtalk.stream_max_in_flight", int),
        max_pending=c.get("dingtalk.stream_max_pending", int),
        http_timeout=c.get("dingtalk.http_timeout_seconds", float))
    client.register_turns(services)
    return client
