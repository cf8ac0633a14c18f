"""talk.saved → perhaps draw the talk into the 回访 sample and send the employee the card."""
from __future__ import annotations

from typing import Any

from bot.context import Context
from models.talk import Talk

from . import router, service
from .cards import check_card


@router.on("talk.saved")
def on_talk_saved(ctx: Context, payload: dict[str, Any]) -> None:
    """A new talk: with the unit's share, ask its subject (non-urgent) whether it happened."""
    talk = ctx.db.get(Talk, int(payload["talk_id"]))
    if talk is None:
        return
    check = service.start_check(ctx.db, ctx.config, talk, ctx.now())
    if check is not None:
        ctx.notify(talk.subject, check_card(check, ctx.config.timezone), ref=f"check:{check.id}")
