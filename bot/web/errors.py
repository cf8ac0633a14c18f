"""One error policy for every platform callback: 503 on storage faults, the error reply on a handler bug.

Like Bolt's Flask adapter, the blueprints only translate; what a failure means is decided here:

* Redis or the database unreachable, or the conversation lock still held: the turn did not run.
  The callback answers 503 so the platform delivers the message again, and the retry is
  processed once storage is back (the dedupe key was not committed).
* any other exception is a bug in a handler: its transaction was rolled back and the user gets
  ERROR_TEXT instead of a 500 and silence.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import redis
from flask import Response
from sqlalchemy.exc import DBAPIError

from ..dispatcher import ERROR_TEXT, Outcome
from ..messages import Incoming
from ..state import ConversationBusy

if TYPE_CHECKING:
    from ..services import Services

__all__ = ["ERROR_TEXT", "STORAGE_FAULTS", "dispatch", "unavailable"]

STORAGE_FAULTS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConversationBusy, DBAPIError)


def dispatch(services: Services, incoming: Incoming, platform: str) -> tuple[Outcome | None, bool]:
    """(outcome, degraded): degraded means answer 503; outcome None alone means answer ERROR_TEXT."""
    log = logging.getLogger(f"lianxin.{platform}")
    try:
        return services.dispatcher.handle(incoming), False
    except STORAGE_FAULTS as exc:
        log.error(f"{platform}.degraded", extra={"error": type(exc).__name__})
        return None, True
    except Exception:
        log.exception(f"{platform}.handler_failed", extra={"delivery": incoming.message_id})
        return None, False


def unavailable() -> Response:
    """The platform retries the delivery; the retry is processed once storage is back."""
    return Response("temporarily unavailable", status=503, mimetype="text/plain")
