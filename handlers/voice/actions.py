"""The 心声 steps shared by buttons, typed commands and the dialogs, each behind the policy."""
from __future__ import annotations

from bot.args import load_numbered
from bot.context import Context
from bot.messages import Text
from models.seal import seal_ready
from models.voice import Voice, VoiceState

from . import router, service
from .cards import VoiceButton, voice_card

__all__ = ["close_voice", "load_voice", "may_raise", "reply_voice", "submit_voice"]

NO_BRANCH = "没有找到您所在的支部（或支部还没有书记），暂时无法提交心声。请联系管理员。"


def may_raise(ctx: Context) -> bool:
    """Policy, branch and rate limit; replies with the reason when the answer is no."""
    if not seal_ready():
        ctx.reply("心声功能尚未启用（管理员还没有配置匿名保护密钥）。如有情况请直接联系支部书记。")
        return False
    branch = service.branch_of(ctx.db, ctx.person) if ctx.person else None
    if branch is None or not service.secretaries_of(ctx.db, branch):
        ctx.reply(NO_BRANCH)
        return False
    if not ctx.require("voice.raise", branch):
        return False
    limit = ctx.config.get("voice.max_per_day", int)
    if service.recent_count(ctx.db, ctx.me, ctx.now(), 24) >= limit:
        ctx.reply(f"您 24 小时内已提交 {limit} 条心声，请明天再来。紧急情况请直接联系支部书记。")
        return False
    return True


def submit_voice(ctx: Context, text: str, *, anonymous: bool) -> None:
    """Save the voice and put it before the branch secretaries."""
    if not may_raise(ctx):
        return
    me = ctx.me
    branch = service.branch_of(ctx.db, me)
    if branch is None:   # (may_raise found one)
        return
    voice = service.raise_voice(ctx.db, me, branch, text, anonymous=anonymous, now=ctx.now())
    ctx.notify(service.secretaries_of(ctx.db, branch), voice_card(voice, ctx.config.timezone),
               ref=f"voice:{voice.id}")
    how = "匿名" if anonymous else "实名"
    ctx.reply(f"您的心声已{how}提交给{branch.name}（编号 {voice.id}）。书记回复后会发消息给您"
              + ("；书记看不到您的身份。" if anonymous else "。"))


def load_voice(ctx: Context, raw: str, usage: str) -> tuple[Voice | None, str]:
    """The voice numbered in `raw` if the sender may handle it (else a reply saying why), and the rest of `raw`."""
    voice, rest = load_numbered(ctx, Voice, raw, noun="心声", ask=f"请写上心声编号，例如：{usage}。发送“心声列表”查看。")
    if voice is None or not ctx.require("voice.handle", voice):
        return None, rest
    return voice, rest


def reply_voice(ctx: Context, voice: Voice, text: str) -> None:
    """Record the reply and send it to the sender, who stays unknown to the secretary."""
    if not service.record_reply(ctx.db, voice, ctx.me, text, ctx.now()):
        ctx.reply(f"心声 #{voice.id} 已办结，不能再回复。")
        return
    message = Text(f"【心声回复】您提交的心声（编号 {voice.id}）收到{voice.unit.name}书记的回复：\n{text}")
    delivered = service.deliver_to_sender(ctx.db, ctx.config, voice, message, ctx.now())
    ctx.audit("reply", "voice", voice.id)
    ctx.update_card(voice_card(voice, ctx.config.timezone, done_text="已回复"))
    ctx.reply(f"已回复心声 #{voice.id}" + ("，回复已送达提出人。" if delivered else "（提出人已不在名册中，无法送达）。")
              + f"发送“办结心声 {voice.id} 结果”可办结。")


def close_voice(ctx: Context, voice: Voice, outcome: str | None) -> None:
    if not service.close(ctx.db, voice, outcome, ctx.now()):
        ctx.reply(f"心声 #{voice.id} 已经办结了。")
        return
    ctx.audit("close", "voice", voice.id)
    ctx.update_card(voice_card(voice, ctx.config.timezone))
    if outcome:
        service.deliver_to_sender(ctx.db, ctx.config, voice,
                                  Text(f"【心声办结】您提交的心声（编号 {voice.id}）已办结：{outcome}"), ctx.now())
    ctx.reply(f"心声 #{voice.id} 已办结。")


@router.action(VoiceButton)
def on_voice_button(ctx: Context, data: VoiceButton) -> None:
    """回复 asks for the reply text; 办结 closes at once."""
    voice, _ = load_voice(ctx, str(data.id), "回复心声 3 已反映给车间")
    if voice is None:
        return
    if voice.state == VoiceState.CLOSED.value:
        ctx.reply(f"心声 #{voice.id} 已办结。")
        return
    if data.op == "reply":
        ctx.start_form("voice.reply", {"voice_id": voice.id})
    else:
        close_voice(ctx, voice, None)
