"""The internal message model shared by every platform adapter and the simulator.

Handlers only ever see `Incoming` and produce `Text` / `Card` (and `File`, through ctx.send_file); adapters translate to and from
WeCom XML, DingTalk JSON or the simulator's JSON. Cards are plain data so they can be stored in
the outbox as JSON and rendered natively by each platform (WeCom template card, DingTalk card,
simulator HTML, terminal text).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Button", "Card", "File", "Incoming", "Reply", "Text", "reply_from_dict", "reply_to_dict"]


@dataclass(frozen=True)
class Incoming:
    """One inbound user event: a chat text, a card button press, or a message we cannot read."""

    platform: str                  # "wecom", "dingtalk", "sim"
    user_id: str                   # the platform's user id (WeCom UserID, DingTalk staffId)
    time: datetime
    message_id: str                # platform message id or a derived delivery key
    text: str | None = None
    action: str | None = None      # card button key, e.g. "case:12:ack"
    card_id: str | None = None     # the card instance (WeCom task_id, DingTalk outTrackId)
    response_code: str | None = None  # WeCom: lets us update the clicked card once
    chat_type: str = "single"
    unsupported: str | None = None  # a message we cannot read: "voice", "image", "video", "file", "location", "link", "other"
    media_id: str | None = None     # its platform media id (WeCom MediaId, DingTalk downloadCode), kept for later use

    @property
    def is_action(self) -> bool:
        return self.action is not None


@dataclass(frozen=True)
class Button:
    text: str
    key: str                       # packed callback data, ≤ 1024 bytes (WeCom limit)
    style: int = 1                 # 1 primary … 4 (WeCom styles)

    def __post_init__(self) -> None:
        if len(self.key.encode()) > 1024:
            raise ValueError("button key longer than 1024 bytes")


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Card:
    """A message card: title, body lines, key/value fields, up to 6 buttons."""

    title: str
    body: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    card_id: str = ""              # stable id (WeCom task_id): [0-9A-Za-z_-@]{1,128}
    done_text: str | None = None   # when set, buttons are shown greyed with this text
    url: str | None = None         # optional link (dashboard, material)

    def __post_init__(self) -> None:
        if len(self.buttons) > 6:
            raise ValueError("a card holds at most 6 buttons")

    def as_text(self) -> str:
        """Plain-text fallback (terminal simulator, logs without content, platforms w/o cards)."""
        lines = [f"【{self.title}】"]
        if self.body:
            lines.append(self.body)
        lines += [f"{k}：{v}" for k, v in self.fields]
        if self.url:
            lines.append(self.url)
        if self.done_text:
            lines.append(f"〔{self.done_text}〕")
        else:
            lines += [f"  [{i}] {b.text}" for i, b in enumerate(self.buttons, 1)]
        return "\n".join(lines)


@dataclass(frozen=True)
class File:
    """A file for its recipient (an export), stored in `export_file` under `token`: the outbox row
    carries only this reference; each platform's sender uploads the bytes and sends its file message."""

    name: str                      # shown to the user, e.g. 报名名单-12.xlsx
    token: str                     # export_file.token (random, unguessable)
    size: int                      # bytes

    def as_text(self) -> str:
        return f"📎 {self.name}（{max(1, round(self.size / 1024))} KB）"


Reply = Text | Card | File


def reply_to_dict(reply: Reply) -> dict[str, Any]:
    if isinstance(reply, Text):
        return {"type": "text", "text": reply.text}
    if isinstance(reply, File):
        return {"type": "file", "name": reply.name, "token": reply.token, "size": reply.size}
    # written out rather than dataclasses.asdict (its deep copy was ~4 % of a sign-up click's CPU);
    # tests/core/test_messages_dict.py keeps it equal to asdict for every field of Card and Button
    return {"title": reply.title, "body": reply.body, "fields": [list(f) for f in reply.fields],
            "buttons": tuple({"text": b.text, "key": b.key, "style": b.style} for b in reply.buttons),
            "card_id": reply.card_id, "done_text": reply.done_text, "url": reply.url, "type": "card"}


def reply_from_dict(data: dict[str, Any]) -> Reply:
    if data.get("type") == "text":
        return Text(data["text"])
    if data.get("type") == "file":
        return File(name=data["name"], token=data["token"], size=int(data.get("size", 0)))
    return Card(
        title=data["title"],
        body=data.get("body", ""),
        fields=tuple(tuple(f) for f in data.get("fields", ())),
        buttons=tuple(Button(**b) for b in data.get("buttons", ())),
        card_id=data.get("card_id", ""),
        done_text=data.get("done_text"),
        url=data.get("url"),
    )
