"""`lianxin scheduler`, `lianxin jobs`, `lianxin run-job NAME`, `lianxin dispatch`."""
from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click

log = logging.getLogger("lianxin.scheduler")

__all__ = ["register"]


def _services(obj, metrics=None):
    from ..notes_keys import setup_notes_keys
    from .wiring import build_services

    config = obj.config
    setup_notes_keys(config)
    return build_services(config, metrics=metrics)


def _on_signals(stop: threading.Event) -> None:
    def handler(signum, _frame):
        log.info("scheduler.signal", extra={"signal": signum})
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


@click.command("scheduler")
@click.option("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
@click.pass_obj
def scheduler_cmd(obj, metrics_port: int | None) -> None:
    """Run the job scheduler (its own process; any number of instances, one leads)."""
    from scheduler.runner import SchedulerRunner

    from ..metrics import Metrics

    metrics = Metrics()
    services = _services(obj, metrics)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=metrics.registry)
    runner = SchedulerRunner.from_services(services)
    _on_signals(runner._stop)
    click.echo(f"调度器已启动（{runner.leader.name} 选主，{len(runner.specs)} 个任务）；Ctrl-C 退出。")
    runner.run(blocking=True)
    click.echo("调度器已停止。")


def _fmt(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


@click.command("jobs")
@click.pass_obj
def jobs_cmd(obj) -> None:
    """List the jobs, their schedule and next run (Asia/Shanghai), and their last run."""
    from sqlalchemy import inspect, select, text

    from models.db import make_engine
    from models.jobrun import JobRun
    from scheduler.registry import TARGETS, job_specs
    from scheduler.runner import JOBSTORE_TABLE

    config = obj.config
    tz = ZoneInfo(config.timezone)
    specs = {s.id: s for s in job_specs(config)}
    engine = make_engine(config.database_url)
    now = datetime.now(UTC)
    stored: dict[str, datetime] = {}
    last: dict[str, tuple] = {}
    with engine.connect() as conn:
        insp = inspect(conn)     # the same connection: SQLite takes the write lock at BEGIN
        if insp.has_table(JOBSTORE_TABLE):
            for job_id, ts in conn.execute(text(f"SELECT id, next_run_time FROM {JOBSTORE_TABLE}")):
                if ts is not None:
                    stored[job_id] = datetime.fromtimestamp(float(ts), UTC)
        if insp.has_table(JobRun.__tablename__):
            for job_id in TARGETS:
                row = conn.execute(select(JobRun.scheduled_for, JobRun.status).where(JobRun.job_id == job_id)
                                   .order_by(JobRun.scheduled_for.desc()).limit(1)).first()
                if row:
                    last[job_id] = (row[0] if row[0].tzinfo else row[0].replace(tzinfo=UTC), row[1])
    engine.dispose()
    click.echo(f"{'任务':<20} {'时间规则':<34} {'下次运行 (' + config.timezone + ')':<26} 上次运行")
    for job_id, _target in TARGETS.items():
        spec = specs.get(job_id)
        if spec is None:
            click.echo(f"{job_id:<20} {'off':<34} {'（已停用）':<26} {_fmt(last.get(job_id, (None,))[0], tz)}")
            continue
        nxt = stored.get(job_id) or spec.build_trigger(config.timezone).get_next_fire_time(None, now)
        lr = last.get(job_id)
        last_text = f"{_fmt(lr[0], tz)} {lr[1]}" if lr else "—"
        note = "（待补跑）" if nxt and nxt < now else ""
        click.echo(f"{job_id:<20} {spec.trigger:<34} {_fmt(nxt, tz) + note:<26} {last_text}")


@click.command("run-job")
@click.argument("name")
@click.option("--at", "at", default=None,
              help="run the occurrence of this local time (YYYY-MM-DD HH:MM, Asia/Shanghai) instead of now")
@click.pass_obj
def run_job_cmd(obj, name: str, at: str | None) -> None:
    """Run job NAME once now (claimed like a scheduled occurrence; a repeat sends nothing twice)."""
    from bot.config import ConfigError
    from scheduler.registry import find_spec
    from scheduler.runner import Occurrences

    try:
        spec = find_spec(obj.config, name)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    services = _services(obj)
    from sqlalchemy import inspect

    from models.jobrun import JobRun

    if not inspect(services.engine).has_table(JobRun.__tablename__):
        raise click.ClickException("数据库中没有 job_run 表：请先运行 lianxin init-db")
    tz = ZoneInfo(services.config.timezone)
    if at:
        try:
            when = datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=tz)
        except ValueError:
            raise click.BadParameter(f"expected YYYY-MM-DD HH:MM, got {at!r}", param_hint="--at") from None
    else:
        when = services.clock.now().replace(microsecond=0)
    occ = Occurrences(services.config, services.session_factory, services.clock, redis=services.redis,
                      metrics=services.metrics, outbox_dispatcher=services.outbox_dispatcher())
    outcome = occ.execute(spec, when, manual=True)
    if outcome.status == "ok":
        click.echo(f"任务 {name} 已运行（{_fmt(when, tz)}）：结果 {outcome.result}")
    elif outcome.status == "skipped":
        click.echo(f"任务 {name} 在 {_fmt(when, tz)} 的这一次已经运行过（或正在运行），未重复执行。")
    else:
        raise click.ClickException(f"任务 {name} 失败：{outcome.error}")


@click.command("dispatch")
@click.option("--once", is_flag=True, help="send what is due and exit")
@click.pass_obj
def dispatch_cmd(obj, once: bool) -> None:
    """Run the outbox relay as its own process (safe next to the scheduler's outbox job)."""
    services = _services(obj)
    dispatcher = services.outbox_dispatcher()
    if once:
        click.echo(f"已发送 {dispatcher.drain()} 条")
        return
    stop = threading.Event()
    _on_signals(stop)
    poll = services.config.get("outbox.poll_seconds", float)
    click.echo("发件箱发送进程已启动；Ctrl-C 退出。")
    dispatcher.run_forever(stop, poll)


def register(cli) -> None:
    for command in (scheduler_cmd, jobs_cmd, run_job_cmd, dispatch_cmd):
        cli.add_command(command)
