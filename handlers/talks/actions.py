"""Buttons of the talks domain: 保存 / 返回 / 取消 on the confirmation card of the running dialog."""
from __future__ import annotations

from bot.context import Context
from bot.messages import Card
from bot.router import Router

from .cards import TalkConfirm
from .forms import TALK_FORM, talk_form

router = Router("talks")


@router.action(TalkConfirm)
def press_confirm(ctx: Context, data: TalkConfirm) -> None:
    """保存 / 返回 / 取消 on the confirmation card of the running dialog."""
    state = ctx.state
    if state is None or state.form != TALK_FORM or state.form_id != data.form_id:
        ctx.reply("这张确认卡片所属的对话已经结束，请重新发送“谈话”。")
        return
    if state.step != "confirm":
        ctx.reply("这张卡片已过期，请按最新的提问回答。")
        talk_form.reask(ctx, state)
        return
    if data.op == "save":
        talk_form.answer(ctx, state, "save")
        if ctx.state is None:
            ctx.update_card(_frozen(ctx, data.form_id, "已保存"))
        elif ctx.state.step == "late_reason":          # an old talk: the reason comes next
            ctx.update_card(_frozen(ctx, data.form_id, "待说明补录原因"))
    elif data.op == "back":
        talk_form.back(ctx, state)
    else:
        talk_form.cancel(ctx)
        ctx.update_card(_frozen(ctx, data.form_id, "已取消"))


def _frozen(ctx: Context, form_id: str, done: str) -> Card:
    """The clicked confirmation card, greyed out with the outcome (same task id as the click)."""
    return Card(title="确认谈话记录", body="", card_id=ctx.incoming.card_id or f"tk_{form_id}", done_text=done)
