"""lianxin's WSGI app as bench_webhook.py runs it under gunicorn: `bench.lianxin_wsgi:app`.

Exactly bot.cli.wsgi (config from the environment: DATABASE_URL, REDIS_URL, LIANXIN_NOTES_KEYS…),
plus the stand-in talk command when no real `谈话` command is registered yet.
"""
import handlers
from bot.cli.wiring import create_app
from bot.config import load_config
from bot.notes_keys import setup_notes_keys


def _talk_registered() -> bool:
    registry = handlers.build_registry()
    return registry.match_command("谈话 张三 测试") is not None


if not _talk_registered():
    handlers.ROUTER_MODULES.append("bench.standin_talk")

_config = load_config().validate()
setup_notes_keys(_config)
app = create_app(_config)
