"""The answer and resolve steps shared by the card buttons and the typed commands."""
from __future__ import annotations

from bot.args import load_numbered
from bot.context import Context
from handlers.cases.service import secretaries_for
from models.sampling import CheckState, TalkCheck

from . import router, service
from .cards import CheckButton, check_card, denial_card

__all__ = ["answer_check", "load_check", "resolve_check"]

ANSWERED = {CheckState.CONFIRMED.value: "属实", CheckState.DENIED.value: "没有这次谈话",
            CheckState.RESOLVED.value: "没有这次谈话"}


def load_check(ctx: Context, raw: str, usage: str) -> tuple[TalkCheck | None, str]:
    """The 回访 numbered in `raw` (else a reply saying why) and the rest of `raw`."""
    return load_numbered(ctx, TalkCheck, raw, noun="回访", ask=f"请写上回访编号，例如：{usage}。")


def answer_check(ctx: Context, check: TalkCheck, state: CheckState) -> None:
    """The subject says yes or no; a no goes quietly to the branch secretary, not the leader."""
    if not ctx.require("talk.confirm", check, what="这条回访不是发给您的。"):
        return
    if check.state != CheckState.PENDING.value:
        ctx.reply(f"您已回复过这条回访（{ANSWERED.get(check.state, check.state)}），谢谢。")
        return
    if ctx.now() > check.sent_at + service.answer_window(ctx.config):
        ctx.reply("这条回访已超过答复期限，无需再回复，谢谢。")
        return
    if not service.answer(ctx.db, check, state, ctx.now()):
        ctx.reply("您已回复过这条回访，谢谢。")
        return
    tz = ctx.config.timezone
    if state is CheckState.CONFIRMED:
        ctx.update_card(check_card(check, tz, done_text="已确认属实"))
        ctx.reply("已记录：属实。感谢您的反馈！")
        return
    ctx.update_card(check_card(check, tz, done_text="已反馈没有这次谈话"))
    ctx.notify(secretaries_for(ctx.db, check.unit), denial_card(check, tz), ref=f"check:{check.id}")
    ctx.reply("已记录：没有这次谈话。支部书记会核实，您的反馈不会告知记录人。感谢！")


def resolve_check(ctx: Context, check: TalkCheck, happened: bool, text: str) -> None:
    if not ctx.require("case.handle", check):
        return
    if check.state != CheckState.DENIED.value:
        ctx.reply(f"回访 #{check.id} 没有待核实的异议。")
        return
    if not service.resolve(ctx.db, check, ctx.me, text, happened=happened, now=ctx.now()):
        ctx.reply(f"回访 #{check.id} 已经核实过了。")
        return
    ctx.audit("resolve", "talk_check", check.id, detail="happened" if happened else "not_happened")
    ctx.update_card(denial_card(check, ctx.config.timezone, done_text="已核实"))
    ctx.reply(f"回访 #{check.id} 已核实：" + ("谈话属实，重新计入覆盖率。" if happened else "谈话不属实，继续不计入覆盖率。"))


@router.action(CheckButton)
def on_check_button(ctx: Context, data: CheckButton) -> None:
    check, _ = load_check(ctx, str(data.id), "属实 3")
    if check is None:
        return
    if data.op == "resolve":
        if ctx.require("case.handle", check):
            ctx.reply(f"请核实后回复：核实回访 {check.id} 属实 说明，或 核实回访 {check.id} 不属实 说明")
        return
    answer_check(ctx, check, CheckState.CONFIRMED if data.op == "yes" else CheckState.DENIED)
