"""`lianxin sync-dingtalk` and `lianxin dingtalk-register-card-callback` (issue 9)."""
from __future__ import annotations

import sys
import time

import click

__all__ = ["register"]


def _client(config):
    from ..adapters.dingtalk_api import DingTalkClient
    from ..redis_client import make_redis

    if not config.get("dingtalk.app_key", str) or not config.get("dingtalk.app_secret", str):
        raise click.ClickException("未配置钉钉 app_key / app_secret（config.yaml 的 dingtalk 一节，"
                                   "密钥用环境变量 LIANXIN_DINGTALK__APP_SECRET）")
    return DingTalkClient(config.get("dingtalk.app_key", str), config.get("dingtalk.app_secret", str),
                          make_redis(config.redis_url),
                          api_base=config.get("dingtalk.api_base", str),
                          oapi_base=config.get("dingtalk.oapi_base", str),
                          timeout=config.get("dingtalk.http_timeout_seconds", float))


def register(cli: click.Group) -> None:
    @cli.command("sync-dingtalk")
    @click.option("--dry-run", is_flag=True, help="只显示将要发生的变更，不写入数据库")
    @click.option("--root", "root_dept", default=None, type=int, help="从哪个钉钉部门开始同步（默认 dingtalk.sync_root_dept_id）")
    @click.option("--full/--partial", default=True, show_default=True,
                  help="full：钉钉中已没有、且没有企业微信账号的人员将被停用（不删除）")
    @click.option("-v", "--verbose", is_flag=True, help="列出每一项变更")
    @click.pass_obj
    def sync_dingtalk_cmd(obj, dry_run: bool, root_dept: int | None, full: bool, verbose: bool) -> None:
        """从钉钉通讯录同步部门和成员（部门 → 单位，成员 → 人员；不改动角色和党员信息）。"""
        from models.audit import audit
        from models.db import make_session_factory

        from ..adapters.dingtalk_contacts import SyncError, fetch_contacts, sync_contacts
        from ..identity import roster_engine

        config = obj.config
        started = time.perf_counter()
        root = root_dept if root_dept is not None else config.get("dingtalk.sync_root_dept_id", int)
        try:
            contacts = fetch_contacts(_client(config), root)
        except SyncError as exc:
            raise click.ClickException(str(exc)) from None
        engine = roster_engine(config)   # the workers' sender caches learn of the change
        try:
            with make_session_factory(engine)() as db:
                report = sync_contacts(db, contacts, full=full, dry_run=dry_run)
                if dry_run or report.errors:
                    db.rollback()
                else:
                    audit(db, actor_id=None, action="dingtalk_sync", target_type="roster", target_id=str(root),
                          via="sync-dingtalk", detail=report.summary()[:200])
                    db.commit()
        finally:
            engine.dispose()
        click.echo(report.summary())
        if verbose or dry_run or report.errors:
            details = report.details()
            if details:
                click.echo(details)
        click.echo(f"接口调用 {contacts.calls} 次，用时 {time.perf_counter() - started:.2f} 秒")
        if report.errors:
            click.echo("同步数据有错误，数据库未做任何改动。", err=True)
            sys.exit(1)

    @cli.command("dingtalk-register-card-callback")
    @click.pass_obj
    def register_card_callback_cmd(obj) -> None:
        """向钉钉登记互动卡片回调地址（HTTP 模式；appSecret 更换后需重新登记）。"""
        from ..adapters.dingtalk import card_api_secret, card_callback_token

        config = obj.config
        base = config.get("server.public_url", str).rstrip("/")
        if not base.startswith("https://"):
            raise click.ClickException("server.public_url 须为钉钉可访问的 https 地址")
        secret = config.get("dingtalk.app_secret", str)
        # the newest accepted token (dingtalk.card_callback_tokens, newest first); older ones stay
        # accepted until removed from the list, so cards already delivered keep working
        token = (config.get("dingtalk.card_callback_tokens", list) or [card_callback_token(secret)])[0]
        url = f"{base}/dingtalk/card/callback/{token}"
        route = config.get("dingtalk.card_callback_route_key", str)
        _client(config).api("POST", "/v1.0/card/callbacks/register", {
            "callbackRouteKey": route, "callbackUrl": url, "apiSecret": card_api_secret(secret, token),
            "forceUpdate": True})
        click.echo(f"已登记卡片回调：{route} → {base}/dingtalk/card/callback/…")
