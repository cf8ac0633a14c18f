"""Ready-made dialog steps that several domains ask the same way (bot.forms is the engine and its choice steps).

A push to many people is confirmed in one step (publish_step, "将发送给 N 人"), photos are collected over
several turns in one step (photo_step), and a short required text is checked by one rule (required_text).
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Final, cast

from .forms import A, Answers, Invalid, Step, choice_card, pick_option

if TYPE_CHECKING:
    from .context import Context

__all__ = ["PUBLISH_OPTIONS", "photo_step", "publish_done", "publish_step", "required_text"]

PUBLISH_OPTIONS: Final = [("publish", "确认发布"), ("drop", "放弃")]
_PUBLISH_WORDS: Final = {"是": "publish", "确认": "publish", "发布": "publish", "yes": "publish", "否": "drop", "no": "drop"}
MEDIA: Final = "_media"     # answers key: the media ids of the photos received so far


def publish_step(title: str, body: Callable[[Context, A], str]) -> Step[A]:
    """The "confirm" step before a broadcast: what goes out and to how many, then 确认发布 or 放弃."""
    return Step("confirm", lambda ctx, a: choice_card(ctx, title, PUBLISH_OPTIONS, body=body(ctx, a)),
                lambda ctx, text, a: pick_option(text, PUBLISH_OPTIONS, _PUBLISH_WORDS))


def publish_done(dropped: str, publish: Callable[[Context, A], object]) -> Callable[[Context, A], None]:
    """The form's end after publish_step: publish on 确认发布, else say `dropped` (nothing is sent)."""
    def done(ctx: Context, answers: A) -> None:
        if answers.get("confirm") != "publish":
            ctx.reply(dropped)
            return
        publish(ctx, answers)
    return done


def photo_step(name: str, invite: str, *, done_words: Collection[str] | None = None,
               skip_if: Callable[[A], bool] | None = None) -> Step[A]:
    """Photos one per turn (media ids kept, step re-asked) until a text ends it (any, or one of `done_words`)."""
    def ask(ctx: Context, answers: A) -> str:
        n = len(answers.get(MEDIA) or [])
        got = f"（已收到 {n} 张）" if n else ""
        return f"{invite}{got}；发完或没有请回复“好了”。"

    def parse(ctx: Context, text: str, answers: A) -> list[str]:
        media: list[str] = cast(Answers, answers).setdefault(MEDIA, [])
        media_id = getattr(ctx.incoming, "media_id", None)
        if media_id:
            media.append(media_id)
            raise Invalid(f"已收到第 {len(media)} 张照片。")
        if done_words is not None and text.strip().lower() not in done_words:
            raise Invalid("这一步只收照片。发完或没有照片请回复“好了”。")
        return list(media)
    return Step(name, ask, parse, skip_if, accepts_media=True)


def required_text(text: str, what: str, limit: int) -> str:
    """`text` stripped, if it is neither empty nor longer than `limit` (a name, a title, a place)."""
    t = text.strip()
    if not t or len(t) > limit:
        raise Invalid(f"{what}不能为空，最多 {limit} 字。")
    return t
