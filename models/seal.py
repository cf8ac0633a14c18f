"""The sealed mapping from an anonymous 心声 to its sender, under a key of its own.

Anonymity must survive anyone who can read the database with the notes keys (the secretary's
dashboard, exports, an admin restoring a backup): the mapping is a Fernet token under the seal
keys (LIANXIN_SEAL_KEYS, never the notes keys), and the per-sender rate-limit tag is an HMAC
under the same key, so neither reveals a person without it. Only `unseal` opens a token, and
only the reply delivery calls it; nothing it returns is ever shown or logged.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["SEAL_KEYS_ENV", "SealKeyError", "configure_seal_keys", "seal", "seal_ready", "sender_tag", "unseal"]

SEAL_KEYS_ENV = "LIANXIN_SEAL_KEYS"
_lock = threading.Lock()
_keys: list[bytes] = []
_cipher: MultiFernet | None = None


class SealKeyError(RuntimeError):
    """No usable key for sealed identities."""


def configure_seal_keys(keys: list[str] | str | None) -> None:
    """Install the seal keys (newest first); they must differ from the notes keys."""
    global _cipher, _keys
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not keys:
        raise SealKeyError(f"no seal key: set {SEAL_KEYS_ENV} (see README)")
    try:
        raw = [k.encode() if isinstance(k, str) else k for k in keys]
        cipher = MultiFernet([Fernet(k) for k in raw])
    except (ValueError, TypeError):
        raise SealKeyError(f"{SEAL_KEYS_ENV} holds a malformed key (expected Fernet keys)") from None
    with _lock:
        _cipher, _keys = cipher, raw


def _current() -> MultiFernet:
    if _cipher is None:
        env = os.environ.get(SEAL_KEYS_ENV)
        if env:
            configure_seal_keys(env)
        else:
            raise SealKeyError(f"no seal key: set {SEAL_KEYS_ENV} (see README)")
    assert _cipher is not None
    return _cipher


def seal_ready() -> bool:
    """Is a seal key configured (here or in the environment)?"""
    try:
        _current()
    except SealKeyError:
        return False
    return True


def seal(voice_id: int, person_id: int) -> str:
    """A token binding the sender to this one voice (a token copied to another row fails)."""
    return _current().encrypt(f"{voice_id}:{person_id}".encode()).decode("ascii")


def unseal(token: str, voice_id: int) -> int | None:
    """The sender's person id, or None if the token is not this voice's (or the key is gone)."""
    try:
        raw = _current().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return None
    vid, _, pid = raw.partition(":")
    return int(pid) if vid == str(voice_id) and pid.isdigit() else None


def sender_tag(person_id: int) -> str:
    """A keyed, one-way tag of the sender: counts their voices for the rate limit, names nobody."""
    _current()
    return hmac.new(_keys[0], f"voice-rate:{person_id}".encode(), hashlib.sha256).hexdigest()
