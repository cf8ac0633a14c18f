"""Where the handlers' registry meets the platform layer: every process builds its services and app here."""
from __future__ import annotations

from typing import Any

from flask import Flask

from handlers import build_registry

from ..app import make_app
from ..config import Config, load_config
from ..metrics import Metrics
from ..services import Services, make_services

__all__ = ["build_services", "create_app"]


def build_services(config: Config, **kwargs: Any) -> Services:
    """Services with every domain's commands (keyword arguments as bot.services.make_services)."""
    return make_services(config, build_registry(), **kwargs)


def create_app(config: Config | None = None, services: Services | None = None, **service_kwargs: Any) -> Flask:
    """The web app; builds its services unless given (tests and benches pass their own)."""
    config = config or load_config()
    if services is None:
        services = build_services(config, metrics=Metrics(), **service_kwargs)
    return make_app(config, services)
