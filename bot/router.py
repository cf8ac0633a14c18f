"""Declarative handler registry: commands (Chinese names + English aliases), card actions, fallback.

Each domain module owns a `Router`; `handlers.ROUTERS` lists them in priority order and
`Registry` merges them. Decorators only record on their own router (no import-time globals).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from .callbacks import BadCallback, CallbackData

if TYPE_CHECKING:
    from .context import Context
    from .forms import Form
    from .pending import CardSource, PendingSource

__all__ = ["Action", "ActionHandler", "Command", "CommandHandler", "Fallback", "Registry", "Router", "Subscriber"]

Allowed = Callable[["Context"], bool]
AH = TypeVar("AH", bound=Callable[..., None])
F = TypeVar("F", bound="Form[Any]")
CommandHandler = Callable[["Context", str], None]        # (ctx, the text after the command word)
ActionHandler = Callable[["Context", Any], None]         # (ctx, the unpacked CallbackData of the button)
Subscriber = Callable[["Context", dict[str, Any]], None]  # (ctx, the payload given to ctx.emit)
Fallback = Callable[["Context", str], None]              # (ctx, the whole text)


@dataclass
class Command:
    names: tuple[str, ...]
    handler: CommandHandler
    help: str = ""
    usage: str = ""
    allowed: Allowed | None = None     # who sees and may run it (asks the access policy)
    group: str = ""
    read_only: bool = False            # writes nothing, starts no dialog: a light turn (bot.turn)

    @property
    def title(self) -> str:
        return " / ".join(self.names[:2])


@dataclass
class Action:
    data_cls: type[CallbackData]
    handler: ActionHandler


@dataclass
class Router:
    name: str
    commands: list[Command] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    forms: dict[str, Form[Any]] = field(default_factory=dict)
    fallback_handler: Fallback | None = None
    subscribers: dict[str, list[Subscriber]] = field(default_factory=dict)
    pending_sources: list[PendingSource] = field(default_factory=list)   # 待办 (bot.pending)
    card_sources: dict[str, CardSource] = field(default_factory=dict)    # 卡片 N, by noun
    default_card_noun: str = ""

    def pending(self, fn: PendingSource) -> PendingSource:
        """Register `fn(ctx) -> list[PendingItem]`: this domain's part of 待办."""
        self.pending_sources.append(fn)
        return fn

    def card_source(self, noun: str, *, default: bool = False) -> Callable[[CardSource], CardSource]:
        """Register `fn(ctx, number) -> Card | None` re-sending item `number`'s card (卡片 活动 3);
        `default`: what a bare `卡片 N` means when N is none of the sender's pending items."""
        def deco(fn: CardSource) -> CardSource:
            if noun in self.card_sources:
                raise ValueError(f"card source {noun!r} registered twice")
            self.card_sources[noun] = fn
            if default:
                self.default_card_noun = noun
            return fn
        return deco

    def command(self, *names: str, help: str = "", usage: str = "", allowed: Allowed | None = None,
                read_only: bool = False) -> Callable[[CommandHandler], CommandHandler]:
        """Register `handler(ctx, args: str)` for the given command words.

        read_only: the handler only reads (no write, no outbox, no dialog): the dispatcher runs it
        without the user's lock, on an autocommit session, with the sender's cached record."""
        def deco(fn: CommandHandler) -> CommandHandler:
            self.commands.append(Command(tuple(names), fn, help, usage, allowed, self.name, read_only))
            return fn
        return deco

    def action(self, data_cls: type[CallbackData]) -> Callable[[AH], AH]:
        """Register `handler(ctx, data)` for card buttons packed with `data_cls`."""
        def deco(fn: AH) -> AH:
            self.actions.append(Action(data_cls, fn))
            return fn
        return deco

    def on(self, event: str) -> Callable[[Subscriber], Subscriber]:
        """Subscribe `handler(ctx, payload: dict)` to a domain event emitted with ctx.emit()."""
        def deco(fn: Subscriber) -> Subscriber:
            self.subscribers.setdefault(event, []).append(fn)
            return fn
        return deco

    def fallback(self, fn: Fallback) -> Fallback:
        self.fallback_handler = fn
        return fn

    def form(self, form: F) -> F:
        self.forms[form.name] = form
        return form

    def include(self, *routers: Router) -> Router:
        """Take over what sub-routers registered (a domain package's `__init__` includes its modules)."""
        for sub in routers:
            self.commands += [replace(c, group=self.name) for c in sub.commands]
            self.actions += sub.actions
            for name, form in sub.forms.items():
                if name in self.forms:
                    raise ValueError(f"form {name!r} registered twice")
                self.forms[name] = form
            for event, fns in sub.subscribers.items():
                self.subscribers.setdefault(event, []).extend(fns)
            self.pending_sources += sub.pending_sources
            for noun, fn in sub.card_sources.items():
                self.card_source(noun, default=noun == sub.default_card_noun)(fn)
            if sub.fallback_handler and self.fallback_handler is None:
                self.fallback_handler = sub.fallback_handler
        return self


