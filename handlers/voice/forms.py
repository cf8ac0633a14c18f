"""Dialogs: raise a 心声 (text, then named or anonymous) and reply to one (the secretary)."""
from __future__ import annotations

from typing import Literal, TypedDict

from bot.context import Context
from bot.forms import Form, Invalid, Step, choice_card, pick_option
from bot.messages import Card
from models.voice import Voice

from . import router, service
from .actions import reply_voice, submit_voice
from .service import TEXT_MAX, WEAK_ANONYMITY_BELOW

__all__ = ["MODES", "RAISE", "REPLY", "RaiseAnswers", "ReplyAnswers", "parse_text"]

MODES = [("named", "实名"), ("anonymous", "匿名")]
MODE_ALIASES = {"实名提交": "named", "匿名提交": "anonymous", "named": "named", "anonymous": "anonymous"}


class RaiseAnswers(TypedDict, total=False):
    text: str
    mode: Literal["named", "anonymous"]   # a value of MODES


class ReplyAnswers(TypedDict, total=False):
    voice_id: int                         # given by 回复心声 N / the 回复 button
    reply: str


def parse_text(ctx: Context, value: str, answers: RaiseAnswers | ReplyAnswers) -> str:
    text = value.strip()
    if len(text) < 2:
        raise Invalid("内容太短了，请再具体说一说。")
    if len(text) > TEXT_MAX:
        raise Invalid(f"内容太长了（最多 {TEXT_MAX} 字），请精简后再发。")
    return text


def weak_anonymity_note(ctx: Context) -> str:
    branch = service.branch_of(ctx.db, ctx.me)
    if branch is not None and service.members_of(ctx.db, branch) < WEAK_ANONYMITY_BELOW:
        return f"⚠ 提醒：{branch.name}不足 {WEAK_ANONYMITY_BELOW} 人，匿名也可能被猜到是谁。"
    return ""


def _ask_mode(ctx: Context, answers: RaiseAnswers) -> Card:
    body = "匿名提交时，书记只看到内容，看不到您的身份，回复仍会送达您。"
    note = weak_anonymity_note(ctx)
    return choice_card(ctx, "以实名还是匿名提交？", MODES, body=f"{body}\n{note}" if note else body)


def _done_raise(ctx: Context, answers: RaiseAnswers) -> None:
    submit_voice(ctx, answers["text"], anonymous=answers["mode"] == "anonymous")


RAISE = router.form(Form[RaiseAnswers](
    name="voice.raise", title="提交心声",
    steps=[
        Step("text", lambda ctx, a: "请写下您想向支部反映的情况或建议（发送“取消”退出）：", parse_text),
        Step("mode", _ask_mode, lambda ctx, v, a: pick_option(v, MODES, MODE_ALIASES)),
    ],
    done=_done_raise,
))


def _done_reply(ctx: Context, answers: ReplyAnswers) -> None:
    voice = ctx.db.get(Voice, int(answers["voice_id"]))
    if voice is not None and ctx.require("voice.handle", voice):
        reply_voice(ctx, voice, answers["reply"])


REPLY = router.form(Form[ReplyAnswers](
    name="voice.reply", title="回复心声",
    steps=[Step("reply", lambda ctx, a: f"请输入对心声 #{a['voice_id']} 的回复（将发送给提出人）：", parse_text)],
    done=_done_reply,
))
