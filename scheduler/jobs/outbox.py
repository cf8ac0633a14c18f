"""The outbox relay as a job (it also runs as its own process: `lianxin dispatch`)."""
from __future__ import annotations

from bot.relay import OutboxRelay

from ..context import JobContext

__all__ = ["dispatch", "make_dispatcher"]

MAX_ROUNDS = 20   # one tick sends at most MAX_ROUNDS × outbox.batch_size rows, then yields to the next tick


def make_dispatcher(job: JobContext) -> OutboxRelay:
    from bot.services import build_relay, build_senders

    senders = build_senders(job.config, job.redis, job.session_factory)
    return build_relay(job.config, job.session_factory, senders, job.redis, job.metrics)


def dispatch(job: JobContext) -> int:
    """Send what is due; safe next to other relays (rows are claimed with a lease / SKIP LOCKED)."""
    dispatcher = job.outbox_dispatcher or make_dispatcher(job)
    return dispatcher.drain(max_rounds=MAX_ROUNDS)
