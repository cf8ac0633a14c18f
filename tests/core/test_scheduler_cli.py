"""`lianxin jobs` and `lianxin run-job` as an operator uses them (SQLite file database)."""
from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli.demo import seed_demo
from bot.cli.main import _load_plugins, cli
from models.db import make_session_factory, session_scope
from models.outbox import OutboxMessage
from tests.conftest import NOTES_KEY


def _run(engine, *args):
    if "run-job" not in cli.commands:
        _load_plugins()
    env = {"LIANXIN_DATABASE__URL": engine.url.render_as_string(hide_password=False), "LIANXIN_REDIS__URL": "",
           "LIANXIN_NOTES_KEYS": NOTES_KEY, "LIANXIN_DELIVERY__PLATFORMS": "sim",
           # off in the shipped config (the daily digest carries it); a site may turn it back on
           "LIANXIN_SCHEDULER__JOBS__TALK_REMINDERS": "cron:day=1,month=1/3,hour=9"}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_run_job_runs_an_occurrence_once_and_jobs_shows_it(embedded):
    engine, _ = embedded
    with session_scope(make_session_factory(engine)) as db:
        seed_demo(db)
    first = _run(engine, "run-job", "talk_reminders", "--at", "2026-10-01 09:00")
    assert first.exit_code == 0, first.output
    assert "任务 talk_reminders 已运行（2026-10-01 09:00:00）：结果 4" in first.output
    again = _run(engine, "run-job", "talk_reminders", "--at", "2026-10-01 09:00")
    assert again.exit_code == 0 and "已经运行过" in again.output
    with make_session_factory(engine)() as db:
        assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 4

    listing = _run(engine, "jobs")
    assert listing.exit_code == 0, listing.output
    line = next(x for x in listing.output.splitlines() if x.startswith("talk_reminders "))
    assert "cron:day=1,month=1/3,hour=9" in line and "2026-10-01 09:00:00 ok" in line
    assert "Asia/Shanghai" in listing.output

    bad = _run(engine, "run-job", "nightly")
    assert bad.exit_code != 0 and "unknown job 'nightly'" in bad.output
    bad_at = _run(engine, "run-job", "talk_reminders", "--at", "1.10.2026")
    assert bad_at.exit_code != 0 and "YYYY-MM-DD HH:MM" in bad_at.output
