"""Domain events the cases module listens to."""
from __future__ import annotations

from bot.context import Context
from bot.router import Router

from . import flows

router = Router("cases")


@router.on("talk.flagged")
def on_talk_flagged(ctx: Context, payload: dict) -> None:
    """A talk was saved with a flag: open its case and send the card to the branch secretaries."""
    flows.open_for_talk(ctx, int(payload["talk_id"]))
