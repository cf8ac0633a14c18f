"""What every scheduled job receives: settings, a session factory, the clock and the outbox."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.context import Clock, notify_people
from bot.messages import Reply
from models.org import Person

__all__ = ["JobContext"]


@dataclass
class JobContext:
    config: Config
    session_factory: sessionmaker[Session]
    clock: Clock
    redis: Any = None
    metrics: Any = None
    scheduled_for: datetime | None = None   # the occurrence being run (for idempotency keys)

    def now(self) -> datetime:
        return self.clock.now()

    def notify(self, db: Session, people: Sequence[Person], message: Reply, *, ref: str = "",
               idem_key: str | None = None) -> None:
        """Enqueue in the job's transaction; `idem_key` makes a re-run of the same occurrence harmless."""
        notify_people(db, self.config, people, message, ref=ref, idem_key=idem_key)
