"""心声's part of 待办 (bot.pending): the open voices of the secretary's branches, without their text."""
from __future__ import annotations

from bot.context import Context
from bot.pending import PendingItem

from . import router, service
from .cards import sender_label


@router.pending
def pending_voices(ctx: Context) -> list[PendingItem]:
    if not ctx.can("voice.handle"):
        return []
    return [PendingItem("待回复的员工心声", f"#{v.id} [{v.state_label}] {sender_label(v)}",
                        (f"回复心声 {v.id} 内容", f"办结心声 {v.id} 结果"), number=v.id)
            for v in service.voices_in_scope(ctx.db, ctx.me)]
