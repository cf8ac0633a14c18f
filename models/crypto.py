"""Field encryption at rest for talk notes: Fernet through a SQLAlchemy type.

MultiFernet lets keys rotate: the first key encrypts, every key decrypts, and
`lianxin rotate-notes-key` (bot/cli/talks.py) re-encrypts old rows under the first key. The keys come from the
environment (LIANXIN_NOTES_KEYS, comma-separated, newest first), never from config.yaml.
Fernet rather than AES-GCM: the issue asks for it, it is authenticated, and rotation is built in.
"""
from __future__ import annotations

import json
import os
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

__all__ = ["EncryptedJSON", "EncryptedText", "NoteText", "NotesKeyError", "configure_keys", "current_cipher", "generate_key"]

_lock = threading.Lock()
_cipher: MultiFernet | None = None


class NotesKeyError(RuntimeError):
    """No usable encryption key for talk notes."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


def configure_keys(keys: list[str] | str | None) -> MultiFernet:
    """Install the process-wide cipher from a key list (newest first)."""
    global _cipher
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not keys:
        raise NotesKeyError("no notes encryption key: set LIANXIN_NOTES_KEYS (see README)")
    try:
        cipher = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
    except (ValueError, TypeError):
        raise NotesKeyError("LIANXIN_NOTES_KEYS holds a malformed key (expected url-safe base64 Fernet keys)") from None
    with _lock:
        _cipher = cipher
    return cipher


def current_cipher() -> MultiFernet:
    if _cipher is None:
        env = os.environ.get("LIANXIN_NOTES_KEYS")
        if env:
            return configure_keys(env)
        raise NotesKeyError("no notes encryption key: set LIANXIN_NOTES_KEYS (see README)")
    return _cipher


class NoteText(str):
    """Decrypted note text: an ordinary str whose repr never shows the content.

    SQLAlchemy logs result rows with repr() at DEBUG (sqlalchemy.engine), and tracebacks and
    debuggers show repr() too; printing, formatting and comparing still give the text.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<note text, {len(self)} chars>"


class EncryptedText(TypeDecorator):
    """Text stored as a Fernet token; plaintext only ever exists in Python objects."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return current_cipher().encrypt(value.encode("utf-8")).decode("ascii")

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return NoteText(current_cipher().decrypt(value.encode("ascii")).decode("utf-8"))
        except InvalidToken:
            raise NotesKeyError("a stored note cannot be decrypted with the configured keys") from None


def rotate_token(token: str) -> str:
    return current_cipher().rotate(token.encode("ascii")).decode("ascii")


class EncryptedJSON(TypeDecorator):
    """A JSON value stored as one Fernet token (outbox payloads: cards may carry names, needs,
    flags; they must not sit in clear in the database while they wait to be sent)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        raw = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return current_cipher().encrypt(raw).decode("ascii")

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return json.loads(current_cipher().decrypt(value.encode("ascii")))
        except InvalidToken:
            raise NotesKeyError("a stored message cannot be decrypted with the configured keys") from None


def encrypted_columns(metadata) -> dict[str, tuple[str, ...]]:
    """table → columns encrypted with the notes keys (what key rotation must rewrite)."""
    out: dict[str, tuple[str, ...]] = {}
    for table in metadata.sorted_tables:
        cols = tuple(c.name for c in table.columns if isinstance(c.type, (EncryptedText, EncryptedJSON)))
        if cols:
            out[table.name] = cols
    return out
