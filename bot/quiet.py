"""Non-urgent messages wait: group recipients by the moment each may be reached (quiet hours,
days off, 免打扰) so the outbox rows carry that moment as their not-before time."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from models.notice import QuietRules, muted_until, release_at
from models.org import Person

from .config import Config

__all__ = ["hold_groups", "quiet_rules"]


def quiet_rules(config: Config) -> QuietRules:
    return QuietRules.parse(config.get("quiet.hours", str), config.get("quiet.weekends", bool),
                            config.get("quiet.holidays", list))


def hold_groups(db: Session, config: Config, people: Sequence[Person], now: datetime
                ) -> list[tuple[datetime | None, list[Person]]]:
    """[(not-before in UTC or None for now, people)], one entry per distinct moment."""
    local = now.astimezone(ZoneInfo(config.timezone))
    rules = quiet_rules(config)
    mutes = muted_until(db, [p.id for p in people], now)
    groups: dict[datetime | None, list[Person]] = {}
    for p in people:
        at = release_at(local, rules, mutes.get(p.id))
        groups.setdefault(at.astimezone(UTC) if at else None, []).append(p)
    return list(groups.items())
