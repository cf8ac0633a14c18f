"""`lianxin serve`: gunicorn with our app factory (each worker builds its own services)."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

__all__ = ["run_gunicorn"]


class _App(BaseApplication):
    def __init__(self, config_path: str | None, options: dict) -> None:
        self.config_path = config_path
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from ..config import load_config
        from ..notes_keys import setup_notes_keys
        from .wiring import create_app

        config = load_config(self.config_path).validate()
        setup_notes_keys(config)
        return create_app(config)


def run_gunicorn(config_path: str | None, *, bind: str, workers: int, threads: int) -> None:
    worker_class = "gthread" if threads > 1 else "sync"
    _App(config_path, {"bind": bind, "workers": workers, "threads": threads, "worker_class": worker_class,
                       "timeout": 30, "graceful_timeout": 20, "accesslog": "-",
                       "max_requests": 100000, "max_requests_jitter": 10000,
                       "logger_class": "bot.access_log.RedactingLogger"}).run()   # docs/DEPLOY.md: why
