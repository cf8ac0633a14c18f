"""Test doubles: the WeCom platform (encrypts like WeCom, fakes its HTTP API) and a sim driver."""
from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import responses
import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.adapters.simulator import read_inbox, sim_incoming
from bot.messages import Card, reply_from_dict
from tests.payloads import wecom_xml

API = "https://qyapi.weixin.qq.com/cgi-bin/"
AGENT_ID = 1000002


def text_xml(user: str, content: str, corp_id: str, msg_id: int | None = None, create: int | None = None) -> str:
    """The documented text message (tests/fixtures/wecom/text.xml) from `user`; `content` goes in as is."""
    fields: dict[str, Any] = {"MsgId": msg_id} if msg_id else {}
    if create:
        fields["CreateTime"] = create
    return wecom_xml("text", ToUserName=corp_id, FromUserName=user, Content=content, AgentID=AGENT_ID, **fields)


def card_event_xml(user: str, key: str, task_id: str, corp_id: str, create: int | None = None,
                   response_code: str = "RC") -> str:
    """A button click: the documented template_card_event (path/90240) of a button_interaction card."""
    fields: dict[str, Any] = {"CreateTime": create} if create else {}
    return wecom_xml("template_card_event", omit=("SelectedItems",), ToUserName=corp_id, FromUserName=user,
                     EventKey=key, TaskId=task_id, CardType="button_interaction", ResponseCode=response_code,
                     AgentID=AGENT_ID, **fields)


@dataclass
class WeComPlatform:
    client: Any
    config: Any
    clock: Any

    def __post_init__(self) -> None:
        c = self.config
        self.corp_id = c.get("wecom.corp_id")
        self.crypto = WeChatCrypto(c.get("wecom.token"), c.get("wecom.encoding_aes_key"), self.corp_id)

    def post_xml(self, plain_xml: str, *, timestamp: int | None = None, nonce: str | None = None,
                 signature: str | None = None):
        ts = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
        nonce = nonce or uuid.uuid4().hex[:10]
        envelope = self.crypto.encrypt_message(plain_xml, nonce, ts)
        doc = xmltodict.parse(envelope)["xml"]
        body = wecom_xml("envelope", ToUserName=self.corp_id, AgentID=AGENT_ID, Encrypt=doc["Encrypt"])
        sig = signature or doc["MsgSignature"]
        return self.client.post(f"/wecom/callback?msg_signature={sig}&timestamp={ts}&nonce={nonce}",
                                data=body.encode(), content_type="text/xml")

    def decrypt_reply(self, resp) -> dict | None:
        if not resp.data:
            return None
        doc = xmltodict.parse(resp.data)["xml"]
        plain = self.crypto.decrypt_message(resp.data, doc["MsgSignature"], doc["TimeStamp"], doc["Nonce"])
        return xmltodict.parse(plain)["xml"]

    def send(self, sample: str, user: str, **fields):
        """Post a documented message or event (tests/fixtures/wecom/<sample>.xml) from `user`, now."""
        return self.post_xml(wecom_xml(sample, ToUserName=self.corp_id, FromUserName=user, AgentID=AGENT_ID,
                                       CreateTime=int(self.clock.now().timestamp()), **fields))

    def say(self, user: str, content: str, **kw) -> str:
        """Send a text as WeCom would; return the decrypted passive reply text ('' if none)."""
        resp = self.post_xml(text_xml(user, content, self.corp_id, create=int(self.clock.now().timestamp()), **kw))
        assert resp.status_code == 200, resp.data
        reply = self.decrypt_reply(resp)
        return reply["Content"] if reply else ""

    def click(self, user: str, key: str, task_id: str = "task", create: int | None = None,
              response_code: str = "RC"):
        create = create or int(self.clock.now().timestamp())
        resp = self.post_xml(card_event_xml(user, key, task_id, self.corp_id, create, response_code))
        assert resp.status_code == 200, resp.data
        reply = self.decrypt_reply(resp)
        return reply["Content"] if reply else ""


def multipart_files(request) -> dict[str, tuple[str, bytes]]:
    """form field → (file name, bytes) of a multipart/form-data request as the platform receives it."""
    from email.parser import BytesParser
    from email.policy import HTTP

    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    body = request.body if isinstance(request.body, bytes) else request.body.read()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    return {part.get_param("name", header="content-disposition"): (part.get_filename(), part.get_payload(decode=True))
            for part in message.iter_parts()}


