"""Test doubles for DingTalk: the platform (signs callbacks as DingTalk does) and its HTTP API.

Payload shapes follow the official documentation (PROTOCOLS.md §5): the robot message body
of the official sample, the card callback of the dingtalk-stream SDK's CardCallbackMessage,
batchSend / createAndDeliver / card update / accessToken answers as documented.
"""
from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import responses

from bot.adapters.dingtalk import card_api_secret, card_callback_token, sign
from tests.payloads import dingtalk_json

API = "https://api.dingtalk.com"
OAPI = "https://oapi.dingtalk.com"
APP_KEY = "dingtestappkey"
APP_SECRET = "testAppSecret"
CORP_ID = "dinge8a565xxxx"
TEMPLATE = "lianxin-card-0001.schema"

DINGTALK_OVERRIDES = {
    "dingtalk.enabled": True, "dingtalk.app_key": APP_KEY, "dingtalk.app_secret": APP_SECRET,
    "dingtalk.robot_code": APP_KEY, "dingtalk.card_template_id": TEMPLATE,
    "dingtalk.card_callback_route_key": "lianxin",
}

_ids = itertools.count(int(time.time() * 1000))


def official_sample() -> dict[str, Any]:
    """The robot message body of the official documentation, verbatim (tests/fixtures/dingtalk/robot_text.json)."""
    return dingtalk_json("robot_text")


def message_body(user: str, content: str, *, now_ms: int, msg_id: str | None = None,
                 conversation_type: str = "1", session: str | None = None) -> dict[str, Any]:
    """A robot message shaped like the official sample, for `user` (a staff id)."""
    n = next(_ids)
    body = official_sample()
    body.update({
        "conversationId": f"cid{user}", "msgId": msg_id or f"msg{n}", "senderStaffId": user, "senderNick": user,
        "senderId": f"$:LWCP_v1:${user}", "createAt": now_ms, "sessionWebhookExpiredTime": now_ms + 5_400_060,
        "conversationType": conversation_type, "isInAtList": True, "text": {"content": f" {content}"},
        "sessionWebhook": f"{OAPI}/robot/sendBySession?session={session or f'{user}-{n}'}",
        "robotCode": APP_KEY,
    })
    if conversation_type == "1":
        body.pop("conversationTitle", None)
        body["atUsers"] = []
    return body


def card_callback_body(user: str, key: str, out_track_id: str) -> dict[str, Any]:
    """A card "回传请求" callback (tests/fixtures/dingtalk/card_callback.json) for the button `key`."""
    content = json.dumps({"cardPrivateData": {"actionIds": ["button_lianxin"], "params": {"key": key}}},
                         ensure_ascii=False)
    return dingtalk_json("card_callback", corpId=CORP_ID, userId=user, content=content, spaceId=user,
                         outTrackId=out_track_id, value=content)


