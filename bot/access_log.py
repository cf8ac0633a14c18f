"""gunicorn's access log without secrets: path tokens and query strings are masked.

The DingTalk card callback URL carries a secret path segment (DingTalk calls the URL we
registered and cannot add a header of ours), and query strings carry login links' tokens and
callback signatures. gunicorn's default format prints the whole request line ("%(r)s"), so the
logger class masks them in every atom (request line, path, query, referer, raw URI).
"""
from __future__ import annotations

import re

from gunicorn.glogging import Logger

__all__ = ["RedactingLogger", "redact"]

_PATH_SECRETS = re.compile(r"(/dingtalk/card/callback/)[^/?#\s\"]+")
_QUERY = re.compile(r"\?[^\s\"]*")


def redact(text: str) -> str:
    """Mask path secrets and drop query strings from a URL or request line."""
    return _QUERY.sub("?…", _PATH_SECRETS.sub(r"\1…", text))


class RedactingLogger(Logger):
    """gunicorn `logger_class` (set by `lianxin serve`; `--logger-class bot.access_log.RedactingLogger`)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str) and value:
                atoms[key] = "…" if key in ("q", "{query_string}e") else redact(value)
        return atoms