class Registry:
    """All routers of the app, merged; lookups used by the dispatcher and by help."""

    def __init__(self, routers: Iterable[Router]) -> None:
        self.routers = list(routers)
        self._by_word: dict[str, Command] = {}
        self.forms: dict[str, Form[Any]] = {}
        self.fallback: Fallback | None = None
        self.subscribers: dict[str, list[Subscriber]] = {}
        self.memo: dict[Any, Any] = {}   # derived views that depend only on the registry and a key (帮助 per role set)
        self.pending_sources: list[PendingSource] = [fn for r in self.routers for fn in r.pending_sources]
        self.card_sources: dict[str, CardSource] = {}
        self.default_card_noun = next((r.default_card_noun for r in self.routers if r.default_card_noun), "")
        for router in self.routers:
            for noun, fn in router.card_sources.items():
                if noun in self.card_sources:
                    raise ValueError(f"card source {noun!r} registered twice")
                self.card_sources[noun] = fn
            for event, fns in router.subscribers.items():
                self.subscribers.setdefault(event, []).extend(fns)
            for cmd in router.commands:
                for name in cmd.names:
                    key = name.lower()
                    if key in self._by_word:
                        raise ValueError(f"command {name!r} registered twice")
                    self._by_word[key] = cmd
            for name, form in router.forms.items():
                if name in self.forms:
                    raise ValueError(f"form {name!r} registered twice")
                self.forms[name] = form
            if router.fallback_handler and self.fallback is None:
                self.fallback = router.fallback_handler

    @property
    def commands(self) -> list[Command]:
        return [c for r in self.routers for c in r.commands]

    def match_command(self, text: str) -> tuple[Command, str] | None:
        text = text.strip()
        if not text:
            return None
        if text[0] in "/／":
            text = text[1:]
        word, _, rest = text.partition(" ")
        cmd = self._by_word.get(word.lower())
        if cmd is not None:
            return cmd, rest.strip()
        # Chinese commands are often typed without a space: "谈话记录张三"
        for name in sorted(self._by_word, key=len, reverse=True):
            if not name.isascii() and text.startswith(name) and len(name) >= 2:
                return self._by_word[name], text[len(name):].strip()
        return None

    def command_for_word(self, text: str) -> Command | None:
        """The command whose word is the first word of `text` (exactly, unlike match_command)."""
        word = text.strip().lstrip("/／").split(maxsplit=1)
        return self._by_word.get(word[0].lower()) if word else None

    def match_action(self, key: str) -> tuple[Action, CallbackData] | None:
        for router in self.routers:
            for action in router.actions:
                if action.data_cls.matches(key):
                    try:
                        return action, action.data_cls.unpack(key)
                    except BadCallback:
                        return None
        return None
