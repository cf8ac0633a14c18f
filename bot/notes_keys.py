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

from .config import Config

log = logging.getLogger("lianxin")

__all__ = ["setup_notes_keys"]


def _local_key_file(config: Config) -> Path:
    url = config.database_url
    db_path = url.split("///", 1)[1] if "///" in url else "lianxin.db"
    return Path(db_path or "lianxin.db").resolve().parent / ".lianxin" / "notes.key"


def setup_notes_keys(config: Config) -> None:
    env_name = config.get("security.notes_keys_env", str)
    keys = os.environ.get(env_name, "")
    if keys:
        configure_keys(keys)
        return
    if not config.database_url.startswith("sqlite"):
        raise NotesKeyError(f"set {env_name} (Fernet keys) before running against {config.database_url.split(':')[0]}")
    path = _local_key_file(config)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(generate_key())
        log.warning("notes key generated at %s (embedded default only; set %s in production)", path, env_name)
    configure_keys(path.read_text().strip())
