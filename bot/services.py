"""Build the shared services (database, Redis, dispatcher, senders) from a Config and a registry.

Used by the web app, the terminal simulator, the scheduler and the CLI (through bot.cli.wiring,
which supplies the handlers' registry), so that every process wires the same pieces the same
way and nothing lives in module globals.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import redis
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from models.db import make_engine, make_session_factory

from .config import Config
from .context import Clock
from .dedupe import Deduper
from .dispatcher import Dispatcher, PlatformTraits
from .identity import watch_roster
from .outbox import Sender
from .redis_client import make_redis
from .relay import OutboxRelay
from .router import Registry
from .state import ConversationStore

if TYPE_CHECKING:
    from .adapters.dingtalk import DingTalkVerifier
    from .adapters.wecom import WeComCrypto
    from .metrics import Metrics

log = logging.getLogger("lianxin")

__all__ = ["Services", "build_relay", "make_services"]

TRAITS = {
    "sim": PlatformTraits(passive_cards=True, passive_text_bytes=None),
    "wecom": PlatformTraits(passive_cards=False, passive_text_bytes=2000),
    "dingtalk": PlatformTraits(passive_cards=False, passive_text_bytes=None, passive_action_text=False),
}


class Runner(Protocol):
    """The embedded scheduler as Services holds it (the platform layer does not import scheduler/)."""

    def stop(self, timeout: float = ...) -> None: ...


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
    metrics: Any = None
    # built by the web blueprints on first use, then shared by the process's requests
    wecom_crypto: WeComCrypto | None = None
    dingtalk_verifier: DingTalkVerifier | None = None
    dingtalk_signature_guard: Any = None          # bot.replay.SignatureGuard, made on first DingTalk callback
    # `lianxin demo` only: the outbox drained right after each /sim request, and the embedded scheduler
    inline_outbox: OutboxRelay | None = None
    scheduler: Runner | None = None

    def outbox_dispatcher(self, **kwargs: Any) -> OutboxRelay:
        """The outbox relay for this process, configured from `outbox.*` (and the platforms' pacing)."""
        return build_relay(self.config, self.session_factory, self.senders, self.redis, self.metrics, **kwargs)


def build_relay(config: Config, session_factory: sessionmaker[Session], senders: dict[str, Sender], r: redis.Redis,
                metrics: Metrics | None = None, **kwargs: Any) -> OutboxRelay:
    from .breaker import CircuitBreaker
    from .pacing import Pacer

    c = config
    breakers = {p: CircuitBreaker(p, threshold=c.get("outbox.breaker_failures", int),
                                  window=c.get("outbox.breaker_window_seconds", float),
                                  cooldown=c.get("outbox.breaker_cooldown_seconds", float),
                                  metrics=metrics, redis=r) for p in senders}
    slack = c.get("wecom.pace_slack_seconds", float)
    pacer = Pacer(r, {"wecom": [(60 + slack, c.get("wecom.pace_per_minute", int)),
                                (3600 + slack, c.get("wecom.pace_per_hour", int))]}) if r is not None else None
    options = dict(
        max_attempts=c.get("outbox.max_attempts", int), batch_size=c.get("outbox.batch_size", int),
        backoff_base=c.get("outbox.backoff_base_seconds", float),
        backoff_cap=c.get("outbox.backoff_cap_seconds", float),
        lease_seconds=c.get("outbox.claim_lease_seconds", int), metrics=metrics,
        pool_size=c.get("outbox.pool_size", int), pacer=pacer, breakers=breakers,
        coalesce_min=c.get("outbox.coalesce_min", int),
        stop_deadline=c.get("outbox.stop_deadline_seconds", float))
    options.update(kwargs)
    return OutboxRelay(session_factory, senders, **options)


def build_senders(config: Config, r: redis.Redis, session_factory: sessionmaker[Session] | None = None
                  ) -> dict[str, Sender]:
    """One sender per delivery platform; `session_factory` lets them read exported files' bytes."""
    from .files import FileStore

    files = FileStore(session_factory) if session_factory is not None else None
    senders: dict[str, Sender] = {}
    if config.get("wecom.enabled", bool) and config.get("wecom.secret", str):
        from .adapters.wecom_api import LianxinWeComClient, WeComSender

        client = LianxinWeComClient(config.get("wecom.corp_id"), config.get("wecom.secret"),
                                    config.get("wecom.agent_id", int), r,
                                    timeout=(config.get("wecom.connect_timeout_seconds", float),
                                             config.get("wecom.http_timeout_seconds", float)),
                                    api_base=config.get("wecom.api_base", str) or None)
        senders["wecom"] = WeComSender(client, config.get("server.public_url", str), files=files,
                                       confidential=config.get("exports.confidential", bool))
    if "sim" in config.get("delivery.platforms", list) or config.get("server.simulator", bool):
        from .adapters.simulator import SimulatorSender

        senders["sim"] = SimulatorSender(r)
    if config.get("dingtalk.enabled", bool):
        from .adapters.dingtalk_sender import build_dingtalk_sender

        senders["dingtalk"] = build_dingtalk_sender(config, r, files)
    return senders


def make_services(config: Config, registry: Registry, *, redis_client: redis.Redis | None = None,
                  clock: Clock | None = None, engine: Engine | None = None, metrics: Any = None) -> Services:
    config.validate()
    engine = engine or make_engine(config.database_url, echo=config.get("database.echo", bool))
    sf = make_session_factory(engine)
    r = redis_client if redis_client is not None else make_redis(config.redis_url)
    watch_roster(engine, r)   # every roster write through this engine tells the workers' sender caches
    clock = clock or Clock()
    store = ConversationStore(r, config.get("conversation.ttl_seconds", int),
                              config.get("conversation.lock_timeout_seconds", int))
    deduper = Deduper(r, config.get("security.dedupe_ttl_seconds", int))
    dispatcher = Dispatcher(config=config, registry=registry, session_factory=sf, store=store,
                            deduper=deduper, clock=clock, traits=TRAITS, metrics=metrics)
    if config.get("inbound.max_turns", int) > 0:
        from .inbound_limit import InboundLimiter

        dispatcher.inbound_limit = InboundLimiter(r, config.get("inbound.max_turns", int),
                                                  config.get("inbound.window_seconds", float))
    return Services(config=config, engine=engine, session_factory=sf, redis=r, registry=registry,
                    dispatcher=dispatcher, clock=clock, senders=build_senders(config, r, sf), metrics=metrics)
