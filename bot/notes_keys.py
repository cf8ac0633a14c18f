"""Where the notes encryption keys come from.

Production: LIANXIN_NOTES_KEYS in the environment (comma-separated Fernet keys, newest first).
Embedded default (SQLite demo on one machine): a key file next to the database, created once
with mode 0600, so the demo runs with nothing to set up. A PostgreSQL deployment without the
environment variable refuses to start rather than invent a key.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from models.crypto import NotesKeyError, configure_keys, generate_key
from models.seal import SEAL_KEYS_ENV, configure_seal_keys

from .config import Config

log = logging.getLogger("lianxin")

__all__ = ["setup_notes_keys"]


def _local_key_file(config: Config) -> Path:
    url = config.database_url
    db_path = url.split("///", 1)[1] if "///" in url else "lianxin.db"
    return Path(db_path or "lianxin.db").resolve().parent / ".lianxin" / "notes.key"


def setup_notes_keys(config: Config) -> None:
    """The notes keys, then the seal keys of anonymous 心声 (same rules, a key of their own)."""
    env_name = config.get("security.notes_keys_env", str)
    keys = _keys_from(config, env_name, "notes.key")
    if keys is None:
        raise NotesKeyError(f"set {env_name} (Fernet keys) before running against {config.database_url.split(':')[0]}")
    configure_keys(keys)
    seal_keys = _keys_from(config, SEAL_KEYS_ENV, "seal.key")
    if seal_keys is None:   # the bot runs; 心声 answers that it is not set up until the key is there
        log.warning("%s is not set: 心声 (employee voice) is unavailable", SEAL_KEYS_ENV)
    else:
        configure_seal_keys(seal_keys)


def _keys_from(config: Config, env_name: str, file_name: str) -> str | None:
    keys = os.environ.get(env_name, "")
    if keys:
        return keys
    if not config.database_url.startswith("sqlite"):
        return None
    path = _local_key_file(config).with_name(file_name)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(generate_key())
        log.warning("key generated at %s (embedded default only; set %s in production)", path, env_name)
    return path.read_text().strip()
