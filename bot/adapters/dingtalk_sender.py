"""DingTalk outbox sender: robot 1:1 messages, interactive cards and file messages.

Endpoints (PROTOCOLS.md §5.2, §5.3):
* text / markdown: POST {api}/v1.0/robot/oToMessages/batchSend {robotCode, userIds (≤ 20),
  msgKey sampleText|sampleMarkdown, msgParam (JSON string)}.
* cards with buttons: POST {api}/v1.0/card/instances/createAndDeliver, one instance per
  recipient (an IM_ROBOT space is one user), outTrackId derived from Card.card_id and the user;
  update after a decision: PUT {api}/v1.0/card/instances {outTrackId, cardData}.
* files (exports): POST {oapi}/media/upload?type=file (multipart `media`) → media_id, then
  batchSend with msgKey sampleFile {mediaId, fileName, fileType}.

A row (≤ 1,000 recipients) is split into batchSend calls of 20; Redis remembers which recipients
are done, so a retry after a partial failure sends only to the others (the client,
`bot.adapters.dingtalk_api`, maps errors to TokenExpired, TransientError and PermanentError).

Card template contract (advanced card, built once on the card platform, id in
dingtalk.card_template_id): string variables `title`, `markdown`, `done_text`, `url`, and
`buttons`, a JSON list of {"text", "key", "status"} rendered by a loop of buttons whose click
type is 回传请求 with `key` = the item's `key`; the callback carries it in cardPrivateData.params.key.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from models.outbox import OutboxMessage

from ..config import ConfigError
from ..files import stored_for_sending
from ..messages import Card, File, Reply, Text
from ..outbox import PermanentError, SendResult, TransientError, chunked
from .dingtalk import out_track_id  # the instance id says whom it was delivered to (card clicks check it)
from .dingtalk_api import DingTalkClient

if TYPE_CHECKING:
    from redis import Redis

    from bot.config import Config

    from ..files import FileStore

log = logging.getLogger("lianxin.dingtalk")

__all__ = ["BATCH_SEND_MAX", "DingTalkSender", "build_dingtalk_sender", "card_markdown", "render_card_params"]

BATCH_SEND_MAX = 20                  # batchSend: "userIds 每次最多传20个"
PROGRESS_TTL = 7 * 86400
STYLE_TO_STATUS = {1: "primary", 2: "normal", 3: "warning", 4: "normal"}

# --- rendering ---------------------------------------------------------------------------------

def card_markdown(card: Card) -> str:
    lines = [card.body] if card.body else []
    lines += [f"**{k}**：{v}" for k, v in card.fields]
    if card.url:
        lines.append(f"[查看详情]({card.url})")
    if card.done_text:
        lines.append(f"〔{card.done_text}〕")
    return "\n\n".join(lines) or card.title


def render_card_params(card: Card) -> dict[str, str]:
    """Card → cardParamMap of our template (all values strings, as cardParamMap requires)."""
    buttons = [] if card.done_text else [
        {"text": b.text[:20], "key": b.key, "status": STYLE_TO_STATUS.get(b.style, "primary")} for b in card.buttons]
    return {
        "title": card.title[:60],
        "markdown": card_markdown(card),
        "done_text": card.done_text or "",
        "url": card.url or "",
        "buttons": json.dumps(buttons, ensure_ascii=False),
    }


# --- the outbox sender -------------------------------------------------------------------------

class DingTalkSender:
    """Outbox sender for platform "dingtalk"."""

    def __init__(self, client: DingTalkClient, robot_code: str, redis_client: Redis, *, card_template_id: str = "",
                 callback_route_key: str = "", stream_mode: bool = False, batch_size: int = BATCH_SEND_MAX,
                 files: FileStore | None = None) -> None:
        """`files`: where File replies' bytes are read (exports sent as file messages)."""
        self.client = client
        self.files = files
        self.robot_code = robot_code
        self.redis = redis_client
        self.card_template_id = card_template_id
        self.callback_route_key = callback_route_key
        self.stream_mode = stream_mode
        self.batch_size = max(1, min(batch_size, BATCH_SEND_MAX))

    # progress of one outbox row (partial failures) ------------------------------------------
    def _done_key(self, row: OutboxMessage) -> str:
        return f"lianxin:dingtalk:outbox:{row.id}:done"

    def _done(self, row: OutboxMessage) -> set[str]:
        return {m.decode() if isinstance(m, bytes) else m for m in self.redis.smembers(self._done_key(row))}

    def _mark(self, row: OutboxMessage, users: list[str]) -> None:
        if users:
            self.redis.sadd(self._done_key(row), *users)
            self.redis.expire(self._done_key(row), PROGRESS_TTL)

    # sending --------------------------------------------------------------------------------
    def send(self, recipients: list[str], reply: Reply, row: OutboxMessage) -> SendResult:
        if isinstance(reply, Card) and (reply.buttons or reply.done_text) and self.card_template_id:
            return self._send_cards(recipients, reply, row)
        if isinstance(reply, Card) and reply.buttons:
            log.warning("dingtalk.no_card_template", extra={"outbox_id": row.id})
        return self._batch_send(recipients, reply, row)

    def _message(self, reply: Reply) -> tuple[str, dict[str, str]]:
        if isinstance(reply, Text):
            return "sampleText", {"content": reply.text}
        if isinstance(reply, File):
            name, content = stored_for_sending(self.files, reply)
            media_id = self.client.upload_file(name, content)
            kind = name.rsplit(".", 1)[-1] if "." in name else "file"
            return "sampleFile", {"mediaId": media_id, "fileName": name, "fileType": kind}
        text = card_markdown(reply)
        if reply.buttons and not reply.done_text:  # no card template configured: readable, not clickable
            text += "\n\n" + "　".join(f"〔{b.text}〕" for b in reply.buttons)
        return "sampleMarkdown", {"title": reply.title[:60], "text": f"#### {reply.title}\n\n{text}"}

    def _batch_send(self, recipients: list[str], reply: Reply, row: OutboxMessage) -> SendResult:
        msg_key, param = self._message(reply)
        done = self._done(row)
        pending = [r for r in recipients if r not in done]
        keys: list[str] = []
        invalid: list[str] = []
        throttled: list[str] = []
        for part in chunked(pending, self.batch_size):
            data = self.client.api("POST", "/v1.0/robot/oToMessages/batchSend", {
                "robotCode": self.robot_code, "userIds": part, "msgKey": msg_key,
                "msgParam": json.dumps(param, ensure_ascii=False)})
            flow = [u for u in data.get("flowControlledStaffIdList") or [] if u in part]
            bad = [u for u in (data.get("invalidStaffIdList") or []) + (data.get("filteredStaffIdList") or [])
                   if u in part]
            throttled += flow
            invalid += bad
            self._mark(row, [u for u in part if u not in flow])
            if data.get("processQueryKey"):
                keys.append(str(data["processQueryKey"]))
        if invalid:
            log.warning("dingtalk.invalid_users", extra={"outbox_id": row.id, "invalid": invalid[:50]})
        if throttled:
            raise TransientError(f"batchSend: {len(throttled)} users flow-controlled", retry_after=60)
        return SendResult(msgid=",".join(keys)[:128] or None, invalid_users="|".join(invalid) or None)

    def _card_body(self, card: Card, track: str, user: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "cardTemplateId": self.card_template_id,
            "outTrackId": track,
            "cardData": {"cardParamMap": render_card_params(card)},
            "openSpaceId": f"dtv1.card//IM_ROBOT.{user}",
            "imRobotOpenSpaceModel": {"supportForward": False},
            "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT", "robotCode": self.robot_code},
            "userIdType": 1,
        }
        if self.stream_mode or not self.callback_route_key:
            body["callbackType"] = "STREAM"
        else:
            body["callbackType"] = "HTTP"
            body["callbackRouteKey"] = self.callback_route_key
        return body

    def _send_cards(self, recipients: list[str], card: Card, row: OutboxMessage, skip_done: bool = True) -> SendResult:
        base = card.card_id or f"lx{row.id}"
        done = self._done(row) if skip_done else set()
        invalid: list[str] = []
        tried_key = f"lianxin:dingtalk:outbox:{row.id}:tried"
        for user in recipients:
            if user in done:
                continue
            track = out_track_id(base, user)
            if self.redis.sismember(tried_key, user):
                # a previous attempt may have created the instance: refresh it instead of creating twice
                try:
                    self._put_card(track, card)
                    self._mark(row, [user])
                    continue
                except PermanentError:
                    pass
            self.redis.sadd(tried_key, user)
            self.redis.expire(tried_key, PROGRESS_TTL)
            data = self.client.api("POST", "/v1.0/card/instances/createAndDeliver", self._card_body(card, track, user))
            results = (data.get("result") or {}).get("deliverResults") or []
            failed = [r for r in results if isinstance(r, dict) and r.get("success") is False]
            if data.get("success") is False or failed:
                invalid.append(user)
                log.warning("dingtalk.card_not_delivered", extra={
                    "outbox_id": row.id, "user": user, "error": str((failed or [{}])[0].get("errorMsg", ""))[:120]})
            self._mark(row, [user])
        msgid = out_track_id(base, recipients[0]) if len(recipients) == 1 else base
        return SendResult(msgid=msgid[:128], invalid_users="|".join(invalid) or None)

    def _put_card(self, track: str, card: Card) -> None:
        self.client.api("PUT", "/v1.0/card/instances", {
            "outTrackId": track, "cardData": {"cardParamMap": render_card_params(card)},
            "cardUpdateOptions": {"updateCardDataByKey": True}, "userIdType": 1})

    def update_card(self, recipients: list[str], reply: Reply, row: OutboxMessage) -> SendResult:
        """Replace card instances: the clicked one (row.response_code = its outTrackId), or each
        recipient's copy of Card.card_id (update of the copies sent to others). An instance that
        cannot be updated (unknown, expired) is sent anew, with the buttons only if still open."""
        if not isinstance(reply, Card) or not self.card_template_id:
            return self.send(recipients, reply, row)
        if row.response_code:
            tracks = [(recipients[0] if recipients else "", row.response_code)]
        elif reply.card_id:
            tracks = [(user, out_track_id(reply.card_id, user)) for user in recipients]
        else:
            return self.send(recipients, reply, row)
        done = self._done(row)
        resend: list[str] = []
        for user, track in tracks:
            if user and user in done:
                continue
            try:
                self._put_card(track, reply)
            except PermanentError as exc:
                log.warning("dingtalk.update_refused", extra={"outbox_id": row.id, "error": str(exc)[:120]})
                if user:
                    resend.append(user)
                continue
            if user:
                self._mark(row, [user])
        if resend:
            fresh = replace(reply, card_id=f"{reply.card_id or 'c'}_u{row.id}"[:128])
            self._send_cards(resend, fresh, row, skip_done=False)
        return SendResult(msgid=tracks[0][1][:128] if len(tracks) == 1 else None)


def build_dingtalk_sender(config: Config, redis_client: Redis, files: FileStore | None = None) -> DingTalkSender:
    """Called by bot.services.build_senders when dingtalk.enabled is true."""
    c = config
    if not c.get("dingtalk.app_key", str) or not c.get("dingtalk.app_secret", str):
        raise ConfigError("settings dingtalk.app_key and dingtalk.app_secret (env LIANXIN_DINGTALK__APP_SECRET) "
                          "are required when dingtalk.enabled is true")
    client = DingTalkClient(c.get("dingtalk.app_key", str), c.get("dingtalk.app_secret", str), redis_client,
                            api_base=c.get("dingtalk.api_base", str),
                            oapi_base=c.get("dingtalk.oapi_base", str),
                            timeout=c.get("dingtalk.http_timeout_seconds", float))
    robot_code = c.get("dingtalk.robot_code", str) or c.get("dingtalk.app_key", str)
    return DingTalkSender(client, robot_code, redis_client,
                          card_template_id=c.get("dingtalk.card_template_id", str),
                          callback_route_key=c.get("dingtalk.card_callback_route_key", str),
                          stream_mode=c.get("dingtalk.stream_mode", bool),
                          batch_size=c.get("dingtalk.batch_size", int), files=files)
