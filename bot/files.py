"""Files for one person by chat (exports): stored under a random token, sent through the outbox.

A handler calls ctx.send_file; the outbox row holds a `File` (name, token, size), never the bytes,
so claiming, merging and logging rows stays cheap and the content stays out of logs. Each
platform's sender reads the bytes with `FileStore.load` when it sends.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from models.export_file import ExportFile

from .messages import File

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

__all__ = ["MAX_FILE_BYTES", "XLSX_MIME", "FileStore", "file_name", "mime_type", "store_file", "stored_for_sending"]

MAX_FILE_BYTES = 20 * 1024 * 1024     # WeCom and DingTalk take files of 5 B to 20 MB
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def file_name(*parts: object, ext: str = ".xlsx") -> str:
    """A file name that every phone and desktop accepts: the parts joined by "-", without path
    separators, reserved or control characters, at most 60 characters before the extension."""
    text = "-".join(str(p) for p in parts if str(p))
    clean = "".join("_" if ch in '\\/:*?"<>|' or ord(ch) < 32 or ch.isspace() else ch for ch in text).strip("._")
    return (clean[:60] or "导出") + ext


def mime_type(name: str) -> str:
    """What a file's name says it holds (every export is an .xlsx today)."""
    return XLSX_MIME if name.endswith(".xlsx") else "application/octet-stream"


def stored_for_sending(files: FileStore | None, file: File) -> tuple[str, bytes]:
    """(name, bytes) of `file` for a platform sender; a file that is gone can never be sent."""
    from .outbox import PermanentError

    stored = files.load(file.token) if files is not None else None
    if stored is None:
        raise PermanentError("file message: the file is gone (purged or never stored)")
    return stored


def store_file(db: Session, person_id: int, name: str, content: bytes, *, now: datetime, keep_hours: float) -> File:
    """Keep `content` for `keep_hours` in the caller's transaction; returns the reference to send."""
    if not 5 <= len(content) <= MAX_FILE_BYTES:
        raise ValueError(f"a file message holds 5 B to 20 MB, not {len(content)} B")
    token = secrets.token_urlsafe(24)
    db.add(ExportFile(token=token, person_id=person_id, name=name[:120], content=content, created_at=now,
                      expires_at=now + timedelta(hours=keep_hours)))
    return File(name=name[:120], token=token, size=len(content))


class FileStore:
    """Read side for the senders and the simulator's download link (its own short session)."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.sf = session_factory

    def load(self, token: str, now: datetime | None = None) -> tuple[str, bytes] | None:
        """(name, bytes) of a file not yet purged (and, with `now`, not past its time), else None."""
        with self.sf() as db:
            row = db.execute(select(ExportFile.name, ExportFile.content, ExportFile.expires_at)
                             .where(ExportFile.token == token)).first()
        if row is None or (now is not None and row.expires_at < now):
            return None
        return row.name, bytes(row.content)
