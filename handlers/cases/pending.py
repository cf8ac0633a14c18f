"""Cases' part of 待办 (bot.pending): reading.pending_items' lines split into what the item is and
the exact next commands; 卡片 事项 N is reading.resend_card."""
from __future__ import annotations

import re

from bot.context import Context
from bot.pending import PendingItem
from bot.router import Router

from .reading import pending_items

router = Router("cases")

_NUMBER = re.compile(r"^事项 (\d+) ")


@router.pending
def pending_cases(ctx: Context) -> list[PendingItem]:
    items = []
    for section, line in pending_items(ctx):
        text, _, commands = line.partition(" → ")
        number = _NUMBER.match(text)
        items.append(PendingItem(section, text, tuple(c.strip() for c in commands.split(" · ") if c.strip()),
                                 "事项", int(number.group(1)) if number else None))
    return items
