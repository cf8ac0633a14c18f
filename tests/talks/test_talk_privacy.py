"""Talk notes at rest and in logs: raw rows are Fernet tokens, key rotation re-encrypts every row,
and neither a full dialog nor a failing one leaves the note text in any log, outbox row or Redis key."""
from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from models.crypto import configure_keys, generate_key
from models.outbox import OutboxMessage
from models.talk import Talk, TalkVersion
from tests.conftest import NOTES_KEY

SECRET = "机密内容甲乙丙丁戊己庚辛"
NEEDS = "需要帮忙联系医院专家号"


def _record(sim, summary=SECRET, needs=NEEDS):
    sim.say("zhouli", f"谈话 张三 季度 稳定 {summary} #关注 #健康 需求:{needs}")
    out = sim.press("zhouli", "保存")
    assert "已保存" in out.text


def _raw(services, table: str) -> list[tuple]:
    with services.engine.connect() as conn:
        return list(conn.execute(text(f"SELECT id, summary, needs FROM {table} ORDER BY id")))


@pytest.fixture
def restore_key():
    yield
    configure_keys([NOTES_KEY])


def test_raw_rows_hold_tokens_not_text(sim, services):
    _record(sim)
    sim.say("zhouli", "修改谈话 1")
    for answer in ("不变", "改写后的内容", "不变", "不变", "不变", "不变"):
        sim.say("zhouli", answer)
    sim.press("zhouli", "保存")
    for table in ("talk", "talk_version"):
        [(_, summary, needs)] = _raw(services, table)
        assert summary.startswith("gAAAAA") and needs.startswith("gAAAAA")   # Fernet tokens
        assert SECRET not in summary and NEEDS not in needs and "改写后" not in summary
    with services.session_factory() as db:
        assert db.get(Talk, 1).summary == "改写后的内容" and db.scalars(select(TalkVersion)).one().summary == SECRET


def test_rotate_notes_key_reencrypts_every_row_then_old_key_can_go(sim, services, monkeypatch, restore_key):
    from bot.cli.main import cli
    from bot.cli.talks import register

    if "rotate-notes-key" not in cli.commands:
        register(cli)
    for i in range(3):
        _record(sim, summary=f"{SECRET}{i}", needs=f"{NEEDS}{i}")
    sim.say("zhouli", "修改谈话 1")
    for answer in ("不变", "第二版", "不变", "不变", "不变", "不变"):
        sim.say("zhouli", answer)
    sim.press("zhouli", "保存")
    before = {t: _raw(services, t) for t in ("talk", "talk_version")}

    new_key = generate_key()
    env = {"LIANXIN_NOTES_KEYS": f"{new_key},{NOTES_KEY}",
           "DATABASE_URL": services.engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(cli, ["rotate-notes-key", "--batch-size", "2"], env=env, obj=None)
    assert result.exit_code == 0, result.output
    assert "talk: 重写 3 行，重新加密 6 项" in result.output
    assert "talk_version: 重写 1 行，重新加密 2 项" in result.output
    after = {t: _raw(services, t) for t in ("talk", "talk_version")}
    assert all(a[1] != b[1] and a[2] != b[2] for t in before for a, b in zip(after[t], before[t], strict=False))

    # a second run finds everything current (resumable)
    again = CliRunner().invoke(cli, ["rotate-notes-key"], env=env, obj=None)
    assert "talk: 重写 0 行，重新加密 0 项，已是新密钥 6 项" in again.output

    configure_keys([new_key])                                  # the old key is removed
    with services.session_factory() as db:
        talks = db.scalars(select(Talk).order_by(Talk.id)).all()
        assert [t.summary for t in talks] == ["第二版", f"{SECRET}1", f"{SECRET}2"]
        assert [t.needs for t in talks] == [f"{NEEDS}0", f"{NEEDS}1", f"{NEEDS}2"]
        assert db.scalars(select(TalkVersion)).one().summary == f"{SECRET}0"

    # and with only an unrelated key the command refuses clearly
    bad = CliRunner().invoke(cli, ["rotate-notes-key"], env={**env, "LIANXIN_NOTES_KEYS": generate_key()}, obj=None)
    assert bad.exit_code != 0 and "无法用" in bad.output


def test_no_note_text_in_logs_outbox_or_redis(sim, services, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy.engine", "sqlalchemy.pool", "lianxin"):
        logging.getLogger(name).setLevel(logging.DEBUG)        # SQL statements *and* parameters
    try:
        sim.say("zhouli", "谈话")
        sim.say("zhouli", "张三")
        sim.press("zhouli", "季度谈心")
        sim.say("zhouli", SECRET)
        sim.say("zhouli", "返回")
        sim.say("zhouli", SECRET)
        sim.press("zhouli", "波动较大")
        sim.press("zhouli", "紧急")
        sim.press("zhouli", "健康")
        keys = {k: services.redis.get(k) for k in services.redis.keys("conv:*")}
        sim.say("zhouli", NEEDS)
        sim.press("zhouli", "保存")
        sim.say("zhouli", "谈话记录 张三")
        sim.say("liqiang", "谈话详情 1")
        sim.say("wangwei", "history 张三")
    finally:
        for name in ("sqlalchemy.engine", "sqlalchemy.pool", "lianxin"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)   # the capture worked
    assert any("INSERT INTO talk" in r.getMessage() for r in caplog.records)
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {vars(r)!r}" for r in caplog.records)
    assert SECRET not in logged and NEEDS not in logged
    assert SECRET[:6] not in logged
    assert keys and all(SECRET.encode() not in (v or b"") for v in keys.values())   # dialog state is sealed
    with services.session_factory() as db:
        payloads = str([m.payload for m in db.scalars(select(OutboxMessage))])
        assert SECRET not in payloads and NEEDS not in payloads


def test_failure_while_saving_leaks_no_note_text(sim, services, caplog, monkeypatch):
    """An exception while saving is logged by the web layer: its message and traceback hold no note text."""
    from handlers.talks import service

    def boom(*a, **kw):
        raise RuntimeError("database unavailable")

    caplog.set_level(logging.DEBUG)
    sim.say("zhouli", f"谈话 张三 季度 稳定 {SECRET}")
    monkeypatch.setattr(service, "record_talk", boom)
    with pytest.raises(RuntimeError) as info:
        sim.press("zhouli", "保存")
    import traceback

    rendered = "".join(traceback.format_exception(info.value))
    assert SECRET not in rendered and SECRET not in str(info.value)
    logged = "\n".join(f"{r.getMessage()} {vars(r)!r}" for r in caplog.records)
    assert SECRET not in logged
    with services.session_factory() as db:
        assert db.scalars(select(Talk)).first() is None


def test_outbox_payloads_are_encrypted_at_rest(services):
    """A queued card can carry names and needs: the stored payload is a Fernet token, not JSON."""
    from sqlalchemy import text as sql

    from bot.messages import Card
    from bot.outbox import enqueue
    from models.db import session_scope

    with session_scope(services.session_factory) as db:
        enqueue(db, platform="wecom", recipients=["liqiang"], reply=Card(title="关爱需求", body="张三家中老人住院需要陪护"))
    with services.engine.connect() as conn:
        raw = conn.execute(sql("SELECT payload FROM outbox_message")).scalar_one()
    assert "住院" not in raw and "关爱需求" not in raw and raw.startswith("gAAAA")
