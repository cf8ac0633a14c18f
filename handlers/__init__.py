"""Domain handlers. Each module owns a `router`; ROUTER_MODULES lists them in priority order.

Handlers see only bot.messages / bot.context and models; never a platform format.

A domain with buttons, forms or database work is a package of one shape: `__init__` (creates the
router, includes the others), commands, actions (buttons), forms, cards, service (queries, no chat
text), jobs (scheduled work). common, org, admin, admin_outbox and stats stay single modules: they
have no buttons, no forms and no jobs, and their database work is a few lines beside the reply.
"""
from __future__ import annotations

import importlib

from bot.router import Registry

__all__ = ["ROUTER_MODULES", "build_registry"]

ROUTER_MODULES = [
    "handlers.common",
    "handlers.org",
    "handlers.admin",
    "handlers.talks",
    "handlers.cases",
    "handlers.admin_outbox",
    "handlers.activities",
    "handlers.learning",
    "handlers.voice",
    "handlers.digest",
    "handlers.sampling",
    "handlers.pulse",
    "handlers.stats",
    "handlers.todo",
]


def build_registry() -> Registry:
    return Registry(importlib.import_module(name).router for name in ROUTER_MODULES)
