"""`lianxin dingtalk-stream`: receive DingTalk robot messages and card clicks over Stream mode."""
from __future__ import annotations

import asyncio
import signal

import click

__all__ = ["register"]


def register(cli: click.Group) -> None:
    @cli.command("dingtalk-stream")
    @click.pass_obj
    def dingtalk_stream_cmd(obj) -> None:
        """连接钉钉 Stream（长连接）接收机器人消息和卡片点击；无需公网回调地址。可与 HTTP 模式并存。"""
        from ..adapters.dingtalk_stream import build_stream_client
        from ..notes_keys import setup_notes_keys
        from .wiring import build_services

        config = obj.config
        if not config.get("dingtalk.enabled", bool) or not config.get("dingtalk.app_secret", str):
            raise click.ClickException("钉钉未启用：请设置 dingtalk.enabled、dingtalk.app_key 和 "
                                       "LIANXIN_DINGTALK__APP_SECRET")
        if not config.get("dingtalk.stream_mode", bool):
            click.echo("提示：dingtalk.stream_mode 为 false，新发出的卡片仍走 HTTP 回调；改为 true 后卡片点击也经 Stream 送达。")
        setup_notes_keys(config)
        services = build_services(config)
        client = build_stream_client(services)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(client.stop()))
            await client.run()

        click.echo("钉钉 Stream 已启动（Ctrl+C 退出）。")
        asyncio.run(main())
        client.pool.shutdown(wait=True)
        services.engine.dispose()
