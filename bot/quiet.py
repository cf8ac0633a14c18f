"""Non-urgent messages wait: group recipients by the moment each may be reached (quiet hours,
days off, 免打扰) so the outbox rows carry that moment as their not-before time; ending or
shortening 免打扰 brings the person's held rows forward (else they waited for the old end)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from models.notice import QuietRules, muted_until, release_at
from models.org import Person
from models.outbox import OutboxMessage, OutboxStatus

from .config import Config

__all__ = ["group_key", "hold_groups", "quiet_rules", "release_held"]


def quiet_rules(config: Config) -> QuietRules:
    return QuietRules.parse(config.get("quiet.hours", str), config.get("quiet.weekends", bool),
                            config.get("quiet.holidays", list))


def group_key(idem_key: str | None, n: int, count: int) -> str | None:
    """The idempotency key of the n-th of `count` hold groups (one group keeps the caller's key)."""
    return idem_key if idem_key is None or count == 1 else f"{idem_key}~{n}"


def hold_groups(db: Session, config: Config, people: Sequence[Person], now: datetime,
                mutes: dict[int, datetime] | None = None) -> list[tuple[datetime | None, list[Person]]]:
    """[(not-before in UTC or None for now, people)], one entry per distinct moment; `mutes`
    (person id → end of 免打扰), when the caller already has them, saves the query."""
    local = now.astimezone(ZoneInfo(config.timezone))
    rules = quiet_rules(config)
    if mutes is None:
        mutes = muted_until(db, [p.id for p in people], now)
    groups: dict[datetime | None, list[Person]] = {}
    for p in people:
        at = release_at(local, rules, mutes.get(p.id))
        groups.setdefault(at.astimezone(UTC) if at else None, []).append(p)
    return list(groups.items())


def release_held(db: Session, config: Config, person: Person, now: datetime, mute_until: datetime | None) -> int:
    """Bring forward the person's own held rows (not yet tried) to the moment they may now be
    reached; a row for several people keeps its time (the others' holds). Returns rows moved."""
    at = release_at(now.astimezone(ZoneInfo(config.timezone)), quiet_rules(config), mute_until)
    moment = at.astimezone(UTC) if at else now
    moved = 0
    for platform in ("wecom", "dingtalk", "sim"):
        uid = person.platform_id(platform)
        if not uid:
            continue
        pattern = "%" + uid.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = db.scalars(select(OutboxMessage).where(
            OutboxMessage.platform == platform, OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.attempts == 0, OutboxMessage.next_attempt_at > moment,
            cast(OutboxMessage.recipients, String).like(pattern, escape="\\")))
        for row in rows:
            if row.recipients == [uid]:
                row.next_attempt_at = moment
                moved += 1
    return moved
