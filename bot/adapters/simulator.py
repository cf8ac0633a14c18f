"""The local simulator platform: JSON in, the internal model out, cards rendered with buttons.

Messages that the outbox sends to platform "sim" land in a per-user Redis list, which the web
page (/sim) and the terminal chat read. Card updates replace the card with the same card_id.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from models.outbox import OutboxMessage

from ..messages import Incoming, Reply, reply_to_dict
from ..outbox import SendResult

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["SimulatorSender", "inbox_key", "read_inbox", "sim_incoming"]


def inbox_key(user: str) -> str:
    return f"sim:inbox:{user}"


def sim_incoming(user: str, text: str | None = None, action: str | None = None,
                 card_id: str | None = None, message_id: str | None = None) -> Incoming:
    return Incoming(platform="sim", user_id=user, time=datetime.now(UTC),
                    message_id=message_id or uuid.uuid4().hex, text=text, action=action, card_id=card_id)


class SimulatorSender:
    def __init__(self, redis_client: Redis) -> None:
        self.r = redis_client

    def _push(self, user: str, item: dict[str, Any]) -> None:
        self.r.rpush(inbox_key(user), json.dumps(item, ensure_ascii=False))
        self.r.ltrim(inbox_key(user), -200, -1)

    def send(self, recipients: list[str], reply: Reply, row: OutboxMessage) -> SendResult:
        for user in recipients:
            self._push(user, {"at": time.time(), "kind": "message", "reply": reply_to_dict(reply)})
        return SendResult(msgid=f"sim-{row.id}")

    def update_card(self, recipients: list[str], reply: Reply, row: OutboxMessage) -> SendResult:
        for user in recipients:
            self._push(user, {"at": time.time(), "kind": "update", "reply": reply_to_dict(reply)})
        return SendResult(msgid=None)


def read_inbox(redis_client: Redis, user: str, start: int = 0) -> list[dict[str, Any]]:
    raw = redis_client.lrange(inbox_key(user), start, -1)
    return [json.loads(x) for x in raw]
