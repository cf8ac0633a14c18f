"""`lianxin import-roster FILE` and `lianxin sync-wecom`: load the organisation (issue 3)."""
from __future__ import annotations

import sys
import time

import click

__all__ = ["register"]


def _session(config):
    from models.db import make_session_factory

    from ..identity import roster_engine

    engine = roster_engine(config)   # the workers' sender caches learn of the change
    return engine, make_session_factory(engine)


def _finish(report, verbose: bool, started: float) -> None:
    click.echo(report.summary())
    if verbose or report.dry_run:
        details = report.details()
        if details:
            click.echo(details)
    click.echo(f"用时 {time.perf_counter() - started:.2f} 秒")


def register(cli: click.Group) -> None:
    @cli.command("import-roster")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option("--dry-run", is_flag=True, help="只显示将要发生的变更，不写入数据库")
    @click.option("--skip-bad-rows", is_flag=True, help="跳过错误行，导入其余各行（默认：有错误行则整份不导入）")
    @click.option("--full/--partial", default=True, show_default=True,
                  help="full：文件是完整名单，文件中没有的人员将被停用（不删除）；partial：只更新文件中的人员")
    @click.option("-v", "--verbose", is_flag=True, help="列出每一项变更")
    @click.pass_obj
    def import_roster_cmd(obj, file: str, dry_run: bool, skip_bad_rows: bool, full: bool, verbose: bool) -> None:
        """导入花名册（CSV 或 Excel .xlsx）：单位、企业微信账号、姓名，可选 钉钉账号、手机、党员、角色。"""
        from models.audit import audit
        from models.db import session_scope
        from roster.apply import apply_plan
        from roster.plan import plan_people
        from roster.read import read_roster
        from roster.rows import RosterError

        started = time.perf_counter()
        try:
            rows = read_roster(file)
        except RosterError as exc:
            raise click.ClickException(str(exc)) from None
        engine, factory = _session(obj.config)
        try:
            with session_scope(factory) as db:
                plan = plan_people(db, rows, full=full, skip_bad_rows=skip_bad_rows, dry_run=dry_run)
                report = plan.report
                if not dry_run and (not report.errors or skip_bad_rows):
                    apply_plan(db, plan)
                    audit(db, actor_id=None, action="roster_import", target_type="roster", target_id=file[-64:],
                          via="import-roster", detail=report.summary().splitlines()[1].strip()
                          + f"；停用 {len(report.deactivated)}；{'full' if full else 'partial'}")
        finally:
            engine.dispose()
        _finish(report, verbose, started)
        if report.errors and not skip_bad_rows:
            click.echo("文件中有错误行，数据库未做任何改动。改正后重新导入，或加 --skip-bad-rows 跳过错误行。", err=True)
            sys.exit(1)

    @cli.command("sync-wecom")
    @click.option("--dry-run", is_flag=True, help="只显示将要发生的变更，不写入数据库")
    @click.option("--root", "root_dept", default=1, show_default=True, type=int, help="从哪个企业微信部门开始同步")
    @click.option("--full/--partial", default=True, show_default=True,
                  help="full：企业微信中没有的人员将被停用（不删除）")
    @click.option("-v", "--verbose", is_flag=True, help="列出每一项变更")
    @click.pass_obj
    def sync_wecom_cmd(obj, dry_run: bool, root_dept: int, full: bool, verbose: bool) -> None:
        """从企业微信通讯录同步部门和成员（部门 → 单位，成员 → 人员；不改动角色）。"""
        from models.audit import audit
        from models.db import session_scope
        from roster.apply import apply_plan

        from ..adapters.wecom_api import LianxinWeComClient
        from ..adapters.wecom_contacts import SyncError, fetch_contacts, plan_sync
        from ..redis_client import make_redis

        config = obj.config
        started = time.perf_counter()
        if not config.get("wecom.corp_id", str) or not config.get("wecom.secret", str):
            raise click.ClickException("未配置企业微信 corp_id / secret（config.yaml 的 wecom 一节）")
        client = LianxinWeComClient(config.get("wecom.corp_id", str), config.get("wecom.secret", str),
                                    config.get("wecom.agent_id", int), make_redis(config.redis_url),
                                    timeout=config.get("wecom.http_timeout_seconds", float),
                                    api_base=config.get("wecom.api_base", str) or None)
        try:
            contacts = fetch_contacts(client, root_dept)
        except SyncError as exc:
            raise click.ClickException(str(exc)) from None
        engine, factory = _session(config)
        try:
            with session_scope(factory) as db:
                plan = plan_sync(db, contacts, full=full, dry_run=dry_run)
                report = plan.report
                if not dry_run and not report.errors:
                    apply_plan(db, plan)
                    audit(db, actor_id=None, action="wecom_sync", target_type="roster", target_id=str(root_dept),
                          via="sync-wecom", detail=report.summary().splitlines()[1].strip())
        finally:
            engine.dispose()
        _finish(report, verbose, started)
        if report.errors:
            click.echo("同步数据有错误，数据库未做任何改动。", err=True)
            sys.exit(1)
