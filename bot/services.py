"""Build the shared services (database, Redis, registry, dispatcher, senders) from a Config.

Used by the web app, the terminal simulator, the scheduler and the CLI, so that every process
wires the same pieces the same way and nothing lives in module globals.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from models.db import make_engine, make_session_factory

from .config import Config
from .context import Clock
from .dedupe import Deduper
from .dispatcher import Dispatcher, PlatformTraits
from .identity import watch_roster
from .outbox import Dispatcher as OutboxDispatcher
from .outbox import Sender
from .redis_client import make_redis
from .router import Registry
from .state import ConversationStore

log = logging.getLogger("lianxin")

__all__ = ["Services", "build_services"]

TRAITS = {
    "sim": PlatformTraits(passive_cards=True, passive_text_bytes=None),
    "wecom": PlatformTraits(passive_cards=False, passive_text_bytes=2000),
    "dingtalk": PlatformTraits(passive_cards=False, passive_text_bytes=None, passive_action_text=False),
}


@dataclass
class Services:
    config: Config
    engine: Engine
    session_factory: sessionmaker[Session]
    redis: redis.Redis
    registry: Registry
    dispatcher: Dispatcher
    clock: Clock
    senders: dict[str, Sender] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    metrics: Any = None

    def outbox_dispatcher(self, **kwargs) -> OutboxDispatcher:
        c = self.config
        return OutboxDispatcher(
            self.session_factory, self.senders,
            max_attempts=c.get("outbox.max_attempts", int, 8), batch_size=c.get("outbox.batch_size", int, 50),
            backoff_base=c.get("outbox.backoff_base_seconds", float, 2.0),
            backoff_cap=c.get("outbox.backoff_cap_seconds", float, 600.0),
            lease_seconds=c.get("outbox.claim_lease_seconds", int, 120), metrics=self.metrics, **kwargs)


def build_senders(config: Config, r: redis.Redis) -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    if config.get("wecom.enabled", bool, False) and config.get("wecom.secret", str, ""):
        from .adapters.wecom_api import LianxinWeComClient, WeComSender

        client = LianxinWeComClient(config.get("wecom.corp_id"), config.get("wecom.secret"),
                                    config.get("wecom.agent_id", int), r,
                                    timeout=config.get("wecom.http_timeout_seconds", float, 5),
                                    api_base=config.get("wecom.api_base", str, "") or None)
        senders["wecom"] = WeComSender(client, config.get("server.public_url", str, ""))
    if "sim" in config.get("delivery.platforms", list, []) or config.get("server.simulator", bool, False):
        from .adapters.simulator import SimulatorSender

        senders["sim"] = SimulatorSender(r)
    try:
        from .adapters.dingtalk_api import build_dingtalk_sender  # added with the DingTalk adapter
    except ImportError:
        build_dingtalk_sender = None
    if build_dingtalk_sender and config.get("dingtalk.enabled", bool, False):
        senders["dingtalk"] = build_dingtalk_sender(config, r)
    return senders


def build_services(config: Config, *, redis_client: redis.Redis | None = None, clock: Clock | None = None,
                   engine: Engine | None = None, metrics: Any = None) -> Services:
    from handlers import build_registry

    config.validate()
    engine = engine or make_engine(config.database_url, echo=config.get("database.echo", bool, False))
    sf = make_session_factory(engine)
    r = redis_client if redis_client is not None else make_redis(config.redis_url)
    watch_roster(engine, r)   # every roster write through this engine tells the workers' sender caches
    clock = clock or Clock()
    registry = build_registry()
    store = ConversationStore(r, config.get("conversation.ttl_seconds", int, 1800),
                              config.get("conversation.lock_timeout_seconds", int, 10))
    deduper = Deduper(r, config.get("security.dedupe_ttl_seconds", int, 86400))
    dispatcher = Dispatcher(config=config, registry=registry, session_factory=sf, store=store,
                            deduper=deduper, clock=clock, traits=TRAITS, metrics=metrics)
    return Services(config=config, engine=engine, session_factory=sf, redis=r, registry=registry,
                    dispatcher=dispatcher, clock=clock, senders=build_senders(config, r), metrics=metrics)