class FakeDingTalkAPI:
    """`responses` fake of api.dingtalk.com and oapi.dingtalk.com; records what we send."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.token_calls = 0
        self.batch: list[dict] = []           # batchSend bodies (msgParam decoded into "param")
        self.cards: list[dict] = []           # createAndDeliver bodies
        self.updates: list[dict] = []         # PUT card/instances bodies
        self.session: list[tuple[str, dict]] = []  # (url, body) posted to sessionWebhooks
        self.uploads: list[dict] = []         # oapi media/upload: {"type", "name", "content", "media_id"}
        self.tokens_seen: list[str] = []
        self.script: dict[str, list[Any]] = {}  # path -> queued answers: (status, dict) or Exception
        self.departments: dict[int, list[dict]] = {}
        self.users: dict[int, list[dict]] = {}
        self.root_name = "技术公司党委"
        self._n = itertools.count(1)
        self._seq = itertools.count(1)      # one order over batchSend and cards (what arrived first)
        rsps.add_callback(responses.POST, f"{API}/v1.0/oauth2/accessToken", callback=self._token)
        rsps.add_callback(responses.POST, f"{API}/v1.0/robot/oToMessages/batchSend", callback=self._batch)
        rsps.add_callback(responses.POST, f"{API}/v1.0/card/instances/createAndDeliver", callback=self._create)
        rsps.add_callback(responses.PUT, f"{API}/v1.0/card/instances", callback=self._update)
        rsps.add_callback(responses.POST, re.compile(re.escape(f"{OAPI}/robot/sendBySession") + r".*"),
                          callback=self._session)
        rsps.add_callback(responses.POST, re.compile(re.escape(f"{OAPI}/media/upload") + r".*"), callback=self._upload)
        rsps.add_callback(responses.POST, re.compile(re.escape(f"{OAPI}/topapi/v2/department/get") + r".*"),
                          callback=self._deptget)
        rsps.add_callback(responses.POST, re.compile(re.escape(f"{OAPI}/topapi/v2/department/listsub") + r".*"),
                          callback=self._listsub)
        rsps.add_callback(responses.POST, re.compile(re.escape(f"{OAPI}/topapi/v2/user/list") + r"(\?.*)?$"),
                          callback=self._userlist)

    # scripting ------------------------------------------------------------------------------
    def queue(self, path: str, *answers: Any) -> None:
        """Queue special answers for an endpoint path: (status, body) tuples or exceptions."""
        self.script.setdefault(path, []).extend(answers)

    def _scripted(self, path: str):
        items = self.script.get(path)
        if items:
            item = items.pop(0)
            if isinstance(item, Exception):
                raise item
            status, body = item
            return status, {}, json.dumps(body)
        return None

    def _check_token(self, request) -> None:
        self.tokens_seen.append(request.headers.get("x-acs-dingtalk-access-token", ""))

    # endpoints ------------------------------------------------------------------------------
    def _upload(self, request):
        from tests.helpers import multipart_files

        name, content = multipart_files(request)["media"]
        media_id = f"@lADPmedia{len(self.uploads) + 1}"
        self.uploads.append({"type": request.params.get("type"), "name": name, "content": content,
                             "media_id": media_id, "token": request.params.get("access_token")})
        return 200, {}, json.dumps({"errcode": 0, "errmsg": "ok", "type": "file", "media_id": media_id,
                                    "created_at": 1380000000})

    def _token(self, request):
        scripted = self._scripted("/v1.0/oauth2/accessToken")
        if scripted:
            return scripted
        self.token_calls += 1
        body = json.loads(request.body)
        assert body == {"appKey": APP_KEY, "appSecret": APP_SECRET}
        return 200, {}, json.dumps({"accessToken": f"TOKEN{self.token_calls}", "expireIn": 7200})

    def _batch(self, request):
        self._check_token(request)
        scripted = self._scripted("/v1.0/robot/oToMessages/batchSend")
        if scripted:
            return scripted
        body = json.loads(request.body)
        assert len(body["userIds"]) <= 20, "batchSend takes at most 20 userIds"
        body["param"] = json.loads(body["msgParam"])
        body["_seq"] = next(self._seq)
        self.batch.append(body)
        return 200, {}, json.dumps({"processQueryKey": f"PQK{next(self._n)}", "invalidStaffIdList": [],
                                    "flowControlledStaffIdList": []})

    def _create(self, request):
        self._check_token(request)
        scripted = self._scripted("/v1.0/card/instances/createAndDeliver")
        if scripted:
            return scripted
        body = json.loads(request.body)
        body["_seq"] = next(self._seq)
        self.cards.append(body)
        space = body["openSpaceId"].split(".", 1)[1] if "." in body["openSpaceId"] else ""
        return 200, {}, json.dumps({"success": True, "result": {"outTrackId": body["outTrackId"], "deliverResults": [
            {"spaceType": "IM_ROBOT", "spaceId": space, "success": True}]}})

    def _update(self, request):
        self._check_token(request)
        scripted = self._scripted("/v1.0/card/instances")
        if scripted:
            return scripted
        self.updates.append(json.loads(request.body))
        return 200, {}, json.dumps({"success": True, "result": True})

    def _session(self, request):
        scripted = self._scripted("/robot/sendBySession")
        if scripted:
            return scripted
        self.session.append((request.url, json.loads(request.body)))
        return 200, {}, json.dumps({"errcode": 0, "errmsg": "ok"})

    def _deptget(self, request):
        body = json.loads(request.body)
        did = int(body["dept_id"])
        for subs in self.departments.values():
            for d in subs:
                if int(d["dept_id"]) == did:
                    return 200, {}, json.dumps({"errcode": 0, "errmsg": "ok", "result": d})
        return 200, {}, json.dumps({"errcode": 0, "errmsg": "ok", "result": {"dept_id": did, "name": self.root_name}})

    def _listsub(self, request):
        body = json.loads(request.body)
        subs = self.departments.get(int(body["dept_id"]), [])
        return 200, {}, json.dumps({"errcode": 0, "errmsg": "ok", "result": subs, "request_id": "r1"})

    def _userlist(self, request):
        body = json.loads(request.body)
        people = self.users.get(int(body["dept_id"]), [])
        cursor, size = int(body.get("cursor") or 0), int(body["size"])
        page = people[cursor:cursor + size]
        more = cursor + size < len(people)
        result = {"has_more": more, "list": page}
        if more:
            result["next_cursor"] = cursor + size
        return 200, {}, json.dumps({"errcode": 0, "errmsg": "ok", "result": result, "request_id": "r2"})

    # reading --------------------------------------------------------------------------------
    def texts_to(self, user: str) -> list[str]:
        out = [b["param"]["content"] for b in self.batch if user in b["userIds"] and b["msgKey"] == "sampleText"]
        out += [b["param"]["text"] for b in self.batch if user in b["userIds"] and b["msgKey"] == "sampleMarkdown"]
        return out

    def cards_to(self, user: str) -> list[dict]:
        """Interactive cards delivered to `user`: {outTrackId, title, markdown, buttons:[{text,key}], done_text}."""
        out = []
        for body in self.cards:
            if body["openSpaceId"] == f"dtv1.card//IM_ROBOT.{user}":
                params = body["cardData"]["cardParamMap"]
                out.append({"outTrackId": body["outTrackId"], "title": params["title"],
                            "markdown": params["markdown"], "buttons": json.loads(params["buttons"]),
                            "done_text": params["done_text"]})
        return out

    def updates_of(self, out_track_id: str) -> list[dict]:
        return [u["cardData"]["cardParamMap"] for u in self.updates if u["outTrackId"] == out_track_id]


@dataclass
class DingTalkPlatform:
    """Posts robot messages and card clicks signed exactly as DingTalk does."""

    client: Any
    config: Any
    clock: Any
    api: FakeDingTalkAPI | None = None
    secret: str = APP_SECRET
    last_card: dict = field(default_factory=dict)
    _ms: Any = field(default_factory=itertools.count)

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def headers(self, timestamp: int | None = None, signature: str | None = None) -> dict[str, str]:
        # DingTalk signs each request at the millisecond it sends it; the test clock is frozen, so
        # successive requests get successive milliseconds (a (timestamp, sign) pair is used once)
        ts = str(timestamp if timestamp is not None else self.now_ms() + next(self._ms) % 60_000)
        return {"timestamp": ts, "sign": signature if signature is not None else sign(ts, self.secret)}

    def post(self, body: dict | bytes, *, timestamp: int | None = None, signature: str | None = None,
             headers: dict | None = None):
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        h = self.headers(timestamp, signature) if headers is None else headers
        return self.client.post("/dingtalk/callback", data=data, headers=h,
                                content_type="application/json; charset=utf-8")

    def say(self, user: str, text: str, **kw) -> str:
        """Send a 1:1 text as DingTalk would; return what came back through the sessionWebhook."""
        body = message_body(user, text, now_ms=self.now_ms(), **kw)
        resp = self.post(body)
        assert resp.status_code == 200, resp.data
        return self.session_text(body["sessionWebhook"])

    def session_text(self, url: str) -> str:
        assert self.api is not None
        return "\n\n".join(b["text"]["content"] for u, b in self.api.session if u == url)

    def card_headers(self, token: str | None = None) -> dict[str, str]:
        """The headers of a card callback: DingTalk's signature made with the registered apiSecret."""
        token = token or card_callback_token(self.secret)
        ts = str(self.now_ms() + next(self._ms) % 60_000)
        return {"timestamp": ts, "sign": sign(ts, card_api_secret(self.secret, token))}

    def click(self, user: str, key: str, out_track_id: str, *, token: str | None = None, headers: dict | None = None):
        token = token or card_callback_token(self.secret)
        body = card_callback_body(user, key, out_track_id)
        return self.client.post(f"/dingtalk/card/callback/{token}", data=json.dumps(body, ensure_ascii=False),
                                headers=self.card_headers(token) if headers is None else headers,
                                content_type="application/json")

    def press(self, user: str, button: str, card: dict | None = None):
        """Press a button by its text on `card` or on the latest card with buttons sent to `user`."""
        assert self.api is not None
        if card is None:
            cards = [c for c in self.api.cards_to(user) if c["buttons"] and not c["done_text"]]
            assert cards, f"{user} has no DingTalk card with buttons"
            card = cards[-1]
        matches = [b for b in card["buttons"] if b["text"] == button or b["key"] == button]
        assert matches, f"no button {button!r} on card {card['title']!r}: {[b['text'] for b in card['buttons']]}"
        resp = self.click(user, matches[0]["key"], card["outTrackId"])
        assert resp.status_code == 200, resp.data
        return resp


