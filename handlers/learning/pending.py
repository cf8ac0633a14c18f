"""Learning's part of 待办 (bot.pending): materials not yet studied; 卡片 学习 N re-sends one's card."""
from __future__ import annotations

import uuid
from dataclasses import replace

from bot.context import Context
from bot.messages import Card
from bot.pending import PendingItem
from bot.router import Router

from . import service
from .cards import material_card
from .commands import load_material

router = Router("learning")

NOUN = "学习"


@router.pending
def pending_materials(ctx: Context) -> list[PendingItem]:
    items = []
    for m, read in service.materials_for(ctx.db, ctx.me):
        if read is not None and read.studied_at is not None:
            continue
        state = "已打开，未学完" if read is not None else "未读"
        items.append(PendingItem("未学完的学习材料", f"[{m.id}] 《{m.title}》 · {state}",
                                 (f"学习 {m.id}", f"学完 {m.id}"), NOUN, m.id, m.published_at))
    return items


@router.card_source(NOUN)
def material_card_for(ctx: Context, number: int) -> Card | None:
    m = load_material(ctx, number)        # replies "没有编号为 N …" or the refusal itself
    if m is None:
        return None
    read = service.materials_for(ctx.db, ctx.me, limit=200)
    studied = any(mm.id == m.id and r is not None and r.studied_at is not None for mm, r in read)
    # a WeCom task id is single-use: a re-sent card gets a new one
    return replace(material_card(m, studied=studied), card_id=f"learn-{m.id}-{uuid.uuid4().hex[:8]}")
