"""The outbox relay as a job (it also runs as its own process: `lianxin dispatch`)."""
from __future__ import annotations

from bot.outbox import Dispatcher

from ..context import JobContext

__all__ = ["dispatch", "make_dispatcher"]

MAX_ROUNDS = 20   # one tick sends at most MAX_ROUNDS × outbox.batch_size rows, then yields to the next tick


def make_dispatcher(job: JobContext) -> Dispatcher:
    from bot.services import build_senders

    c = job.config
    return Dispatcher(job.session_factory, build_senders(c, job.redis),
                      max_attempts=c.get("outbox.max_attempts", int), batch_size=c.get("outbox.batch_size", int),
                      backoff_base=c.get("outbox.backoff_base_seconds", float),
                      backoff_cap=c.get("outbox.backoff_cap_seconds", float),
                      lease_seconds=c.get("outbox.claim_lease_seconds", int), metrics=job.metrics)


def dispatch(job: JobContext) -> int:
    """Send what is due; safe next to other relays (rows are claimed with a lease / SKIP LOCKED)."""
    dispatcher = job.outbox_dispatcher or make_dispatcher(job)
    return dispatcher.drain(max_rounds=MAX_ROUNDS)
