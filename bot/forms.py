"""Multi-step dialogs declared as step tables (PTB's ConversationHandler, aiogram's StatesGroup).

A `Form` is a name, an ordered list of `Step`s and a `done` function. Each step asks (returns a
Reply), parses the user's answer (raises `Invalid` with a user-facing message to re-ask) and
may be skipped. The engine owns navigation: 取消/cancel, 返回/back, 帮助, re-asking and stale card
buttons (route_form is the dispatcher's one call into it).
State is a JSON `FormState` in Redis (bot.state), saved by the dispatcher after the transaction.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, cast

from .args import parse_item_number
from .callbacks import BadCallback, CallbackData
from .messages import Button, Card, Reply
from .state import FormState

if TYPE_CHECKING:
    from .context import Context

__all__ = ["BACK_WORDS", "CANCEL_WORDS", "CANDIDATES", "HELP_WORDS", "Answers", "Form", "FormAnswer", "Invalid", "Step",
           "choice_card", "choice_step", "pick_option", "pick_step", "route_form"]

BUTTON_CHARS = 10       # what a WeCom / DingTalk card button shows
CANCEL_WORDS = {"取消", "cancel", "/cancel", "退出", "算了"}
BACK_WORDS = {"返回", "back", "/back", "上一步"}
# answers a confirmation step expects that are also command words (确认 N acknowledges an item):
# inside a dialog they are always answers
ANSWER_WORDS = {"确认", "是", "否", "好", "保存", "放弃", "属实"}
HELP_WORDS = {"帮助", "help", "/help", "?", "？", "菜单"}


class Invalid(ValueError):
    """The answer cannot be used; the message is shown and the step is asked again."""


@dataclass(frozen=True)
class FormAnswer(CallbackData):
    """A button inside a form: carries the form instance and step so stale cards are refused."""

    prefix = "f"
    form_id: str
    step: str
    value: str


Answers = dict[str, Any]   # a form's answers so far, by step name (JSON in FormState)
# the answers as a form's own functions see them: a TypedDict (total=False) per form, or Answers
A = TypeVar("A", bound=Mapping[str, Any])
Ask = Callable[["Context", A], Reply | str]
Parse = Callable[["Context", str, A], Any]


@dataclass
class Step(Generic[A]):
    name: str
    ask: Ask[A]
    parse: Parse[A]
    skip_if: Callable[[A], bool] | None = None
    fixed_if: Callable[[A], bool] | None = None   # 返回 never goes back to it (e.g. the person in an edit)
    # a command typed inside the dialog (see Form.typed_command): in a free-text answer only the bare
    # command word counts as one ("学习 情况良好" is a note); else any text starting with a command word
    free_text: bool = True
    is_option: Callable[[str], bool] | None = None   # an answer that is also a command word ("走访")
    accepts_media: bool = False                      # a photo (Incoming.media_id) is an answer, not "unsupported"


@dataclass
class Form(Generic[A]):
    name: str
    title: str
    steps: list[Step[A]]
    done: Callable[[Context, A], None]
    ttl: int | None = None                        # seconds; default conversation.ttl_seconds
    prefill: Callable[[Context, A], None] | None = None
    back_to_prefilled: bool = False               # 返回 also reaches steps answered before the dialog began

    def step(self, name: str) -> Step[A]:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def _answers(self, state: FormState) -> A:
        """The state's JSON answers as the form's steps declared them (the one place they are typed)."""
        return cast(A, state.answers)

    def parse_step(self, ctx: Context, name: str, text: str, answers: Answers) -> Any:
        """Parse `text` as step `name` would inside the dialog, for a command that fills answers by step name."""
        return self.step(name).parse(ctx, text, cast(A, answers))

    def next_step(self, after: str | None, answers: A) -> Step[A] | None:
        names = [s.name for s in self.steps]
        start = 0 if after is None else names.index(after) + 1
        for s in self.steps[start:]:
            if s.name in answers:
                continue  # prefilled (one-line form, search with one match)
            if s.skip_if and s.skip_if(answers):
                continue
            return s
        return None

    # engine ---------------------------------------------------------------------------------
    def start(self, ctx: Context, answers: Mapping[str, Any] | None = None) -> None:
        now = time.time()
        state = FormState(form=self.name, form_id=uuid.uuid4().hex[:8], step="",
                          answers=dict(answers or {}), started_at=now, updated_at=now)
        ctx.state = state
        self._advance(ctx, state, None)

    def answer(self, ctx: Context, state: FormState, value: str) -> None:
        step = self.step(state.step)
        try:
            parsed = step.parse(ctx, value, self._answers(state))
        except Invalid as exc:
            ctx.reply(str(exc))
            self._ask(ctx, state, step)
            return
        state.answers[step.name] = parsed
        state.history.append(step.name)
        self._advance(ctx, state, step.name)

    def back(self, ctx: Context, state: FormState) -> None:
        if self.back_to_prefilled:
            state.history = self._steps_before(state)
        if not state.history:
            ctx.reply("已经是第一步了。")
            self._ask(ctx, state, self.step(state.step))
            return
        previous = state.history.pop()
        state.answers.pop(previous, None)
        state.answers.pop(state.step, None)
        state.step = previous
        self._ask(ctx, state, self.step(previous))

    def _advance(self, ctx: Context, state: FormState, after: str | None) -> None:
        nxt = self.next_step(after, self._answers(state))
        if nxt is None:
            ctx.state = None
            self.done(ctx, self._answers(state))
            return
        state.step = nxt.name
        state.updated_at = time.time()
        ctx.state = state
        self._ask(ctx, state, nxt)

    def _steps_before(self, state: FormState) -> list[str]:
        """The answered, not skipped, not fixed steps before the current one (prefilled ones included)."""
        names = [s.name for s in self.steps]
        if state.step not in names:
            return state.history
        a = self._answers(state)
        return [s.name for s in self.steps[: names.index(state.step)]
                if s.name in a and not (s.fixed_if and s.fixed_if(a)) and not (s.skip_if and s.skip_if(a))]

    def reask(self, ctx: Context, state: FormState) -> None:
        """Ask the current step again (after help, a stale card, a bad answer)."""
        self._ask(ctx, state, self.step(state.step))

    def cancel(self, ctx: Context) -> None:
        ctx.state = None
        ctx.reply(f"已取消「{self.title}」，没有保存任何内容。")

    def _ask(self, ctx: Context, state: FormState, step: Step[A]) -> None:
        question = step.ask(ctx, self._answers(state))
        ctx.reply(question)

    def handle(self, ctx: Context, state: FormState) -> bool:
        """One turn inside the running form: a form button, 取消, 返回, 帮助 or an answer.

        Returns False when the turn is not the form's (a button of some other card)."""
        inc = ctx.incoming
        if inc.action:
            if not FormAnswer.matches(inc.action):
                return False
            try:
                data: FormAnswer | None = FormAnswer.unpack(inc.action)
            except BadCallback:
                data = None
            if data is None or data.form_id != state.form_id or data.step != state.step:
                ctx.reply("这张卡片已过期，请按最新的提问回答。")
                self.reask(ctx, state)
                return True
            self.answer(ctx, state, data.value)
            return True
        text = (inc.text or "").strip()
        lowered = text.lower()
        if lowered in CANCEL_WORDS:
            self.cancel(ctx)
        elif lowered in BACK_WORDS:
            self.back(ctx, state)
        elif lowered in HELP_WORDS:
            ctx.reply(f"您正在进行「{self.title}」。回复“返回”回到上一步，回复“取消”退出。")
            self.reask(ctx, state)
        elif self.typed_command(ctx, state, text):
            # never taken silently as an answer, never run behind the sender's back: say where they are
            ctx.reply(f"您正在{self.title}（第 {len(state.history) + 1} 步），“{text[:20]}”没有作为回答记录。"
                      f"要先做别的，请回复“取消”退出后再发送；要继续，请回答下面的问题。")
            self.reask(ctx, state)
        else:
            self.answer(ctx, state, text)
        return True

    def typed_command(self, ctx: Context, state: FormState, text: str) -> bool:
        """Is `text` clearly a command rather than an answer to the current step?"""
        cmd = ctx.registry.command_for_word(text)
        if cmd is None or text.strip() in ANSWER_WORDS:
            return False
        step = self.step(state.step)
        if step.is_option is not None and step.is_option(text):
            return False
        return not step.free_text or text.strip().lstrip("/／").lower() in (n.lower() for n in cmd.names)