class FakeWeComAPI:
    """`responses`-based fake of qyapi.weixin.qq.com: records sends, returns msgid/response_code."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.sent: list[dict] = []
        self.updates: list[dict] = []
        self.uploads: list[dict] = []   # media/upload: {"type", "name", "content", "media_id"}
        self.token_calls = 0
        self.script: list[Any] = []  # queued special answers for message/send: dict, Exception, int status
        self._n = itertools.count(1)
        rsps.add_callback(responses.GET, API + "gettoken", callback=self._token)
        rsps.add_callback(responses.POST, API + "message/send", callback=self._send)
        rsps.add_callback(responses.POST, API + "message/update_template_card", callback=self._update)
        rsps.add_callback(responses.POST, API + "media/upload", callback=self._upload)

    def _upload(self, request):
        name, content = multipart_files(request)["media"]
        media_id = f"MEDIA{len(self.uploads) + 1}"
        self.uploads.append({"type": request.params.get("type"), "name": name, "content": content,
                             "media_id": media_id})
        return 200, {}, json.dumps({"errcode": 0, "errmsg": "ok", "type": "file", "media_id": media_id,
                                    "created_at": "1380000000"})

    def _token(self, request):
        self.token_calls += 1
        return 200, {}, json.dumps({"errcode": 0, "errmsg": "ok", "access_token": f"TOKEN{self.token_calls}",
                                    "expires_in": 7200})

    def _send(self, request):
        if self.script:
            item = self.script.pop(0)
            if isinstance(item, Exception):
                raise item
            if isinstance(item, int):
                return item, {}, "server error"
            return 200, {}, json.dumps(item)
        body = json.loads(request.body)
        n = next(self._n)
        body["_token"] = request.params.get("access_token") if hasattr(request, "params") else None
        self.sent.append(body)
        out = {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": f"MSG{n}"}
        if body.get("msgtype") == "template_card":
            out["response_code"] = f"RCODE{n}"
        return 200, {}, json.dumps(out)

    def _update(self, request):
        self.updates.append(json.loads(request.body))
        return 200, {}, json.dumps({"errcode": 0, "errmsg": "ok", "invaliduser": []})

    def to(self, user: str) -> list[dict]:
        return [m for m in self.sent if user in m["touser"].split("|")]

    def cards_to(self, user: str) -> list[dict]:
        return [m["template_card"] for m in self.to(user) if m.get("msgtype") == "template_card"]

    def texts_to(self, user: str) -> list[str]:
        return [m["text"]["content"] for m in self.to(user) if m.get("msgtype") == "text"]


@dataclass
class SimDriver:
    """Say and press as a simulator user; replies come back synchronously, others via the outbox."""

    services: Any
    last_cards: dict = field(default_factory=dict)
    seen: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from bot.adapters.simulator import SimulatorSender
        from bot.relay import OutboxRelay

        sender = self.services.senders.setdefault("sim", SimulatorSender(self.services.redis))
        self.outbox = OutboxRelay(self.services.session_factory, {"sim": sender})

    def _remember(self, user: str, replies) -> None:
        for r in replies:
            if isinstance(r, Card) and r.buttons and not r.done_text:
                self.last_cards[user] = r

    def say(self, user: str, text: str):
        out = self.services.dispatcher.handle(sim_incoming(user, text=text))
        self._remember(user, out.replies)
        self.outbox.drain()
        return out

    def press(self, user: str, button: str, card: Card | None = None):
        """Press a button by its text (or key) on `card` or on the user's latest card."""
        card = card or self.last_cards.get(user)
        assert card is not None, f"{user} has no card with buttons"
        matches = [b for b in card.buttons if b.text == button or b.key == button]
        assert matches, f"no button {button!r} on card {card.title!r}: {[b.text for b in card.buttons]}"
        out = self.services.dispatcher.handle(sim_incoming(user, action=matches[0].key, card_id=card.card_id))
        self._remember(user, out.replies)
        self.outbox.drain()
        return out

    def inbox(self, user: str) -> list:
        """Messages delivered to `user` through the outbox since the last call."""
        items = read_inbox(self.services.redis, user, self.seen.get(user, 0))
        self.seen[user] = self.seen.get(user, 0) + len(items)
        replies = [reply_from_dict(i["reply"]) for i in items]
        self._remember(user, replies)
        return replies


def person(db, userid: str):
    """The demo person with this WeCom userid."""
    from sqlalchemy import select

    from models.org import Person

    return db.scalars(select(Person).where(Person.wecom_userid == userid)).one()


def person_id(services, userid: str) -> int:
    with services.session_factory() as db:
        return person(db, userid).id


def dashboard_login(client, link: str):
    """Open a dashboard login link as the login page's script does: post the fragment's fields."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(link)
    assert parts.query == "" and parts.fragment.startswith("t="), link   # the token never in the URL sent
    page = client.get(parts.path)
    assert page.status_code == 200 and b"dashboard_login.js" in page.data
    return client.post(parts.path, data=dict(parse_qsl(parts.fragment)))


def texts(outcome) -> str:
    """All reply text of an outcome (cards as their text form)."""
    return outcome.text


def stop_process_group(proc) -> None:
    """Stop a server started in its own process group (gunicorn and its workers): TERM, then KILL."""
    import os
    import signal
    import subprocess

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def processed_deliveries(services) -> int:
    """Rows in processed_delivery: the deliveries whose turns wrote something."""
    from sqlalchemy import func, select

    from models.outbox import ProcessedDelivery

    with services.session_factory() as db:
        return db.scalar(select(func.count()).select_from(ProcessedDelivery)) or 0
