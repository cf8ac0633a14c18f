"""转为事项: the alert card's button and the typed command take the same step behind the policy."""
from __future__ import annotations

from bot.context import Context

from . import router, service
from .cards import PulseButton, alert_card, what

__all__ = ["open_item"]


def open_item(ctx: Context, alert_id: int) -> None:
    """Turn alert `alert_id` into an item (case) for the sender, once; the card then says so."""
    from models.pulse_alert import PulseAlert

    alert = ctx.db.get(PulseAlert, alert_id)
    if alert is None:
        ctx.reply(f"没有共性问题提醒 #{alert_id}。发送“共性问题”查看。")
        return
    if not ctx.require("case.handle", alert, what="只有负责该班组的支部书记可以将共性问题转为事项。"):
        return
    label = what(alert)
    me = ctx.me
    case = service.to_item(ctx.db, alert, me, ctx.now(), note=f"共性问题：{label}")
    if case is None:
        ctx.reply(f"共性问题 #{alert.id}（{label}）已转为事项 #{alert.case_id}，发送“事项 {alert.case_id}”查看。")
        return
    ctx.audit("create", "case", case.id, f"from pulse alert {alert.id}")
    done = f"{me.name}已转为事项 #{case.id}"
    card = alert_card(alert, f"{label}：{done}。", done_text=done)
    if ctx.incoming.action:                 # pressed: grey out the clicked card too
        ctx.update_card(card)
    ctx.update_card_for_others(card.card_id, card)
    ctx.reply(f"已将「{label}」转为事项 #{case.id}，与标记谈话一样按时限跟进办理（发送“事项 {case.id}”查看）。")


@router.action(PulseButton)
def press_open(ctx: Context, data: PulseButton) -> None:
    open_item(ctx, data.id)
