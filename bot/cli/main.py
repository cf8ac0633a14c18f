"""The `lianxin` command line: demo, serve, chat, init-db, and the commands each domain adds."""
from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

import click

from ..config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bot.services import Services

__all__ = ["cli", "main"]

# modules exposing register(cli) -> None; each domain adds its own commands there
CLI_MODULES: list[str] = [
    "bot.cli.org",
    "bot.cli.dingtalk",
    "bot.cli.dingtalk_stream",
    "bot.cli.talks",
    "bot.cli.activities",
    "bot.cli.scheduler",
    "bot.cli.insight",
]


class Obj:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path).validate()
        return self._config


def setup_logging(level: str = "INFO") -> None:
    from ..logging_setup import configure_logging

    configure_logging(level)


@click.group()
@click.option("--config", "config_path", envvar="LIANXIN_CONFIG", default=None, help="config.yaml path")
@click.option("--log-level", default="INFO", show_default=True)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_level: str) -> None:
    """连心 lianxin: Party-and-mass work in WeCom / DingTalk."""
    setup_logging(log_level)
    ctx.obj = Obj(config_path)


def prepare_database(config: Config, seed: bool = False) -> tuple[Engine, int]:
    """Migrate the database to the latest schema (and seed the demo organisation)."""
    from models.db import make_session_factory, session_scope
    from models.migrate import upgrade

    from ..identity import roster_engine
    from .demo import seed_demo

    engine = roster_engine(config)
    upgrade(engine)
    added = 0
    if seed:
        with session_scope(make_session_factory(engine)) as db:
            added = seed_demo(db)
    return engine, added


@cli.command("init-db")
@click.option("--demo", is_flag=True, help="also seed the demo organisation")
@click.pass_obj
def init_db(obj: Obj, demo: bool) -> None:
    """Create or upgrade the database schema (Alembic)."""
    engine, added = prepare_database(obj.config, seed=demo)
    seeded = f"，导入演示人员 {added} 人" if added else ""
    click.echo(f"数据库已就绪：{engine.url.render_as_string(hide_password=True)}{seeded}")


def _demo_config(config: Config) -> Config:
    platforms = config.get("delivery.platforms", list)
    if "sim" not in platforms:
        platforms = ["sim"] + [p for p in platforms if p == "wecom" and config.get("wecom.secret", str)]
    return config.with_overrides({"delivery.platforms": platforms, "server.simulator": True})


def start_outbox_thread(services: Services, interval: float = 1.0) -> threading.Thread:
    """Run an outbox dispatcher in a daemon thread (embedded default: demo and single process)."""
    dispatcher = services.outbox_dispatcher()
    thread = threading.Thread(target=dispatcher.run_forever, args=(threading.Event(), interval),
                              name="outbox", daemon=True)
    thread.start()
    return thread


@cli.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@click.pass_obj
def demo(obj: Obj, host: str | None, port: int | None) -> None:
    """Seed the demo organisation and run the bot with the web simulator at /sim."""
    from ..notes_keys import setup_notes_keys
    from .wiring import create_app

    config = _demo_config(obj.config)
    host = host or config.get("server.host")
    port = port or config.get("server.port", int)
    # links the bot sends (dashboard login) point at the address this demo listens on, --port included
    config = config.with_overrides({"server.public_url": demo_public_url(host, port)})
    setup_notes_keys(config)
    engine, added = prepare_database(config, seed=True)
    app = create_app(config, engine=engine)
    services = app.extensions["lianxin"]
    services.inline_outbox = services.outbox_dispatcher()
    start_outbox_thread(services)
    _maybe_start_demo_scheduler(services)
    click.echo(f"连心演示已启动：打开 http://{host}:{port}/sim 选择身份聊天；"
               f"或在另一个终端运行 lianxin chat --as zhangsan。演示人员：{f'新导入 {added} 人' if added else '已存在'}。")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


def demo_public_url(host: str, port: int) -> str:
    """The address a browser on this machine reaches the demo at (0.0.0.0 / :: listen everywhere)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def _maybe_start_demo_scheduler(services: Services) -> None:
    try:
        mod = importlib.import_module("scheduler.embedded")
    except ImportError:
        return
    mod.start_embedded(services)


@cli.command()
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=32, show_default=True, type=int)
@click.option("--bind", default=None, help="host:port (default from config)")
@click.pass_obj
def serve(obj: Obj, workers: int, threads: int, bind: str | None) -> None:
    """Run the webhook server under gunicorn (production). Run `lianxin scheduler` separately."""
    from ..notes_keys import setup_notes_keys
    from .wsgi_server import run_gunicorn

    config = obj.config
    setup_notes_keys(config)
    bind = bind or f"{config.get('server.host')}:{config.get('server.port', int)}"
    run_gunicorn(obj.config_path, bind=bind, workers=workers, threads=threads)


@cli.command()
@click.option("--as", "user", required=True, help="platform user id, e.g. zhangsan")
@click.option("-m", "--message", "messages", multiple=True, help="send these messages and exit")
@click.pass_obj
def chat(obj: Obj, user: str, messages: tuple[str, ...]) -> None:
    """Chat with the bot in the terminal as USER (same router as WeCom). `!N` presses button N."""
    from .terminal import run_terminal_chat

    if logging.getLogger().level < logging.ERROR and not os.environ.get("LIANXIN_CHAT_LOGS"):
        logging.getLogger().setLevel(logging.ERROR)  # keep the conversation readable
    run_terminal_chat(_demo_config(obj.config), user, list(messages))


def _load_plugins() -> None:
    for name in CLI_MODULES:
        importlib.import_module(name).register(cli)


def main() -> None:
    _load_plugins()
    try:
        cli(standalone_mode=False)
    except ConfigError as exc:
        click.echo(f"配置错误 / config error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:
        from models.crypto import NotesKeyError

        if isinstance(exc, NotesKeyError):
            click.echo(f"密钥错误 / key error: {exc}", err=True)
            sys.exit(2)
        raise
