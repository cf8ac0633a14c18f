"""One pipeline for every inbound event, whatever the platform.

begin the turn (one Redis script: dedupe claim, the user's lock, dialog state) → open a
transaction → identify the sender → route → record the delivery if the turn wrote anything →
commit → end the turn (one script: save or clear the state, mark handled, unlock) → return what
the adapter should answer passively.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from models.activeday import mark_active
from models.org import Person
from models.outbox import ProcessedDelivery

from .config import Config
from .context import Clock, Context
from .dedupe import Deduper
from .forms import CANCEL_WORDS, route_form, wants_media
from .messages import Card, Incoming, Reply, Text
from .outbox import enqueue
from .router import Registry
from .state import ConversationStore, FormState
from .turn import Turn, TurnGate

log = logging.getLogger("lianxin.dispatch")

__all__ = ["ERROR_TEXT", "UNKNOWN_USER_TEXT", "Dispatcher", "Outcome", "PlatformTraits"]

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


_WITH_ROLES = select(Person).options(joinedload(Person.roles))
_SENDER = {  # built once: the statement runs on every message
    "dingtalk": _WITH_ROLES.where(Person.dingtalk_userid == bindparam("uid")),
    "wecom": _WITH_ROLES.where(Person.wecom_userid == bindparam("uid")),
}
# WeCom returns user ids lower-cased in some answers; matched case-insensitively as a fallback
_SENDER_ANY_CASE = _WITH_ROLES.where(func.lower(Person.wecom_userid) == bindparam("uid"))


def person_for(db: Session, platform: str, user_id: str) -> Person | None:
    """The active sender with unit and roles, in one query (it runs on every message)."""
    person = db.scalars(_SENDER.get(platform, _SENDER["wecom"]), {"uid": user_id}).unique().first()
    if person is None and platform != "dingtalk":
        person = db.scalars(_SENDER_ANY_CASE, {"uid": user_id.lower()}).unique().first()
    return person if person is not None and person.active else None


class Dispatcher:
    def __init__(self, *, config: Config, registry: Registry, session_factory: sessionmaker[Session],
                 store: ConversationStore, deduper: Deduper, clock: Clock | None = None,
                 traits: dict[str, PlatformTraits] | None = None, metrics=None) -> None:
        self.config = config
        self.registry = registry
        self.sf = session_factory
        self.store = store
        self.deduper = deduper
        self.clock = clock or Clock()
        self.traits = traits or {}
        self.metrics = metrics
        self.turns = TurnGate(store, deduper)
        self.inbound_limit = None    # bot.inbound_limit.InboundLimiter, set by build_services
        self._active_seen: set = set()   # (person id, local day) whose activity row this worker committed
        engine = session_factory.kw.get("bind")
        if engine is not None and not event.contains(engine, "before_cursor_execute", _count_writes):
            event.listen(engine, "before_cursor_execute", _count_writes)

    def handle(self, incoming: Incoming) -> Outcome:
        platform, user = incoming.platform, incoming.user_id
        refusal = self.inbound_limit.refusal(platform, user, self.clock.now()) if self.inbound_limit else None
        if refusal is not None:   # a burst: one polite answer, the rest dropped
            return Outcome(replies=[Text(refusal)] if refusal else [])
        turn = self.turns.begin(platform, incoming.message_id, user)
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
        # the dialog state is saved only after the transaction committed, together with "handled"
        if outcome.duplicate:
            self.turns.end(turn, state=None, keep=True)
        else:
            self.turns.end(turn, state=state, ttl=self._ttl(state))
        return outcome

    def _ttl(self, state: FormState | None) -> int:
        form = self.registry.forms.get(state.form) if state is not None else None
        return (form.ttl if form and form.ttl else None) or self.store.ttl

    # ------------------------------------------------------------------------------------------
    def _handle_turn(self, incoming: Incoming, turn: Turn) -> tuple[Outcome, FormState | None]:
        platform, user = incoming.platform, incoming.user_id
        state, expired_form = turn.state, turn.expired_form
        traits = self.traits.get(platform, PlatformTraits())
        db = self.sf()
        try:
            db.connection().info[_WRITES] = 0
            person = person_for(db, platform, user)
            ctx = Context(incoming=incoming, person=person, db=db, config=self.config,
                          registry=self.registry, clock=self.clock, state=state)
            if person is None:
                ctx.reply(UNKNOWN_USER_TEXT)
                ctx.state = None
            else:
                if expired_form:
                    title = getattr(self.registry.forms.get(expired_form), "title", expired_form)
                    ctx.reply(f"您之前的「{title}」对话因长时间未操作已自动结束，未保存的内容已丢弃。")
                self._route(ctx)
            self._route_cards(ctx, traits)
            db.flush()
            active_day = None        # set when this transaction records the sender's active day
            if db.connection().info.pop(_WRITES, None) != 0:
                # The turn changed the database: record the delivery in the same transaction, so
                # that a retry finding Redis without its "handled" mark (Redis restarted, or the
                # worker died after committing) is refused here. A read-only turn writes nothing:
                # its retry is at worst answered twice, and a dialog step's state and "handled"
                # mark are saved together by bot.turn.
                try:
                    db.execute(insert(ProcessedDelivery).values(key=f"{platform}:{incoming.message_id}"[:200]))
                except IntegrityError:
                    db.rollback()
                    log.info("dedupe.db_hit", extra={"platform": platform, "delivery": incoming.message_id})
                    return Outcome(duplicate=True), None
                # a writing turn carries the active-day row too (an INSERT … ON CONFLICT DO NOTHING
                # cannot fail): one transaction instead of two, e.g. on every click of a sign-up storm
                day = self._active_day(person.id) if person is not None else None
                if day is not None and day not in self._active_seen:
                    mark_active(db, person.id, self.clock.now(), self.config.timezone)
                    active_day = day
            db.commit()
            active_id = person.id if person is not None else None
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()
        if active_day is not None:
            self._remember_active(active_day)
        elif active_id is not None:
            self._mark_active(active_id)
        return Outcome(replies=ctx.replies, card_updates=ctx.card_updates), ctx.state

    def _mark_active(self, person_id: int) -> None:
        """Active-user statistics (models.activeday) after a read-only turn: a short transaction of its
        own, so that a read-only turn stays read-only, and a failure here never fails a message.
        A worker writes each (person, local day) once; later messages that day skip it."""
        seen = self._active_day(person_id)
        if seen in self._active_seen:
            return
        try:
            with self.sf() as db:
                mark_active(db, person_id, self.clock.now(), self.config.timezone)
                db.commit()
        except Exception:
            log.warning("stats.mark_active_failed", exc_info=True)
            return
        self._remember_active(seen)

    def _active_day(self, person_id: int) -> tuple:
        return person_id, self.clock.now().astimezone(ZoneInfo(self.config.timezone)).date()

    def _remember_active(self, seen: tuple) -> None:
        if len(self._active_seen) > 100_000:
            self._active_seen.clear()
        self._active_seen.add(seen)

    def _route_cards(self, ctx: Context, traits: PlatformTraits) -> None:
        """Move what cannot be answered passively on this platform into the outbox."""
        inc = ctx.incoming
        if not traits.passive_cards:
            kept: list[Reply] = []
            queue_all = inc.is_action and not traits.passive_action_text  # keeps text and cards in order
            for r in ctx.replies:
                if isinstance(r, Card) or queue_all:
                    enqueue(ctx.db, platform=inc.platform, recipients=[inc.user_id], reply=r,
                            ref=f"reply:{inc.message_id}"[:80])
                else:
                    kept.append(r)
            ctx.replies = kept
            for card in ctx.card_updates:
                enqueue(ctx.db, platform=inc.platform, kind="update_card", recipients=[inc.user_id],
                        reply=card, response_code=inc.response_code, ref=f"update:{inc.card_id or ''}"[:80])
            ctx.card_updates = []
        limit = traits.passive_text_bytes
        if limit:
            text = "\n\n".join(r.text for r in ctx.replies if isinstance(r, Text))
            if len(text.encode()) > limit:
                head, rest = _split_bytes(text, limit)
                ctx.replies = [Text(head)]
                for part in rest:
                    enqueue(ctx.db, platform=inc.platform, recipients=[inc.user_id], reply=Text(part),
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


_WRITES = "lianxin_writes"
_READ_ONLY_HEADS = ("SELECT", "SHOW", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")


def _count_writes(conn, cursor, statement, parameters, context, executemany) -> None:
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
