"""What only the production stack showed (PostgreSQL enforces column lengths, SQLite does not;
the light read-only turn): found by driving `lianxin serve` + `lianxin dispatch` with signed
callbacks (tests/delivery/test_production_path.py). Through the real webhook, on both storage stacks."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, OperationalError

from bot.dispatcher import ERROR_TEXT
from models.activity import Activity
from models.audit import AuditEvent
from models.db import make_session_factory, session_scope

PUBLISH = "发布活动 义务植树 2026-12-05 09:00-12:00 @{place} 名额5 截止12-03 范围:外航维修党支部"


def _count(services, model, *where) -> int:
    with session_scope(make_session_factory(services.engine)) as db:
        return db.scalar(select(func.count()).select_from(model).where(*where))


def test_one_line_activity_place_longer_than_its_column_gets_the_dialogs_answer(wecom, services):
    # PostgreSQL refused the 2,000-character place (varchar 200): the webhook answered 503, WeCom
    # retried, and the organiser heard nothing; SQLite stored it
    reply = wecom.say("liqiang", PUBLISH.format(place="长" * 2000))
    assert reply.startswith("地点不能为空，最多 200 字。\n格式：发布活动")
    assert _count(services, Activity) == 0


def test_one_line_activity_title_too_long_is_refused_not_cut(wecom, services):
    reply = wecom.say("liqiang", PUBLISH.format(place="浦东基地").replace("义务植树", "植" * 150))
    assert reply.startswith("活动名称不能为空，最多 100 字。\n格式：发布活动")
    assert _count(services, Activity) == 0


@pytest.mark.parametrize("error, status", [
    (DataError("INSERT …", {}, Exception("value too long for type character varying(200)")), 200),
    (OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")), 503),
])
def test_a_refused_statement_is_answered_a_lost_connection_is_retried(wecom, services, monkeypatch, error, status):
    """A statement the database refuses fails the same way on every retry: the user gets the error
    reply (and the log a traceback). A lost connection gets 503 so that WeCom delivers again."""
    def broken(incoming):
        raise error

    monkeypatch.setattr(services.dispatcher, "handle", broken)
    from tests.helpers import text_xml

    resp = wecom.post_xml(text_xml("zhouli", "帮助", wecom.corp_id))
    assert resp.status_code == status
    if status == 200:
        assert wecom.decrypt_reply(resp)["Content"] == ERROR_TEXT


def test_refused_read_only_command_is_audited_on_a_writing_session(wecom, services, caplog):
    # 我的班组 is a light read-only turn; its refusal's audit row went to the read session and was
    # thrown away (SQLite) with "turn.read_only_wrote" logged as an error on every refusal
    caplog.set_level(logging.INFO, logger="lianxin")
    reply = wecom.say("zhangsan", "我的班组")
    assert "仅对有相应职责的同志开放" in reply
    assert _count(services, AuditEvent, AuditEvent.action == "authz_fail", AuditEvent.via == "我的班组") == 1
    assert not [r for r in caplog.records if r.getMessage() == "turn.read_only_wrote"]
