"""Card mechanics behind ctx: update a card for everyone who got it, update an earlier click, batch a broadcast.

WeCom hands out one single-use response_code per card sent (message/send) and per click. To
replace every recipient's copy of a card we *move* the send row's code to the update row in the
caller's transaction (a conditional UPDATE, so a code is used at most once). A broadcast to more
people than one message may address is split in batches, each with its own card id (a WeCom
task_id may never repeat within the app).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.db import rowcount
from models.org import Person
from models.outbox import OutboxMessage

from .messages import Card
from .outbox import WECOM_MAX_RECIPIENTS, chunked, enqueue

__all__ = ["broadcast_batches", "update_for_others", "update_with_code"]


def update_for_others(db: Session, card_ref: str, card: Card, exclude: Iterable[Person]) -> int:
    """Replace card `card_ref` for everyone it was sent to except `exclude`; returns rows enqueued."""
    exclude = list(exclude)
    sends = db.scalars(select(OutboxMessage).where(OutboxMessage.ref == card_ref, OutboxMessage.kind == "send")
                       .order_by(OutboxMessage.id)).all()
    n = 0
    for row in sends:
        skip = {(p.platform_id(row.platform) or "").lower() for p in exclude}
        others = [r for r in (row.recipients or []) if r.lower() not in skip]
        if not others:
            continue
        code = None
        if row.response_code:
            moved = db.execute(update(OutboxMessage)
                               .where(OutboxMessage.id == row.id, OutboxMessage.response_code == row.response_code)
                               .values(response_code=None).execution_options(synchronize_session=False))
            if rowcount(moved) == 1:
                code = row.response_code
        enqueue(db, platform=row.platform, kind="update_card", recipients=others, reply=card,
                response_code=code, ref=card_ref)
        n += 1
    return n


def update_with_code(db: Session, platform: str, user_id: str, card: Card, response_code: str | None) -> None:
    """Update one person's card with a code kept from an earlier click (a form that followed the click)."""
    enqueue(db, platform=platform, kind="update_card", recipients=[user_id], reply=card,
            response_code=response_code, ref=card.card_id)


def broadcast_batches(people: Sequence[Person], card: Card) -> Iterator[tuple[int, list[Person], Card]]:
    """(n, people, card) per batch of ≤ WECOM_MAX_RECIPIENTS, card id `{card_id}_{n}`."""
    for n, batch in enumerate(chunked(people, WECOM_MAX_RECIPIENTS)):
        yield n, batch, replace(card, card_id=f"{card.card_id}_{n}")
