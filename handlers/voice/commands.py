"""Typed 心声 commands: raise one (dialog or one line), and the secretary's list, reply, close."""
from __future__ import annotations

from bot.context import Context
from models.policy import can

from . import router, service
from .actions import close_voice, load_voice, may_raise, reply_voice, submit_voice
from .cards import sender_label
from .forms import parse_text
from .service import TEXT_MAX

__all__ = ["close_cmd", "list_voices", "raise_cmd", "reply_cmd"]

MODE_WORDS = {"匿名": True, "anonymous": True, "anon": True, "实名": False, "named": False}


def _raise_allowed(ctx: Context) -> bool:
    return can(ctx.person, "voice.raise")


def _handle_allowed(ctx: Context) -> bool:
    return can(ctx.person, "voice.handle")


@router.command("心声", "voice", help="向所在支部反映情况或建议，可实名或匿名", allowed=_raise_allowed,
                usage="心声（按提示填写），或一句话：心声 匿名 夜班交接时间太紧")
def raise_cmd(ctx: Context, args: str) -> None:
    """Start the dialog, or save at once when the mode and the text are on the line."""
    if not may_raise(ctx):
        return
    word, _, rest = args.strip().partition(" ")
    anonymous = MODE_WORDS.get(word.lower()) if word else None
    if anonymous is not None and rest.strip():
        text = rest.strip()
        if len(text) > TEXT_MAX:
            ctx.reply(f"内容太长了（最多 {TEXT_MAX} 字），请精简后再发。")
            return
        submit_voice(ctx, text, anonymous=anonymous)
        return
    prefill = {}
    if args.strip() and anonymous is None:
        prefill["text"] = args.strip()[:TEXT_MAX]
    ctx.start_form("voice.raise", prefill)


@router.command("心声列表", "voices", help="查看本支部待处理的员工心声", allowed=_handle_allowed)
def list_voices(ctx: Context, args: str) -> None:
    if not ctx.require("voice.handle"):
        return
    voices = service.voices_in_scope(ctx.db, ctx.me)
    if not voices:
        ctx.reply("本支部目前没有待处理的员工心声。")
        return
    lines = [f"待处理的员工心声（{len(voices)} 条）："]
    for v in voices:
        preview = v.text if len(v.text) <= 30 else v.text[:30] + "…"
        lines.append(f"#{v.id} [{v.state_label}] {sender_label(v)}：{preview}")
    lines.append("回复：回复心声 N 内容 · 办结：办结心声 N 结果")
    ctx.reply("\n".join(lines))


@router.command("回复心声", "answer-voice", help="回复一条员工心声（回复送达提出人）", allowed=_handle_allowed,
                usage="回复心声 3 已向车间反映，下周起调整交接时间")
def reply_cmd(ctx: Context, args: str) -> None:
    voice, text = load_voice(ctx, args, "回复心声 3 已向车间反映")
    if voice is None:
        return
    if not text:
        ctx.start_form("voice.reply", {"voice_id": voice.id})
        return
    try:
        reply_voice(ctx, voice, parse_text(ctx, text, {}))
    except ValueError as exc:
        ctx.reply(str(exc))


@router.command("办结心声", "close-voice", help="办结一条员工心声", allowed=_handle_allowed,
                usage="办结心声 3 已调整交接时间")
def close_cmd(ctx: Context, args: str) -> None:
    voice, outcome = load_voice(ctx, args, "办结心声 3 已调整交接时间")
    if voice is not None:
        close_voice(ctx, voice, outcome[:TEXT_MAX] or None)
