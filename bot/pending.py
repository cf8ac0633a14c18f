"""The contract behind 待办 and 卡片 N: each domain lists what the sender owes and can re-send a card.

A domain registers `@router.pending` — `fn(ctx) -> list[PendingItem]`, the sender's open items with
the exact commands that move each one on — and `@router.card_source("活动")` — `fn(ctx, n) -> Card |
None`, the current card of item n for the sender (None after replying why not; access checked by the
domain as for its buttons). handlers.todo collects them; a lost or scrolled-away card costs one message.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import Context
    from .messages import Card

__all__ = ["CardSource", "PendingItem", "PendingSource", "collect"]


@dataclass(frozen=True)
class PendingItem:
    section: str                      # heading the item is listed under: "待我审批", "未学完的学习材料"
    text: str                         # one line: what it is and where it stands
    commands: tuple[str, ...]         # the exact next commands: ("报名 3", "活动 3")
    noun: str = ""                    # the card source's noun ("活动"); "" when it has no card
    number: int | None = None         # the item's own number, as its commands take it
    due: datetime | None = None       # earlier first within a section


PendingSource = Callable[["Context"], list[PendingItem]]
CardSource = Callable[["Context", int], "Card | None"]   # None: replied why not, or sent it itself


def collect(ctx: Context) -> list[PendingItem]:
    """Every domain's items for the sender, in router order, sections kept together."""
    items: list[PendingItem] = []
    for source in ctx.registry.pending_sources:
        items += source(ctx)
    order: dict[str, int] = {}
    for item in items:
        order.setdefault(item.section, len(order))
    far = datetime.max.replace(tzinfo=None)
    return sorted(items, key=lambda i: (order[i.section], (i.due.replace(tzinfo=None) if i.due else far)))
