"""我的班组 is a cached view shared by the workers (bot.views): built once per roster and talks version for
everyone whose covering roles are the same, and rebuilt after any talk save or roster change, on every worker."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event, select

from models.db import make_engine, make_session_factory, session_scope
from models.org import Person
from tests.workers import Worker


@contextmanager
def talk_reads(worker: Worker):
    """The statements on this worker's engine that read talks (what building the view costs)."""
    seen: list[str] = []

    def listener(conn, cur, statement, *args):
        if "FROM talk" in statement:
            seen.append(statement)

    event.listen(worker.services.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(worker.services.engine, "before_cursor_execute", listener)


def test_a_view_built_on_one_worker_is_served_by_the_other_without_reading_talks(workers):
    a, b = workers
    built = a.say("zhouli", "我的班组")
    assert "四车间班组" in built and "张三" in built
    with talk_reads(b) as reads:
        assert b.say("zhouli", "我的班组") == built
    assert reads == []


def test_leaders_of_one_team_share_the_view_and_other_scopes_get_their_own(workers):
    a, b = workers
    assert "已授权" in a.confirmed("admin", "授权 孙七 班组长 四车间班组")
    mine = a.say("zhouli", "我的班组")
    with talk_reads(b) as reads:
        assert b.say("sunqi", "我的班组") == mine                  # the same team, led by both
    assert reads == []
    other_team = b.say("wugang", "我的班组")
    assert "五车间班组" in other_team and "四车间班组" not in other_team and "郑毅" in other_team
    secretary = b.say("liqiang", "我的班组")                          # a branch secretary: both teams, who is missing
    assert "四车间班组" in secretary and "五车间班组" in secretary and secretary != mine


def test_a_talk_saved_on_one_worker_refreshes_the_view_on_both(workers):
    a, b = workers
    before = b.say("zhouli", "我的班组")
    assert "✗ 张三  " in before
    assert "确认" in a.say("zhouli", "谈话 张三 季度 稳定 聊了工作和家庭")
    a.say("zhouli", "保存")
    for w in (b, a):
        after = w.say("zhouli", "我的班组")
        assert "✓ 张三  " in after and "✗ 张三  " not in after


def test_a_roster_change_written_by_another_process_refreshes_the_view_on_both(workers):
    a, b = workers
    assert "王五" in a.say("zhouli", "我的班组") and "王五" in b.say("zhouli", "我的班组")
    engine = make_engine(a.services.engine.url.render_as_string(hide_password=False))
    from bot.identity import watch_roster
    watch_roster(engine, a.services.redis)                           # an import or sync on its own engine
    try:
        with session_scope(make_session_factory(engine)) as db:
            db.scalars(select(Person).where(Person.wecom_userid == "wangwu")).one().name = "王五一"
    finally:
        engine.dispose()
    for w in (a, b):
        assert "王五一" in w.say("zhouli", "我的班组")


def test_the_view_is_answered_when_redis_cannot_store_it(workers, monkeypatch):
    import redis

    a, _b = workers

    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("down")

    monkeypatch.setattr(a.services.dispatcher.views, "r", type("Down", (), {"get": down, "set": down})())
    assert "四车间班组" in a.say("zhouli", "我的班组")