def wants_media(ctx: Context, forms: Mapping[str, Form[Any]]) -> bool:
    """True if the running dialog's current step takes a photo (so an image message is its answer)."""
    state = ctx.state
    form = forms.get(state.form) if state is not None else None
    if form is None or state is None:
        return False
    try:
        return form.step(state.step).accepts_media
    except KeyError:
        return False


def route_form(ctx: Context, forms: Mapping[str, Form[Any]]) -> bool:
    """Give the turn to the running form, or refuse a form button whose dialog has ended; True if handled."""
    state = ctx.state
    if state is not None:
        form = forms.get(state.form)
        if form is None:
            ctx.state = None
        else:
            ctx.command = form.name
            if form.handle(ctx, state):
                return True
    action = ctx.incoming.action
    if action and FormAnswer.matches(action):
        ctx.reply("这张卡片所属的对话已经结束，请重新开始。")
        return True
    return False


def choice_step(name: str, title: str, options: Callable[[], list[tuple[str, str]]], *,
                aliases: dict[str, str] | None = None, body: Callable[[Context, A], str] | None = None,
                clean: Callable[[str], str] | None = None, keep: Callable[[A, str, str], Any] | None = None,
                skip_if: Callable[[A], bool] | None = None) -> Step[A]:
    """A step answered with one of `options` (button, number, label or alias).

    `keep(answers, step, text)` may return a value to keep instead (an edit's “不变”)."""
    def ask(ctx: Context, answers: A) -> Reply:
        return choice_card(ctx, title, options(), body=body(ctx, answers) if body else "")

    def parse(ctx: Context, text: str, answers: A) -> Any:
        kept = keep(answers, name, text) if keep else None
        if kept:
            return kept
        return pick_option(clean(text) if clean else text, options(), aliases)

    def is_option(text: str) -> bool:
        try:
            pick_option(clean(text) if clean else text, options(), aliases)
        except Invalid:
            return False
        return True
    return Step(name, ask, parse, skip_if, free_text=False, is_option=is_option)


