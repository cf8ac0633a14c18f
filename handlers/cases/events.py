"""Domain events the cases module listens to."""
from __future__ import annotations

from typing import Any

from bot.context import Context
from bot.router import Router

from . import flows

router = Router("cases")


@router.on("talk.flagged")
def on_talk_flagged(ctx: Context, payload: dict[str, Any]) -> None:
    """A talk was saved with a flag: open its item and send the card to the branch secretaries."""
    flows.open_for_talk(ctx, int(payload["talk_id"]))


@router.on("talk.flag_changed")
def on_talk_flag_changed(ctx: Context, payload: dict[str, Any]) -> None:
    """An edited talk whose flag or category changed (or was removed): its item follows."""
    flows.talk_changed(ctx, int(payload["talk_id"]))
