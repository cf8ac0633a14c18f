"""The sender comes from each worker's cache (bot.identity); authorization still follows every roster change
at the very next turn, on every worker. Two app instances share the database and Redis here, each with its
own engine and its own cache, as two gunicorn workers (or hosts) do."""
from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select, update

from bot.adapters.simulator import sim_incoming
from bot.cli.demo import BRANCH_A
from bot.dispatcher import UNKNOWN_USER_TEXT
from bot.identity import ROSTER_VERSION_KEY
from models.db import make_engine, make_session_factory, session_scope
from models.org import Person, Unit
from tests.workers import Worker

DENIED = "仅对有相应职责的同志开放"


def _loads(services) -> list[str]:
    """Record the statements that load senders: one by its platform id, or the worker's roster snapshot
    (bot.roster_snapshot: every active person, once per roster version at most every 30 s)."""
    from sqlalchemy import event

    seen: list[str] = []
    event.listen(services.engine, "before_cursor_execute",
                 lambda conn, cur, st, *a: seen.append(st) if "JOIN role_assignment" in st else None)
    return seen


def test_a_revoked_role_is_refused_at_the_very_next_turn_on_every_worker(workers):
    a, b = workers
    assert "已授权" in a.confirmed("admin", "授权 张三 班组长 四车间班组")
    for w in (a, b):
        assert "李四（" in w.say("zhangsan", "通讯录 李四")       # both caches hold the leader
        assert "四车间班组" in w.say("zhangsan", "我的班组")       # a light turn (no lock, no transaction)
    assert "已撤销" in b.confirmed("admin", "撤销 张三 班组长")
    for w in (a, b):
        assert DENIED in w.say("zhangsan", "通讯录 李四")
        assert DENIED in w.say("zhangsan", "我的班组")
    assert "已授权" in b.confirmed("admin", "授权 张三 班组长 四车间班组")
    assert "李四（" in a.say("zhangsan", "通讯录 李四")           # and back, without a restart


def test_deactivation_rename_and_move_written_by_another_process_reach_every_worker(workers, services):
    a, b = workers
    assert "张三" in a.say("zhangsan", "我的信息") and "张三" in b.say("zhangsan", "我的信息")
    # another program on its own engine (an import, a sync): the watcher on that engine tells the workers
    with session_scope(make_session_factory(b.services.engine)) as db:
        db.execute(update(Unit).where(Unit.name == "四车间班组").values(full_name=f"{BRANCH_A}/四车间甲班组"))
    assert "四车间甲班组" in a.say("zhangsan", "我的信息")
    with session_scope(make_session_factory(b.services.engine)) as db:
        db.scalars(select(Person).where(Person.wecom_userid == "zhangsan")).one().active = False
    assert a.say("zhangsan", "我的信息") == UNKNOWN_USER_TEXT
    assert b.say("zhangsan", "帮助") == UNKNOWN_USER_TEXT


def test_a_turn_reads_the_sender_once_per_roster_version(services, sim):
    loads = _loads(services)
    for text in ("帮助", "我的信息", "帮助", "谈话", "取消"):
        sim.say("zhouli", text)
    assert len(loads) == 1                                          # the snapshot, then served from it
    version = services.redis.get(ROSTER_VERSION_KEY)
    with session_scope(services.session_factory) as db:             # any roster write replaces the version
        db.scalars(select(Person).where(Person.wecom_userid == "lisi")).one().phone = "13900000009"
    assert services.redis.get(ROSTER_VERSION_KEY) != version
    sim.say("zhouli", "帮助")
    assert len(loads) == 2 and "person.wecom_userid =" in loads[-1]   # the sender alone (a snapshot is < 30 s old)
    services.redis.flushdb()                                        # Redis lost its memory: a new version
    sim.say("zhouli", "帮助")
    assert len(loads) == 3


def test_a_read_that_writes_nothing_leaves_the_version_alone(services, sim):
    sim.say("zhouli", "帮助")
    version = services.redis.get(ROSTER_VERSION_KEY)
    sim.say("zhouli", "通讯录 张三")
    sim.say("lisi", "谈话")
    sim.say("lisi", "取消")
    assert services.redis.get(ROSTER_VERSION_KEY) == version


