"""Files made for one person by chat (exports), kept until sent and a while after, then purged.

The outbox row of a file message carries only the token; the relay's sender reads the bytes from
here, uploads them to the platform (a WeCom/DingTalk media id lasts three days) and sends the file
message. The simulator offers the same file as a download link that works only until `expires_at`.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base, utcnow
from .db import rowcount

__all__ = ["ExportFile", "purge_expired"]


class ExportFile(Base):
    __tablename__ = "export_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)        # random, in the outbox payload
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))                       # file name shown to the user
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


def purge_expired(db: Session, now: datetime) -> int:
    """Delete files past their time (the scheduler's files_purge job)."""
    return rowcount(db.execute(delete(ExportFile).where(ExportFile.expires_at < now)))
