"""One pipeline for every inbound event, whatever the platform.

begin the turn (one Redis script: dedupe claim, the user's lock, dialog state, roster version,
active day) → the sender from the worker's cache (bot.identity) → route; the handler opens a
session only when it touches ctx.db → if the turn wrote anything: record the delivery and commit,
else no commit → end the turn (one script: save or clear the state, mark handled, unlock) →
return what the adapter should answer passively. A read-only command outside a dialog is a light
turn: the begin script marks it handled at once, so the turn costs one Redis round trip and, for
`帮助`, nothing else.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, event, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from models.db import read_session_factory
from models.directory import ROSTER_INDEX
from models.outbox import ProcessedDelivery

from .config import Config
from .context import Clock, Context
from .dedupe import Deduper
from .forms import CANCEL_WORDS, route_form, wants_media
from .identity import Identities, person_for
from .inbound_limit import TOO_FAST_TEXT
from .messages import Card, Incoming, Reply, Text
from .outbox import enqueue_now
from .router import Registry
from .state import ConversationStore, FormState
from .turn import TooFast, Turn, TurnGate
from .views import Views

if TYPE_CHECKING:
    from .inbound_limit import InboundLimiter
    from .metrics import Metrics

log = logging.getLogger("lianxin.dispatch")

__all__ = ["ERROR_TEXT", "UNKNOWN_USER_TEXT", "Dispatcher", "Outcome", "PlatformTraits", "person_for"]

UNKNOWN_USER_TEXT = "您的账号尚未登记在连心名册中，暂时无法使用。请联系管理员导入名册。"
ERROR_TEXT = "系统繁忙，这条消息没有处理成功，请稍后再发一次。"


@dataclass(frozen=True)
class PlatformTraits:
    passive_cards: bool = False           # can a new card be the passive reply? (simulator only)
    passive_text_bytes: int | None = 2000  # WeCom passive text is cut at 2,048 bytes
    passive_action_text: bool = True      # False: a card click has no reply path (DingTalk), queue its text too


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    card_updates: list[Card] = field(default_factory=list)
    duplicate: bool = False

    @property
    def text(self) -> str:
        return "\n\n".join(r.text if isinstance(r, Text) else r.as_text() for r in self.replies)


class Dispatcher:
    def __init__(self, *, config: Config, registry: Registry, session_factory: sessionmaker[Session],
                 store: ConversationStore, deduper: Deduper, clock: Clock | None = None,
                 traits: dict[str, PlatformTraits] | None = None, metrics: Metrics | None = None) -> None:
        self.config = config
        self.registry = registry
        self.sf = session_factory
        self.store = store
        self.deduper = deduper
        self.clock = clock or Clock()
        self.traits = traits or {}
        self.metrics = metrics
        self.turns = TurnGate(store, deduper)
        self.inbound_limit: InboundLimiter | None = None    # set by build_services
        self._tz = ZoneInfo(config.timezone)
        engine = session_factory.kw.get("bind")
        self.read_sf = read_session_factory(engine) if engine is not None else session_factory
        self.identities = Identities(self.read_sf, max_age=config.get("identity.max_age_seconds", float),
                                     snapshot_interval=config.get("identity.snapshot_interval_seconds", float),
                                     snapshot_people=config.get("identity.snapshot_max_people", int))
        self.views = Views(store.r, config.get("views.ttl_seconds", int))
        # listeners are marked on their target, not asked of event.contains: SQLAlchemy keys listeners by
        # the target's id(), and a new factory (or engine) that reuses a collected one's id looks
        # registered already — its turns would record no connection (or no writes) and end without a
        # commit (or without their delivery row)
        if engine is not None and not getattr(engine, _HOOKED, False):
            event.listen(engine, "before_cursor_execute", _count_writes)
            setattr(engine, _HOOKED, True)
        for factory in {session_factory, self.read_sf}:
            if not getattr(factory, _HOOKED, False):
                event.listen(factory, "after_begin", _connected)
                setattr(factory, _HOOKED, True)

    def handle(self, incoming: Incoming) -> Outcome:
        platform, user = incoming.platform, incoming.user_id
        now = self.clock.now()
        limit = self.inbound_limit
        day = now.astimezone(self._tz).date().isoformat()
        turn = self.turns.begin(platform, incoming.message_id, user, read_only=self._read_only(incoming),
                                active=(day, f"{platform}:{user}"),
                                limit=(limit.keys(platform, user), limit.args(now)) if limit else None)
        if isinstance(turn, TooFast):   # a burst: one polite answer, the rest dropped
            return Outcome(replies=[Text(TOO_FAST_TEXT)] if turn.warned else [])
        if turn is None:
            log.info("dedupe.hit", extra={"platform": platform, "delivery": incoming.message_id})
            if self.metrics:
                self.metrics.dedupe_hits.labels(platform).inc()
            return Outcome(duplicate=True)
        started = time.perf_counter()
        try:
            outcome, state = self._handle_turn(incoming, turn)
        except BaseException:
            self.turns.abort(turn)   # rolled back: the platform's retry must be processed
            raise
        finally:
            if self.metrics:
                self.metrics.handler_latency.observe(time.perf_counter() - started)
        if turn.light:
            if state is not None:
                log.error("turn.light_state_dropped", extra={"form": state.form})
            return outcome
        # the dialog state is saved only after the transaction committed, together with "handled"
        if outcome.duplicate:
            self.turns.end(turn, state=None, keep=True)
        else:
            self.turns.end(turn, state=state, ttl=self._ttl(state))
        return outcome

    def _read_only(self, incoming: Incoming) -> bool:
        """A text that names a read-only command: its turn may be light (no lock, no end script)."""
        if incoming.action or not incoming.text:
            return False
        matched = self.registry.match_command(incoming.text)
        return matched is not None and matched[0].read_only

    def _ttl(self, state: FormState | None) -> int:
        form = self.registry.forms.get(state.form) if state is not None else None
        return (form.ttl if form and form.ttl else None) or self.store.ttl

    # ------------------------------------------------------------------------------------------
    def _handle_turn(self, incoming: Incoming, turn: Turn) -> tuple[Outcome, FormState | None]:
        platform, user = incoming.platform, incoming.user_id
        traits = self.traits.get(platform, PlatformTraits())
        person = self.identities.sender(platform, user, turn.roster_version)
        ctx = Context(incoming=incoming, person=person, db=None,  # type: ignore[arg-type]  # opened lazily by `opener`
                      config=self.config, registry=self.registry,
                      clock=self.clock, state=turn.state, opener=self._open, read_only=turn.light,
                      versions=(turn.roster_version, turn.talks_version), views=self.views)
        if not turn.light:
            ctx.db = self._open(ctx)
        try:
            if person is None:
                ctx.reply(UNKNOWN_USER_TEXT)
                ctx.state = None
            else:
                if turn.expired_form:
                    title = getattr(self.registry.forms.get(turn.expired_form), "title", turn.expired_form)
                    ctx.reply(f"您之前的「{title}」对话因长时间未操作已自动结束，未保存的内容已丢弃。")
                self._route(ctx)
            self._route_cards(ctx, traits)
            db = ctx.__dict__.get("_db")
            if (db is not None and self._finish(ctx, db, turn)) or ctx.repeat:
                return Outcome(duplicate=True), None
        except BaseException:
            db = ctx.__dict__.get("_db")
            if db is not None:
                db.rollback()
            raise
        finally:
            db = ctx.__dict__.get("_db")
            if db is not None:
                db.close()
        return Outcome(replies=ctx.replies, card_updates=ctx.card_updates), ctx.state

    def _open(self, ctx: Context) -> Session:
        """The turn's session. A connection is taken only when a statement runs (after_begin).

        A light turn's read-only command opens it when it first touches ctx.db: an autocommit
        session, with the cached sender as it is. Any other turn gets a session at once, whose
        identity map holds a copy of the sender merged without a query, so that handlers may
        relate the sender, and the units of its roles, to what they load and write."""
        db = self.read_sf() if ctx.read_only else self.sf()
        db.info[_TURN] = True
        snapshot = self.identities.snapshot(ctx.versions[0]) if ctx.versions else None
        if snapshot is not None:   # people by id and exact name without a query (models.directory)
            db.info[ROSTER_INDEX] = snapshot
        if not ctx.read_only and ctx.person is not None:
            ctx.person = db.merge(ctx.person, load=False)
        return db

    def _finish(self, ctx: Context, db: Session, turn: Turn) -> bool:
        """Commit what the turn wrote, with its delivery row; True if that row shows a repeat."""
        inc = ctx.incoming
        db.flush()
        conn = db.info.get(_CONN)
        if conn is None:
            if db.in_transaction():
                # no connection recorded: a turn that ran no statement (only merged its sender), or one
                # whose hook is missing; commit either way (a no-op for the first) so no write is lost.
                # Not logged: the first is common (a command refused for its arguments), and the
                # second is what tests/core/test_write_count.py guards against
                db.commit()
            return False   # ran nothing: no transaction to end
        wrote = conn.info.pop(_WRITES, 0) > 0
        if ctx.read_only:   # a light turn's autocommit session: nothing to commit
            if wrote:
                log.error("turn.read_only_wrote", extra={"command": ctx.command})
            return False
        if not wrote:
            # The statement count decides only whether the delivery row is written; the transaction
            # is committed whenever the turn used one, so a write the count missed is never lost.
            db.commit()
            return False
        # The turn changed the database: record the delivery in the same transaction, so that a
        # retry finding Redis without its "handled" mark (Redis restarted, or the worker died
        # after committing) is refused here. A read-only turn writes nothing: its retry is at
        # worst answered twice, and a dialog step's state and "handled" mark are saved together
        # by bot.turn.
        try:
            db.connection().execute(_INSERT_DELIVERY, {"key": f"{inc.platform}:{inc.message_id}"[:200]})
        except IntegrityError:
            db.rollback()
            log.info("dedupe.db_hit", extra={"platform": inc.platform, "delivery": inc.message_id})
            return True
        db.commit()
        return False

    def _route_cards(self, ctx: Context, traits: PlatformTraits) -> None:
        """Move what cannot be answered passively on this platform into the outbox."""
        inc = ctx.incoming
        if not traits.passive_cards:
            kept: list[Reply] = []
            queue_all = inc.is_action and not traits.passive_action_text  # keeps text and cards in order
            for r in ctx.replies:
                if isinstance(r, Card) or queue_all:
                    enqueue_now(ctx.db, platform=inc.platform, recipients=[inc.user_id], reply=r,
                            ref=f"reply:{inc.message_id}"[:80])
                else:
                    kept.append(r)
            ctx.replies = kept
            for card in ctx.card_updates:
                enqueue_now(ctx.db, platform=inc.platform, kind="update_card", recipients=[inc.user_id],
                        reply=card, response_code=inc.response_code, ref=f"update:{inc.card_id or ''}"[:80])
            ctx.card_updates = []
        limit = traits.passive_text_bytes
        if limit:
            text = "\n\n".join(r.text for r in ctx.replies if isinstance(r, Text))
            if len(text.encode()) > limit:
                head, rest = _split_bytes(text, limit)
                ctx.replies = [Text(head)]
                for part in rest:
                    enqueue_now(ctx.db, platform=inc.platform, recipients=[inc.user_id], reply=Text(part),
                            ref=f"reply:{inc.message_id}"[:80])

    def _route(self, ctx: Context) -> None:
        inc = ctx.incoming
        # voice, image…: answered, a dialog stays as it was — unless its step takes a photo
        if inc.unsupported and self.registry.fallback and not (inc.media_id and wants_media(ctx, self.registry.forms)):
            ctx.command = "unsupported"
            self.registry.fallback(ctx, "")
            return
        text = (inc.text or "").strip()
        lowered = text.lower()
        if route_form(ctx, self.registry.forms):
            return
        if inc.action:
            match = self.registry.match_action(inc.action)
            if match is None:
                log.warning("action.unknown", extra={"platform": inc.platform, "key": inc.action[:60]})
                ctx.reply("这张卡片已失效，无法处理这次点击。")
                return
            action, data = match
            ctx.command = action.data_cls.prefix
            action.handler(ctx, data)
            return
        if lowered in CANCEL_WORDS:
            ctx.reply("当前没有进行中的对话。发送“帮助”查看可用命令。")
            return
        matched = self.registry.match_command(text)
        if matched is not None:
            cmd, args = matched
            ctx.command = cmd.names[0]
            if cmd.allowed is not None and not cmd.allowed(ctx):
                ctx.deny(cmd.names[0], what=f"抱歉，「{cmd.names[0]}」仅对有相应职责的同志开放。发送“帮助”查看您可用的命令。")
                return
            cmd.handler(ctx, args)
            return
        if self.registry.fallback:
            ctx.command = "fallback"
            self.registry.fallback(ctx, text)
        else:
            ctx.reply("没听懂。发送“帮助”查看可用命令。")


# built once, run on the session's connection: a Core row, not the ORM's bulk insert path
_INSERT_DELIVERY = insert(cast(Table, ProcessedDelivery.__table__))
_WRITES = "lianxin_writes"
_TURN = "lianxin_turn"
_CONN = "lianxin_conn"
_HOOKED = "_lianxin_turn_listener"   # set on a session factory (engine) once _connected (_count_writes) listens


def _connected(session: Session, transaction: Any, connection: Connection) -> None:
    """A turn's session took a connection: count the writes on it from here.

    after_begin also fires for a SAVEPOINT (begin_nested) on the same connection: that must not
    reset the count, or the writes made before the savepoint are forgotten."""
    if session.info.get(_TURN) and not transaction.nested:
        connection.info[_WRITES] = 0
        session.info[_CONN] = connection


_READ_ONLY_HEADS = ("SELECT", "SHOW", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")


def _count_writes(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                  executemany: bool) -> None:
    """Count the statements of the turn's transaction that may change something (any statement
    but a read; SELECT … FOR UPDATE counts as a read, a data-modifying CTE starts with WITH)."""
    info = conn.info
    if _WRITES in info and not statement.lstrip()[:40].upper().startswith(_READ_ONLY_HEADS):
        info[_WRITES] += 1


def _split_bytes(text: str, limit: int) -> tuple[str, list[str]]:
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) > limit and current:
            parts.append(current)
            current = line
        else:
            current = candidate
        while len(current.encode()) > limit:
            cut = limit
            while len(current[:cut].encode()) > limit:
                cut -= 1
            parts.append(current[:cut])
            current = current[cut:]
    if current:
        parts.append(current)
    return parts[0], parts[1:]
