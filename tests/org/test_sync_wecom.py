"""`sync-wecom`: WeCom departments → units, members → people; faked with `responses` using the
payload shapes of the official docs (department/simplelist path/95406, department/get path/95407,
user/simplelist path/96259; PROTOCOLS.md §3.5)."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import select

from bot.adapters.wecom_api import LianxinWeComClient
from bot.adapters.wecom_contacts import SyncError, fetch_contacts, sync_contacts
from models.db import make_session_factory, session_scope
from models.org import Person, RoleAssignment, Unit

API = "https://qyapi.weixin.qq.com/cgi-bin/"
C, G, B = "技术公司党委", "技术公司党委/浦东基地党总支", "技术公司党委/浦东基地党总支/外航维修党支部"


class FakeContacts:
    """WeCom contacts API double: departments {id: (name, parentid)}, members {userid: (name, [dept ids])}."""

    def __init__(self, rsps):
        self.depts = {1: ("技术公司党委", 0), 2: ("浦东基地党总支", 1), 3: ("外航维修党支部", 2),
                      4: ("四车间班组", 3), 5: ("五车间班组", 3)}
        self.members = {"liqiang": ("李强", [3]), "zhouli": ("周丽", [4]), "zhangsan": ("张三", [4]),
                        "lisi": ("李四", [4, 5]), "wugang": ("吴刚", [5]), "wangwei": ("王伟", [1])}
        self.calls: list[tuple[str, dict]] = []
        self.fail: dict[str, tuple[int, str]] = {}
        rsps.add(responses.GET, API + "gettoken",
                 json={"errcode": 0, "errmsg": "ok", "access_token": "TOKEN", "expires_in": 7200})
        for ep in ("department/simplelist", "department/get", "user/simplelist", "department/list"):
            rsps.add_callback(responses.GET, API + ep, callback=self._handler(ep))

    def _handler(self, ep):
        def cb(request):
            q = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
            self.calls.append((ep, q))
            if ep in self.fail:
                code, msg = self.fail[ep]
                return 200, {}, json.dumps({"errcode": code, "errmsg": msg})
            body = {"errcode": 0, "errmsg": "ok"}
            if ep == "department/simplelist":
                body["department_id"] = [{"id": i, "parentid": p, "order": 100000000 - i}
                                         for i, (_, p) in self.depts.items() if i in self._below(int(q["id"]))]
            elif ep == "department/get":
                name, parent = self.depts[int(q["id"])]
                body["department"] = {"id": int(q["id"]), "name": name, "name_en": "", "department_leader": [],
                                      "parentid": parent, "order": 1}
            elif ep == "department/list":
                body["department"] = [{"id": i, "name": n, "name_en": "", "department_leader": [], "parentid": p,
                                       "order": 1} for i, (n, p) in self.depts.items() if i in self._below(int(q["id"]))]
            elif ep == "user/simplelist":
                d = int(q["department_id"])
                body["userlist"] = [{"userid": u, "name": n, "department": ds, "open_userid": f"o_{u}"}
                                    for u, (n, ds) in self.members.items() if d in ds]
            return 200, {}, json.dumps(body, ensure_ascii=False)
        return cb

    def _below(self, root):
        out, todo = set(), [root]
        while todo:
            d = todo.pop()
            if d in out:
                continue
            out.add(d)
            todo += [i for i, (_, p) in self.depts.items() if p == d]
        return out


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeContacts(rsps)


@pytest.fixture
def client(stack):
    _, redis = stack
    return LianxinWeComClient("ww1436e0e65a779aee", "test-secret-0123456789", 1000002, redis)


@pytest.fixture
def factory(stack):
    return make_session_factory(stack[0])


def sync(factory, client, **kw):
    with session_scope(factory) as db:
        return sync_contacts(db, client, **kw)


def people(factory):
    with session_scope(factory) as db:
        return {p.wecom_userid: (p.name, p.unit.full_name, p.active) for p in db.scalars(select(Person))}


def units(factory):
    with session_scope(factory) as db:
        return {u.full_name: (u.wecom_dept_id, u.kind) for u in db.scalars(select(Unit))}


def test_first_sync_builds_units_and_people_and_second_changes_nothing(api, client, factory):
    rep = sync(factory, client)
    assert rep.applied and not rep.errors and len(rep.created) == 6 and len(rep.units_created) == 5
    assert units(factory) == {C: (1, "committee"), G: (2, "general_branch"), B: (3, "branch"),
                              f"{B}/四车间班组": (4, "team"), f"{B}/五车间班组": (5, "team")}
    assert people(factory)["lisi"] == ("李四", f"{B}/四车间班组", True)     # first listed department
    assert people(factory)["wangwei"] == ("王伟", C, True)
    # recursion by department, no fetch_child: one user/simplelist call per department
    user_calls = [q for ep, q in api.calls if ep == "user/simplelist"]
    assert sorted(int(q["department_id"]) for q in user_calls) == [1, 2, 3, 4, 5]
    assert all("fetch_child" not in q for q in user_calls)
    assert sync(factory, client).changes == 0


def test_changes_in_wecom_move_rename_and_deactivate(api, client, factory):
    sync(factory, client)
    with session_scope(factory) as db:
        team4_id = db.scalars(select(Unit.id).where(Unit.wecom_dept_id == 4)).one()
    api.members["zhangsan"] = ("张三", [5])                   # moved
    del api.members["wugang"]                                  # left
    api.depts[4] = ("四车间一班组", 3)                          # renamed in WeCom
    rep = sync(factory, client)
    assert rep.moved == 1 and [d.split()[0] for d in rep.deactivated] == ["wugang"]
    assert rep.units_created == []
    with session_scope(factory) as db:
        team4 = db.get(Unit, team4_id)
        assert (team4.full_name, team4.name) == (f"{B}/四车间一班组", "四车间一班组")
    ppl = people(factory)
    assert ppl["zhangsan"][1] == f"{B}/五车间班组" and ppl["zhouli"][1] == f"{B}/四车间一班组"
    assert ppl["wugang"][2] is False                            # deactivated, not deleted
    assert sync(factory, client).changes == 0


def test_sync_over_an_imported_roster_links_units_and_keeps_roles(api, client, factory):
    from bot.cli.demo import seed_demo

    with session_scope(factory) as db:
        seed_demo(db)
        before = {(r.person_id, r.role, r.unit_id) for r in db.scalars(select(RoleAssignment))}
    rep = sync(factory, client, full=False)
    assert rep.created == [] and rep.units_created == [] and len(rep.units_linked) == 5
    with session_scope(factory) as db:
        assert {(r.person_id, r.role, r.unit_id) for r in db.scalars(select(RoleAssignment))} == before
        assert db.scalars(select(Person).where(Person.wecom_userid == "liqiang")).one().dingtalk_userid == "dt_liqiang"
    assert sync(factory, client, full=False).changes == 0


def test_falls_back_to_department_list_where_simplelist_is_unavailable(api, client, factory):
    api.fail["department/simplelist"] = (48002, "api forbidden")
    rep = sync(factory, client)
    assert len(rep.created) == 6 and len(rep.units_created) == 5
    assert [ep for ep, _ in api.calls].count("department/list") == 1


def test_dry_run_writes_nothing(api, client, factory):
    rep = sync(factory, client, dry_run=True)
    assert rep.dry_run and len(rep.created) == 6 and units(factory) == {} and people(factory) == {}


def test_api_error_is_reported_and_nothing_changes(api, client, factory):
    api.fail["user/simplelist"] = (60011, "no privilege to access/modify contact/party/agent")
    with pytest.raises(SyncError, match=r"60011.*可见范围"):
        sync(factory, client)
    assert people(factory) == {}


def test_department_cycle_is_reported_and_nothing_changes(api, client, factory):
    contacts = fetch_contacts(client, 1)                       # then two departments point at each other
    contacts.departments.update({6: {"name": "甲部门", "parentid": 7}, 7: {"name": "乙部门", "parentid": 6}})
    contacts.members["x1"] = {"name": "甲", "department": [6]}
    from bot.adapters.wecom_contacts import plan_sync

    with session_scope(factory) as db:
        rep = plan_sync(db, contacts).report
    msgs = [str(e) for e in rep.errors]
    assert any(m.startswith("部门 6：部门上下级出现循环") for m in msgs), msgs
    assert "成员 x1：所在部门不在同步范围内或有错误" in msgs
    assert people(factory) == {}


def test_cli_sync_wecom(api, embedded, monkeypatch):
    from pathlib import Path

    from bot.cli import main as climod

    engine, _ = embedded
    if "sync-wecom" not in climod.cli.commands:
        climod._load_plugins()
    monkeypatch.setenv("LIANXIN_DATABASE__URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("LIANXIN_WECOM__SECRET", "test-secret-0123456789")
    cfg = str(Path(__file__).resolve().parent.parent.parent / "config.yaml")
    res = CliRunner().invoke(climod.cli, ["--config", cfg, "sync-wecom", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "试运行" in res.output and "新增人员 6" in res.output
    res = CliRunner().invoke(climod.cli, ["--config", cfg, "sync-wecom"])
    assert res.exit_code == 0 and "已导入" in res.output, res.output
    res = CliRunner().invoke(climod.cli, ["--config", cfg, "sync-wecom"])
    assert "变更 0 项" in res.output, res.output
