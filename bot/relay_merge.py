"""How the relay arranges a claimed batch: lanes per recipient, merged piles, split-off recipients.

Lanes keep per-recipient order (urgent first, a card before its later update) while different
recipients are sent concurrently. Merging turns a pile of low-priority texts for one person into
one message (WeCom drops everything beyond 30 per member per minute), as a new outbox row written
in one transaction with the merged rows marked `merged`, so the merged message has the same
at-least-once and duplicate-detection guarantees as any other row.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from models.outbox import OutboxMessage, OutboxStatus

from .messages import Card, Text, reply_from_dict, reply_to_dict
from .outbox import Priority
from .pacing import merge_texts

if TYPE_CHECKING:
    from .relay import OutboxRelay

log = logging.getLogger("lianxin.outbox")

__all__ = ["Claimed", "coalesce", "lanes", "split_off"]

MERGED_HEADER = "您有 {n} 条新通知："


@dataclass
class Claimed:
    """What the claim query returns about a row (the payload is read only when needed)."""

    id: int
    platform: str
    recipients: list
    priority: int
    kind: str
    ref: str
    attempts: int


def card_key(ref: str) -> str:
    return ref.removeprefix("update:")


def lanes(claimed: list[Claimed]) -> list[list[Claimed]]:
    """One lane per recipient (or per card, for rows to many people), in sending order."""
    by_key: dict[tuple, list[Claimed]] = defaultdict(list)
    for c in claimed:
        recipients = c.recipients or []
        if len(recipients) == 1:
            key: tuple = (c.platform, "to", recipients[0])
        else:
            key = (c.platform, "ref", card_key(c.ref)) if c.ref else (c.platform, "row", c.id)
        by_key[key].append(c)
    out = []
    for lane in by_key.values():
        # an update never overtakes the card it updates, whatever their priorities
        eff = {}
        for c in lane:
            earlier = [o.priority for o in lane if o.id < c.id and card_key(o.ref) == card_key(c.ref) and o.ref]
            eff[c.id] = max([c.priority, *earlier]) if c.kind == "update_card" else c.priority
        out.append(sorted(lane, key=lambda c: (eff[c.id], c.id)))
    # lanes holding urgent rows are started first
    return sorted(out, key=lambda lane: (min(c.priority for c in lane), lane[0].id))


def _mergeable(c: Claimed) -> bool:
    return (c.kind == "send" and len(c.recipients or []) == 1 and c.priority != Priority.URGENT
            and c.attempts == 0)


def _as_text(reply) -> str | None:
    if isinstance(reply, Text):
        return reply.text
    if isinstance(reply, Card) and not reply.buttons and not reply.done_text:
        return reply.as_text()
    return None


def coalesce(relay: OutboxRelay, lane: list[Claimed], now: datetime) -> list[Claimed]:
    """Merge the lane's low-priority texts into as few messages as fit, once at least
    relay.coalesce_min of them piled up; returns the lane to send."""
    candidates = [c for c in lane if _mergeable(c)]
    if len(candidates) < max(2, relay.coalesce_min):
        return lane
    with relay.sf() as db:
        payloads = dict(db.execute(select(OutboxMessage.id, OutboxMessage.payload)
                                   .where(OutboxMessage.id.in_([c.id for c in candidates]))).all())
    texts = [(c, _as_text(reply_from_dict(payloads[c.id]))) for c in candidates if c.id in payloads]
    texts = [(c, t) for c, t in texts if t]
    if len(texts) < max(2, relay.coalesce_min):
        return lane
    replaced: dict[int, Claimed | None] = {}
    for group in merge_texts([t for _, t in texts]):
        if len(group) < 2:
            continue
        members = [texts[i] for i in group]
        merged = _merge(relay, [c for c, _ in members], [t for _, t in members], now)
        if merged is not None:
            for n, (c, _) in enumerate(members):
                replaced[c.id] = merged if n == 0 else None
    if not replaced:
        return lane
    out = []
    for c in lane:
        if c.id not in replaced:
            out.append(c)
        elif replaced[c.id] is not None:
            out.append(replaced[c.id])
    return out


def _merge(relay: OutboxRelay, rows: list[Claimed], texts: list[str], now: datetime) -> Claimed | None:
    """One transaction: the merged row (claimed by this relay) in, the pile marked merged."""
    body = MERGED_HEADER.format(n=len(texts)) + "\n\n" + "\n\n".join(f"【{i}】{t}" for i, t in enumerate(texts, 1))
    first = rows[0]
    ids = [c.id for c in rows]
    try:
        with relay.sf() as db, db.begin():
            new = OutboxMessage(platform=first.platform, kind="send", recipients=list(first.recipients),
                                payload=reply_to_dict(Text(body)), ref=f"merged:{first.ref}"[:80],
                                priority=min(c.priority for c in rows), next_attempt_at=now,
                                claimed_by=relay.name, claimed_until=now + relay.lease)
            db.add(new)
            db.flush()
            res = db.execute(update(OutboxMessage)
                             .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == relay.name,
                                    OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.attempts == 0)
                             .values(status=OutboxStatus.MERGED, last_error=f"merged into #{new.id}",
                                     claimed_until=None)
                             .execution_options(synchronize_session=False))
            if res.rowcount != len(ids):
                raise _Changed   # some row changed hands meanwhile: send them one by one instead
            new_id = new.id
    except _Changed:
        return None
    log.info("outbox.merged", extra={"outbox_id": new_id, "merged": ids})
    return Claimed(new_id, first.platform, list(first.recipients), min(c.priority for c in rows), "send",
                   f"merged:{first.ref}"[:80], 0)


class _Changed(Exception):
    pass


def split_off(relay: OutboxRelay, item: Claimed, refused: list[str], later: datetime) -> None:
    """The recipients without a send slot move to a new row due `later`; the rest go now."""
    keep = [r for r in item.recipients if r not in set(refused)]
    with relay.sf() as db, db.begin():
        row = db.get(OutboxMessage, item.id)
        if row is None or row.claimed_by != relay.name or row.status != OutboxStatus.PENDING or row.attempts:
            return
        db.add(OutboxMessage(platform=row.platform, kind=row.kind, recipients=list(refused), payload=row.payload,
                             ref=row.ref, priority=row.priority, response_code=row.response_code,
                             next_attempt_at=later))
        row.recipients = keep
    item.recipients = keep
