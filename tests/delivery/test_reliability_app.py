"""The app the reliability tests run under a real gunicorn: lianxin plus a two-step test dialog.

`gunicorn 'tests.delivery.test_reliability_app:create()'` — configuration from the environment, as in
production. The dialog 「可靠性测试」 (started with 开始测试) asks two questions; every question
names the worker pid that asked it, and an answer starting with 慢 waits while the Redis flag
`reliability:slow` is set, after writing its pid to `reliability:busy_pid`, so that a test can
kill -9 the worker in the middle of handling it. Finishing writes an audit row, and so does the
one-message command 记录测试.
(No tests in this module; it only serves tests/delivery/test_reliability.py.)
"""
from __future__ import annotations

import os
import time

from bot.context import Context
from bot.forms import Form, Step
from bot.router import Router

router = Router("reliability_test")


def _ask_a(ctx: Context, answers: dict) -> str:
    return f"第一步：请输入名字 [pid {os.getpid()}]"


def _ask_b(ctx: Context, answers: dict) -> str:
    return f"第二步：请输入备注 [pid {os.getpid()}]"


def _parse_a(ctx: Context, text: str, answers: dict) -> str:
    if text.startswith("慢"):
        r = _redis()
        r.set("reliability:busy_pid", os.getpid())
        deadline = time.time() + 20
        while r.get("reliability:slow") and time.time() < deadline:
            time.sleep(0.05)
    return text


def _parse_b(ctx: Context, text: str, answers: dict) -> str:
    return text


def _done(ctx: Context, answers: dict) -> None:
    ctx.audit("reliability_done", "test", detail=f"{answers['a']}/{answers['b']}")
    ctx.reply(f"完成：{answers['a']}/{answers['b']} [pid {os.getpid()}]")


router.form(Form("reliability", "可靠性测试", [Step("a", _ask_a, _parse_a), Step("b", _ask_b, _parse_b)], _done))


@router.command("开始测试", help="（测试）两步对话")
def start(ctx: Context, args: str) -> None:
    ctx.start_form("reliability")


@router.command("记录测试", help="（测试）一条消息写一行")
def note(ctx: Context, args: str) -> None:
    ctx.audit("reliability_note", "test", detail=args)
    ctx.reply(f"已记录：{args}")


_client = None


def _redis():
    global _client
    if _client is None:
        from bot.redis_client import make_redis

        _client = make_redis(os.environ["REDIS_URL"])
    return _client


def create():
    """gunicorn app factory."""
    import handlers
    from bot.cli.wiring import create_app
    from bot.config import load_config
    from bot.notes_keys import setup_notes_keys

    if __name__ not in handlers.ROUTER_MODULES:
        handlers.ROUTER_MODULES.append(__name__)
    config = load_config().validate()
    setup_notes_keys(config)
    return create_app(config)
