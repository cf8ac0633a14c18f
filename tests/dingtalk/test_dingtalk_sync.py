"""`lianxin sync-dingtalk`: DingTalk departments and members → units and people, with the
contacts API (topapi/v2/department/get, listsub, user/list) faked by `responses`."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from bot.adapters.dingtalk_api import DingTalkClient
from bot.adapters.dingtalk_contacts import fetch_contacts, sync_contacts
from models.org import Person, Unit
from tests.dingtalk_helpers import APP_KEY, APP_SECRET

A = "技术公司党委/浦东基地党总支/外航维修党支部"


def tree(api, extra_team: str = "六车间班组", members: list[dict] | None = None) -> None:
    api.departments = {
        1: [{"dept_id": 10, "name": "浦东基地党总支", "parent_id": 1}],
        10: [{"dept_id": 100, "name": "外航维修党支部", "parent_id": 10}],
        100: [{"dept_id": 1000, "name": "四车间班组", "parent_id": 100},
              {"dept_id": 1001, "name": extra_team, "parent_id": 100}],
    }
    api.users = {1000: [{"userid": "dt_zhouli", "name": "周丽", "dept_id_list": [1000]},
                        {"userid": "ding_zs", "name": "张三", "dept_id_list": [1000]}],
                 1001: members if members is not None else
                 [{"userid": f"ding_new{i}", "name": f"新人{i}", "dept_id_list": [1001]} for i in range(150)]}


@pytest.fixture
def client(services):
    return DingTalkClient(APP_KEY, APP_SECRET, services.redis)


@pytest.fixture
def unlinked_zhangsan(services):
    with services.session_factory() as db:
        db.scalars(select(Person).where(Person.wecom_userid == "zhangsan")).one().dingtalk_userid = None
        db.commit()


def run(services, client, **kw):
    contacts = fetch_contacts(client, 1)
    with services.session_factory() as db:
        report = sync_contacts(db, contacts, **kw)
        if kw.get("dry_run") or report.errors:
            db.rollback()
        else:
            db.commit()
    return report, contacts


def test_sync_links_units_and_people_and_creates_the_rest(services, dt_api, client, unlinked_zhangsan):
    tree(dt_api)
    report, contacts = run(services, client)
    assert report.errors == []
    assert contacts.calls == 1 + 5 + 6  # department/get, listsub per department, user/list (+1 second page)
    assert report.units_linked == ["技术公司党委", "技术公司党委/浦东基地党总支", A, f"{A}/四车间班组"]
    assert report.units_created == [f"{A}/六车间班组"]
    assert report.people_linked == ["张三（ding_zs）"] and len(report.people_created) == 150
    with services.session_factory() as db:
        zs = db.scalars(select(Person).where(Person.wecom_userid == "zhangsan")).one()
        assert zs.dingtalk_userid == "ding_zs"  # one person, both ids
        team = db.scalars(select(Unit).where(Unit.full_name == f"{A}/六车间班组")).one()
        assert team.dingtalk_dept_id == 1001 and team.path.startswith("/")
        new = db.scalars(select(Person).where(Person.dingtalk_userid == "ding_new7")).one()
        assert (new.name, new.unit_id, new.wecom_userid, new.active) == ("新人7", team.id, None, True)
    # people known to WeCom but absent from DingTalk are reported, not deactivated
    assert "李强（dt_liqiang）" in report.not_in_dingtalk and report.people_deactivated == []


def test_second_run_changes_nothing(services, dt_api, client, unlinked_zhangsan):
    tree(dt_api)
    run(services, client)
    report, _ = run(services, client)
    assert report.changes == 0 and report.errors == []


def test_dry_run_writes_nothing(services, dt_api, client):
    tree(dt_api)
    report, _ = run(services, client, dry_run=True)
    assert report.dry_run and len(report.people_created) == 151
    with services.session_factory() as db:
        assert db.scalars(select(Unit).where(Unit.dingtalk_dept_id.is_not(None))).all() == []
        assert db.scalars(select(Person).where(Person.dingtalk_userid == "ding_new0")).first() is None


def test_rename_and_deactivation_of_dingtalk_only_people(services, dt_api, client):
    tree(dt_api, members=[{"userid": "ding_a", "name": "甲", "dept_id_list": [1001]},
                          {"userid": "ding_b", "name": "乙", "dept_id_list": [1001]}])
    run(services, client)
    tree(dt_api, extra_team="六车间一班组", members=[{"userid": "ding_a", "name": "甲二", "dept_id_list": [1001]}])
    report, _ = run(services, client)
    assert report.units_renamed == [f"{A}/六车间班组 → {A}/六车间一班组"]
    assert report.people_updated == ["甲二（ding_a）：姓名 甲 → 甲二"]
    assert report.people_deactivated == ["乙（ding_b）"]
    with services.session_factory() as db:
        assert db.scalars(select(Person).where(Person.dingtalk_userid == "ding_b")).one().active is False
        assert db.scalars(select(Unit).where(Unit.dingtalk_dept_id == 1001)).one().name == "六车间一班组"
    report, _ = run(services, client, full=False)  # partial: nobody deactivated, nothing else changes
    assert report.changes == 0


def test_a_broken_tree_changes_nothing(services, dt_api, client):
    tree(dt_api)
    dt_api.departments[100].append({"dept_id": 1002, "name": "孤儿", "parent_id": 999})
    dt_api.departments[1002] = []
    report, _ = run(services, client)
    assert report.errors and "999" in report.errors[0]
    with services.session_factory() as db:
        assert db.scalars(select(Unit).where(Unit.dingtalk_dept_id.is_not(None))).all() == []


def test_cli_dry_run(services, dt_api, tmp_path, embedded):
    import models
    from bot.cli.main import _load_plugins, cli
    from models.db import make_engine

    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(db_url)
    models.Base.metadata.create_all(engine)
    engine.dispose()
    cfg = yaml.safe_load(open(services.config.source, encoding="utf-8")) if services.config.source.endswith(
        ".yaml") else {}
    cfg.setdefault("database", {})["url"] = db_url
    cfg["dingtalk"].update({"enabled": True, "app_key": APP_KEY, "app_secret": APP_SECRET})
    cfg["redis"]["url"] = ""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    tree(dt_api, members=[])
    _load_plugins()
    result = CliRunner().invoke(cli, ["--config", str(path), "sync-dingtalk", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "试运行" in result.output and "新建单位 5" in result.output and "新增人员 2" in result.output
