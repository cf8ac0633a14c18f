"""The one argument every handler receives: the event, the sender, the session and the outputs.

Replies to the sender are collected and returned to the adapter (passive reply where the
platform allows it). Everything addressed to other people, and cards where the platform cannot
send them passively, goes through the transactional outbox in the handler's own transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from models.audit import audit
from models.org import Person
from models.policy import can

from . import card_refs
from .config import Config
from .messages import Card, Incoming, Reply, Text
from .outbox import Priority, enqueue_now, outbox_rows, write_rows
from .state import FormState

if TYPE_CHECKING:
    from .router import Registry
    from .views import Views

log = logging.getLogger("lianxin.handlers")

__all__ = ["DENIED_TEXT", "Clock", "Context", "queue_card_updates"]

DENIED_TEXT = "抱歉，您没有权限进行此操作。如有疑问请联系所在支部书记或管理员。"


class Clock:
    """Injectable time source (tests freeze it)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Context:
    incoming: Incoming
    person: Person | None
    db: Session = field(repr=False)        # opened on first use when `opener` is given (see below)
    config: Config
    registry: Registry
    clock: Clock
    state: FormState | None = None
    replies: list[Reply] = field(default_factory=list)
    card_updates: list[Card] = field(default_factory=list)
    command: str = ""                      # the command or action that is running (for audit)
    read_only: bool = False                # the running command only reads (Router.command(read_only=True))
    versions: tuple[Any, ...] = ()         # (roster, talks) versions of this turn: keys for cached views
    repeat: bool = False                   # a handler found this delivery settled already (storm batches)
    views: Views | None = field(default=None, repr=False)   # cached read-only views shared by workers (bot.views)
    opener: Callable[[Context], Session] | None = field(default=None, repr=False)

    @property
    def me(self) -> Person:
        """The sender's record, where a handler runs only for a known person (the dispatcher answers
        unknown senders itself and never routes them); raises LookupError otherwise."""
        if self.person is None:
            raise LookupError("ctx.me: the sender is not a known person")
        return self.person

    # time -----------------------------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    def now(self) -> datetime:
        return self.clock.now()

    def local_now(self) -> datetime:
        return self.clock.now().astimezone(self.tz)

    # output ---------------------------------------------------------------------------------
    def reply(self, message: Reply | str) -> None:
        self.replies.append(Text(message) if isinstance(message, str) else message)

    def update_card(self, card: Card, *, response_code: str | None = None) -> None:
        """Replace the card the sender clicked (shows who decided, greys buttons); `response_code`
        names an earlier click kept by a form (`clicked_card_code`) instead of this one."""
        if response_code and response_code != self.incoming.response_code:
            card_refs.update_with_code(self.db, self.incoming.platform, self.incoming.user_id, card, response_code)
            return
        self.card_updates.append(card)

    @property
    def clicked_card_code(self) -> str | None:
        """The clicked card's single-use update code, for a form to pass to update_card later."""
        return self.incoming.response_code

    def update_card_for_others(self, card_ref: str, card: Card) -> int:
        """Replace card `card_ref` for everyone who got it except the sender (their card: update_card)."""
        return card_refs.update_for_others(self.db, card_ref, card, exclude=[self.person] if self.person else [])

    def update_card_for_all(self, card_ref: str, card: Card) -> int:
        """Replace card `card_ref` for everyone who got it, the sender too (a typed command did what its button does)."""
        return card_refs.update_for_others(self.db, card_ref, card, exclude=[])

    def broadcast(self, people: Sequence[Person], card: Card, *, ref: str = "", idem_key: str = "") -> None:
        """Send one card to many people, in as many messages as the platform needs (card id `{id}_{n}`);
        a broadcast is bulk: claimed after everything else, and it waits out quiet hours."""
        for n, batch, part in card_refs.broadcast_batches(people, card):
            self.notify(batch, part, ref=ref, idem_key=f"{idem_key}:{n}" if idem_key else None, priority=Priority.BULK)

    def notify(self, people: Person | Iterable[Person], message: Reply | str, *, ref: str = "",
               idem_key: str | None = None, priority: int = Priority.NORMAL) -> None:
        """Send to other people through the outbox, on every delivery platform they have an id for.

        `priority`: Priority.URGENT for flags, approvals and escalations — they leave at once, day or
        night; anything else waits out each recipient's quiet hours and 免打扰 (bot.quiet), and
        BULK (broadcasts) is claimed after everything else."""
        if isinstance(people, Person):
            people = [people]
        people = [p for p in people if p is not None and p.active]
        message = Text(message) if isinstance(message, str) else message
        notify_people(self.db, self.config, people, message, ref=ref, idem_key=idem_key, priority=priority,
                      now=self.now())

    def send_file(self, name: str, content: bytes) -> str:
        """Send the sender a file (an export) as the platform's file message, through the outbox;
        the file is kept `exports.keep_hours` (the simulator shows it as a download link). Returns
        the sentence that tells the sender it is on its way."""
        from .files import store_file

        hours = self.config.get("exports.keep_hours", float)
        file = store_file(self.db, self.me.id, name, content, now=self.now(), keep_hours=hours)
        enqueue_now(self.db, platform=self.incoming.platform, recipients=[self.incoming.user_id], reply=file,
                    ref=f"file:{file.token[:12]}", priority=Priority.URGENT)   # asked for just now: no quiet hours
        self.audit("export", "file", file.token[:12], detail=name)
        kind = "Excel 文件" if file.name.endswith(".xlsx") else "文件"
        return f"{kind}（{file.name}）随后发到本会话，{hours:g} 小时内有效。"

    # access ---------------------------------------------------------------------------------
    def can(self, action: str, target: object = None) -> bool:
        return can(self.person, action, target)

    def require(self, action: str, target: object = None, *, what: str = "") -> bool:
        """Ask the policy; on denial reply politely, log and audit, and return False."""
        if can(self.person, action, target):
            return True
        self.deny(action, target, what=what)
        return False

    def deny(self, action: str, target: object = None, *, what: str = "") -> None:
        if self.read_only and self.__dict__.get("_db") is None:   # (the dataclass stores db=None as _db)
            self.read_only = False   # the refusal is audited: a writing session, not the read-only one
        self.reply(what or DENIED_TEXT)
        target_id = getattr(target, "id", "") if target is not None else ""
        log.warning("authz_fail", extra={"actor": getattr(self.person, "id", None), "action": action,
                                         "target_type": type(target).__name__, "target_id": target_id})
        if self.person is not None:
            audit(self.db, actor_id=self.person.id, action="authz_fail", target_type=type(target).__name__,
                  target_id=target_id, via=self.command or action, outcome="denied", detail=action)

    def audit(self, action: str, target_type: str, target_id: object = "", detail: str = "") -> None:
        audit(self.db, actor_id=getattr(self.person, "id", None), action=action, target_type=target_type,
              target_id=target_id, via=self.command, detail=detail)

    # domain events --------------------------------------------------------------------------
    def emit(self, event: str, **payload: Any) -> None:
        """Run every subscriber of `event` now, inside this transaction (all or nothing)."""
        for fn in self.registry.subscribers.get(event, []):
            fn(self, payload)

    # forms ----------------------------------------------------------------------------------
    def start_form(self, name: str, answers: Mapping[str, Any] | None = None) -> None:
        self.registry.forms[name].start(self, answers)


