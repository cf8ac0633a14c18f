"""Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from models.db import make_engine
from models.migrate import pending_differences, upgrade


def test_migrations_match_the_models_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    assert pending_differences(engine) == []
    upgrade(engine)  # idempotent: a second `lianxin init-db` changes nothing
    assert "care_case" in inspect(engine).get_table_names()


def test_migrations_match_the_models_on_postgresql(pg_url):
    base = pg_url.rsplit("/", 1)[0]
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/test", isolation_level="AUTOCOMMIT")
    name = pg_url.rsplit("/", 1)[1] + "_mig"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(f"{base}/{name}")
    try:
        upgrade(engine)
        assert pending_differences(engine) == []
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
