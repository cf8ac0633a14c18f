"""Alembic, driven from code: `lianxin init-db` upgrades any database to the latest schema."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

__all__ = ["alembic_config", "pending_differences", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def pending_differences(engine: Engine) -> list:
    """Differences between the migrated database and the models (empty when in sync)."""
    import models

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "compare_type": False,
            "include_object": lambda obj, name, type_, reflected, other:
                not (type_ == "table" and name and name.startswith("apscheduler_"))})
        return compare_metadata(ctx, models.Base.metadata)