@pytest.fixture
def dt_api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeDingTalkAPI(rsps)


@pytest.fixture
def dingtalk(client, services, clock, dt_api):
    """The DingTalk platform double, wired to the fake API (and its sessionWebhooks)."""
    return DingTalkPlatform(client, services.config, clock, dt_api)


# --- one driver over both platforms (for platform-parametrized end-to-end tests) -------------------

BOTH_PLATFORMS = {"delivery.platforms": ["wecom", "dingtalk"], **DINGTALK_OVERRIDES}


@dataclass
class Delivered:
    """A message a user received through the outbox, platform-neutral."""

    kind: str                    # "text" or "card"
    title: str = ""
    text: str = ""
    buttons: tuple[str, ...] = ()
    done_text: str = ""
    raw: dict = field(default_factory=dict)


class PlatformChat:
    """Drive the bot as a user of `kind` ("wecom" or "dingtalk"); demo ids are given as WeCom ids.

    say() returns the immediate answer (WeCom passive reply / DingTalk sessionWebhook reply),
    press() presses a button of the latest card the user received and returns the answer text
    (on DingTalk that comes through the outbox), inbox() returns what the outbox delivered since
    the previous call.
    """

    def __init__(self, kind: str, services, wecom, wecom_api, dingtalk, dt_api) -> None:
        self.kind = kind
        self.services = services
        self.wecom, self.wecom_api = wecom, wecom_api
        self.dingtalk, self.dt_api = dingtalk, dt_api
        self.outbox = services.outbox_dispatcher()
        self.seen: dict[str, int] = {}

    def uid(self, user: str) -> str:
        return user if self.kind == "wecom" else f"dt_{user}"

    def drain(self) -> None:
        self.outbox.drain()

    def say(self, user: str, text: str) -> str:
        out = self.wecom.say(user, text) if self.kind == "wecom" else self.dingtalk.say(self.uid(user), text)
        self.drain()
        return out

    def _all(self, user: str) -> list[Delivered]:
        uid = self.uid(user)
        items: list[Delivered] = []
        if self.kind == "wecom":
            for m in self.wecom_api.to(uid):
                if m.get("msgtype") == "text":
                    items.append(Delivered("text", text=m["text"]["content"], raw=m))
                else:
                    tc = m["template_card"]
                    items.append(Delivered("card", title=tc["main_title"]["title"], text=tc.get("sub_title_text", ""),
                                           buttons=tuple(b["text"] for b in tc.get("button_list", [])
                                                         if b.get("key") != "noop"),
                                           done_text=tc.get("replace_text", ""), raw=tc))
        else:
            events = []
            for _i, b in enumerate(self.dt_api.batch):
                if uid in b["userIds"]:
                    text = b["param"].get("content") or b["param"].get("text", "")
                    events.append((b.get("_seq", 0), Delivered("text", text=text, raw=b)))
            for c in self.dt_api.cards:
                if c["openSpaceId"] == f"dtv1.card//IM_ROBOT.{uid}":
                    p = c["cardData"]["cardParamMap"]
                    events.append((c.get("_seq", 0), Delivered("card", title=p["title"], text=p["markdown"],
                                                             buttons=tuple(x["text"] for x in json.loads(p["buttons"])),
                                                             done_text=p["done_text"], raw=c)))
            items = [d for _, d in sorted(events, key=lambda e: e[0])]
        return items

    def inbox(self, user: str) -> list[Delivered]:
        self.drain()
        items = self._all(user)
        start = self.seen.get(user, 0)
        self.seen[user] = len(items)
        return items[start:]

    def texts(self, user: str) -> str:
        """All text of what the user received since the last inbox()/texts() call."""
        return "\n\n".join(f"{d.title}\n{d.text}" if d.kind == "card" else d.text for d in self.inbox(user))

    def latest_card(self, user: str) -> Delivered:
        cards = [d for d in self._all(user) if d.kind == "card" and d.buttons and not d.done_text]
        assert cards, f"{user} received no card with buttons on {self.kind}"
        return cards[-1]

    def press(self, user: str, button: str, card: Delivered | None = None) -> str:
        card = card or self.latest_card(user)
        uid = self.uid(user)
        if self.kind == "wecom":
            tc = card.raw
            keys = [b["key"] for b in tc["button_list"] if b["text"] == button or b["key"] == button]
            assert keys, f"no button {button!r} on {card.title!r}: {card.buttons}"
            out = self.wecom.click(uid, keys[0], tc["task_id"])
            self.drain()
            return out
        before = len([b for b in self.dt_api.batch if uid in b["userIds"]])
        self.dingtalk.press(uid, button, card={"outTrackId": card.raw["outTrackId"], "title": card.title,
                                               "buttons": json.loads(card.raw["cardData"]["cardParamMap"]["buttons"])})
        self.drain()
        mine = [b for b in self.dt_api.batch if uid in b["userIds"]][before:]
        return "\n\n".join(b["param"].get("content") or b["param"].get("text", "") for b in mine)

    def card_updates(self, user: str) -> list[dict]:
        """Card replacements after a click: WeCom update_template_card bodies / DingTalk cardParamMaps."""
        self.drain()
        uid = self.uid(user)
        if self.kind == "wecom":
            return [u["template_card"] for u in self.wecom_api.updates if uid in u.get("userids", [])]
        tracks = {c["outTrackId"] for c in self.dt_api.cards if c["openSpaceId"] == f"dtv1.card//IM_ROBOT.{uid}"}
        return [u["cardData"]["cardParamMap"] for u in self.dt_api.updates if u["outTrackId"] in tracks]


@pytest.fixture
def wecom_api(dt_api):
    from tests.helpers import FakeWeComAPI

    return FakeWeComAPI(dt_api.rsps)


@pytest.fixture(params=["wecom", "dingtalk"])
def chat(request, services, wecom, wecom_api, dingtalk, dt_api):
    """Platform-parametrized driver; use with config_overrides = BOTH_PLATFORMS."""
    return PlatformChat(request.param, services, wecom, wecom_api, dingtalk, dt_api)
