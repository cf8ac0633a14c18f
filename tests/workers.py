"""Two app instances on the shared database and Redis, as two gunicorn workers (or hosts) are: the
`workers` fixture, for the tests of what each worker caches (senders, shared views)."""
from __future__ import annotations

import pytest

from bot.adapters.simulator import sim_incoming
from models.db import make_engine


class Worker:
    """One app instance: its own Services (engine, dispatcher, sender cache) on the shared stores."""

    def __init__(self, services):
        self.services = services

    def say(self, user: str, text: str) -> str:
        return self.services.dispatcher.handle(sim_incoming(user, text=text)).text

    def confirmed(self, user: str, text: str) -> str:
        """An admin change asks for confirmation first (handlers.admin_changes); confirm it."""
        assert "请确认这次修改" in "\n".join(getattr(r, "title", "") for r in
                                       self.services.dispatcher.handle(sim_incoming(user, text=text)).replies)
        return self.say(user, "确认")


@pytest.fixture
def workers(services, clock):
    from bot.cli.wiring import build_services

    engine = make_engine(services.engine.url.render_as_string(hide_password=False))
    other = build_services(services.config, redis_client=services.redis, clock=clock, engine=engine)
    yield Worker(services), Worker(other)
    engine.dispose()
