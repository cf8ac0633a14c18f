"""Buttons of the learning card: 打开学习 opens the material, 已学习 records it and greys the card."""
from __future__ import annotations

from bot.context import Context
from bot.router import Router

from .cards import LearnData, material_card
from .commands import load_material, mark_studied, open_material

router = Router("learning")


@router.action(LearnData)
def on_button(ctx: Context, data: LearnData) -> None:
    m = load_material(ctx, data.id)
    if m is None:
        return
    if data.op == "open":
        open_material(ctx, m)
    else:
        mark_studied(ctx, m)
        if ctx.incoming.card_id == f"learn-{m.id}":
            ctx.update_card(material_card(m, studied=True, tz=ctx.tz))