def choice_card(ctx: Context, title: str, options: list[tuple[str, str]], body: str = "",
                typed_hint: bool = True) -> Card:
    """A question with up to 6 answer buttons; typed answers (number or text) also work."""
    state = ctx.state
    form_id, step = (state.form_id, state.step) if state else ("", "")
    # a button shows 10 characters: longer labels (a person with unit and account id) are listed in
    # full in the body and their buttons carry the number, so two 张伟 stay apart
    cut = any(len(label) > BUTTON_CHARS for _, label in options)
    buttons = tuple(Button(text=(f"{i} {label}" if cut else label)[:BUTTON_CHARS], key=FormAnswer(form_id, step, value).pack())
                    for i, (value, label) in enumerate(options[:6], 1))
    lines = [body] if body else []
    if typed_hint:
        lines.append("可点按钮，或回复序号/文字；回复“返回”上一步，“取消”退出。")
    if len(options) > 6 or cut:
        lines += [f"{i}. {label}" for i, (_, label) in enumerate(options, 1)]
    return Card(title=title, body="\n".join(lines), buttons=buttons,
                # WeCom task ids must never repeat: a step asked again (返回, bad answer) gets a new one
                card_id=f"f_{form_id}_{step}_{uuid.uuid4().hex[:6]}"[:128] if form_id else "")


def pick_option(text: str, options: list[tuple[str, str]], aliases: dict[str, str] | None = None) -> str:
    """Resolve a typed or pressed answer to an option value (value, label, number or alias)."""
    t = text.strip()
    for value, label in options:
        if t == value or t == label:
            return value
    n = parse_item_number(t)
    if n is not None and n <= len(options):
        return options[n - 1][0]
    if aliases and t.lower() in aliases:
        return aliases[t.lower()]
    raise Invalid("没有这个选项，请点按钮或回复序号。")


CANDIDATES: Final = "_cands"    # answers key: [[id, label], …] remembered while the sender picks one


def pick_step(name: str, *, prompt: Callable[[Context, A], Reply | str],
              find: Callable[[Context, str, A], list[tuple[int, str]]], several: Callable[[str, int], str],
              choose_title: str, choose_body: Callable[[int], str] | None = None, buttons: bool = True,
              accept: Callable[[Context, int, A], int] | None = None) -> Step[A]:
    """One record (a person) picked by a typed name: one match is taken; several are listed (buttons
    or numbers) and remembered between turns. `find` raises Invalid when nothing matches; `accept`
    may refuse the pick (raise Invalid) or note something in the answers."""
    def ask(ctx: Context, answers: A) -> Reply | str:
        cands = answers.get(CANDIDATES)
        if not cands:
            return prompt(ctx, answers)
        if buttons:
            return choice_card(ctx, choose_title, [(f"id{pid}", text) for pid, text in cands],
                               body=choose_body(len(cands)) if choose_body else "")
        return choose_title + "\n" + "\n".join(f"{i}. {label}" for i, (_, label) in enumerate(cands, 1))

    def parse(ctx: Context, text: str, answers: A) -> int:
        t = text.strip()
        scratch = cast(Answers, answers)   # the engine's own key lives in the same JSON dict as the form's
        ids = [c[0] for c in answers.get(CANDIDATES) or []]
        n = parse_item_number(t)
        if t.startswith("id") and parse_item_number(t[2:]) in ids:
            pid = int(t[2:])
        elif ids and (n is not None or t.isdigit()):
            if n is None or n > len(ids):
                raise Invalid("没有这个序号。")
            pid = ids[n - 1]
        else:
            scratch.pop(CANDIDATES, None)
            found = find(ctx, t, answers)
            if len(found) > 1:
                scratch[CANDIDATES] = [[i, label] for i, label in found]
                raise Invalid(several(t, len(found)))
            pid = found[0][0]
        if accept is not None:
            pid = accept(ctx, pid, answers)
        scratch.pop(CANDIDATES, None)
        return pid
    return Step(name, ask, parse, free_text=False)