def _get_db(ctx: Context) -> Session:
    db: Session | None = ctx.__dict__.get("_db")
    if db is None and ctx.opener is not None:
        db = ctx.__dict__["_db"] = ctx.opener(ctx)   # a turn that never touches the database opens no session
    return cast(Session, db)   # None only for a Context made with neither a session nor an opener


def _set_db(ctx: Context, db: Session | None) -> None:
    ctx.__dict__["_db"] = db


Context.db = property(_get_db, _set_db)   # type: ignore[assignment]  # a dataclass field made lazy


def delivery_platforms(config: Config) -> list[str]:
    platforms: list[str] = config.get("delivery.platforms", list)
    return platforms


def queue_card_updates(db: Session, updates: Iterable[tuple[Incoming, Card]]) -> int:
    """Each clicker's card replaced through the outbox, in `db`'s transaction, in one INSERT (the
    dispatcher does this for ctx.update_card; a handler settling many clicks in one transaction of
    its own, such as handlers/activities/storm.py, does it for all of its clicks at once)."""
    return write_rows(db, [row for incoming, card in updates for row in outbox_rows(
        platform=incoming.platform, kind="update_card", recipients=[incoming.user_id], reply=card,
        response_code=incoming.response_code, ref=f"update:{incoming.card_id or ''}"[:80])])


def notify_people(db: Session, config: Config, people: Sequence[Person], message: Reply, *,
                  ref: str = "", idem_key: str | None = None, priority: int = Priority.NORMAL,
                  now: datetime | None = None) -> None:
    """Enqueue `message` for `people` on every configured delivery platform (also used by jobs).

    With `now`, a non-urgent message waits for each recipient until their quiet hours and 免打扰 end."""
    if now is not None and priority != Priority.URGENT:
        from .quiet import group_key, hold_groups

        groups = hold_groups(db, config, people, now)
        for n, (at, group) in enumerate(groups):
            _enqueue_all(db, config, group, message, ref=ref, idem_key=group_key(idem_key, n, len(groups)),
                         priority=priority, at=at)
        return
    _enqueue_all(db, config, people, message, ref=ref, idem_key=idem_key, priority=priority, at=None)


def _enqueue_all(db: Session, config: Config, people: Sequence[Person], message: Reply, *, ref: str,
                 idem_key: str | None, priority: int, at: datetime | None) -> None:
    for platform in delivery_platforms(config):
        ids = [i for i in (p.platform_id(platform) for p in people) if i]
        if ids:
            enqueue_now(db, platform=platform, recipients=ids, reply=message, ref=ref,
                    idem_key=f"{idem_key}@{platform}" if idem_key else None, priority=priority, not_before=at)