def test_roster_import_from_the_command_line_reaches_a_running_worker(pg_url, real_redis, redis_db, clock,
                                                                      tmp_path, monkeypatch):
    """`lianxin import-roster` is another process with its own engine; the running app learns at once."""
    import models
    from bot.cli import main as climod
    from bot.cli.demo import seed_demo
    from bot.cli.wiring import build_services
    from tests.conftest import REDIS_HOST, make_config, truncate_all

    engine = make_engine(pg_url)
    models.Base.metadata.create_all(engine)
    truncate_all(engine)
    try:
        config = make_config(pg_url)
        app = Worker(build_services(config, redis_client=real_redis, clock=clock, engine=engine))
        with session_scope(make_session_factory(engine)) as db:
            seed_demo(db)
        assert "四车间班组" in app.say("zhangsan", "我的信息")
        roster = tmp_path / "move.csv"
        with open(roster, "w", newline="", encoding="utf-8-sig") as fh:
            csv.writer(fh).writerows([["单位", "企业微信账号", "姓名"], [f"{BRANCH_A}/五车间班组", "zhangsan", "张三"]])
        monkeypatch.setenv("LIANXIN_DATABASE__URL", pg_url)
        monkeypatch.setenv("LIANXIN_REDIS__URL", f"redis://{REDIS_HOST}:6379/{redis_db}")
        climod._load_plugins() if "import-roster" not in climod.cli.commands else None
        cfg = str(Path(__file__).resolve().parent.parent.parent / "config.yaml")
        res = CliRunner().invoke(climod.cli, ["--config", cfg, "import-roster", str(roster), "--partial"])
        assert res.exit_code == 0 and "已导入" in res.output, res.output
        assert "五车间班组" in app.say("zhangsan", "我的信息")
    finally:
        engine.dispose()


def test_my_team_is_a_cached_view_that_a_new_talk_refreshes_on_every_worker(workers, services):
    a, b = workers
    before = a.say("zhouli", "我的班组")
    assert before == a.say("zhouli", "我的班组") == b.say("zhouli", "我的班组")
    loads: list[str] = []
    from sqlalchemy import event
    listener = lambda conn, cur, st, *x: loads.append(st) if "talk" in st else None  # noqa: E731
    event.listen(services.engine, "before_cursor_execute", listener)
    try:
        a.say("zhouli", "我的班组")
        assert loads == []                                  # served from the worker's cache
    finally:
        event.remove(services.engine, "before_cursor_execute", listener)
    assert "确认" in b.say("zhouli", "谈话 张三 季度 稳定 聊了工作和家庭")
    services.dispatcher.handle(sim_incoming("zhouli", text="保存"))
    b.services.dispatcher.handle(sim_incoming("zhouli", text="保存"))
    after = a.say("zhouli", "我的班组")
    assert after != before and after == b.say("zhouli", "我的班组")


def test_the_core_sender_load_builds_what_the_orm_load_would(services):
    """bot.identity.load_sender (one Core statement, objects built by hand) against person_for (the ORM)."""
    from bot.identity import load_sender, person_for
    from models.db import read_session_factory

    def snapshot(p):
        cols = lambda o: {k: getattr(o, k) for k in o.__table__.c.keys()}  # noqa: E731
        return (cols(p), p.unit and cols(p.unit),
                sorted((cols(r), cols(r.unit), r.person is p) for r in p.roles) if p.roles else [])

    with session_scope(services.session_factory) as db:
        db.scalars(select(Person).where(Person.wecom_userid == "sunqi")).one().wecom_userid = "SunQi"
        db.scalars(select(Person).where(Person.wecom_userid == "wangwu")).one().active = False
    rsf = read_session_factory(services.engine)
    with rsf() as db:
        conn = db.connection()
        people = db.scalars(select(Person).where(Person.wecom_userid.is_not(None))).all()
        assert len(people) > 25
        for p in people:
            uid = p.wecom_userid.lower()
            built = load_sender(conn, "wecom", uid)
            loaded = person_for(db, "wecom", uid)
            assert (built is None) == (loaded is None) == (uid == "wangwu"), uid
            if built is not None:
                assert snapshot(built) == snapshot(loaded)
        assert load_sender(conn, "dingtalk", "dt_liqiang").name == "李强"
        assert load_sender(conn, "wecom", "nobody") is None
