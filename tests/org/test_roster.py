"""Roster import: idempotence, moves, deactivation, dry run, Excel, CLI (SQLite and PostgreSQL)."""
from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from models.db import make_session_factory, session_scope
from models.enums import Role
from models.org import Person, RoleAssignment, Unit
from roster.apply import import_roster

HEADER = ["单位", "企业微信账号", "钉钉账号", "姓名", "手机", "党员", "角色"]
C = "技术公司党委"
G = f"{C}/浦东基地党总支"
B = f"{G}/外航维修党支部"
T4 = f"{B}/四车间班组"
T5 = f"{B}/五车间班组"
B2 = f"{G}/附件修理党支部"
T6 = f"{B2}/部件一班组"

ROWS = [
    [C, "admin", "", "系统管理员", "", "否", "管理员"],
    [C, "wangwei", "dt_wangwei", "王伟", "13900000001", "是", "党委委员"],
    [B, "liqiang", "dt_liqiang", "李强", "", "是", "支部书记"],
    [B2, "chenjing", "", "陈静", "", "是", "支部书记"],
    [T4, "zhouli", "dt_zhouli", "周丽", "", "是", "班组长"],
    [T4, "zhangsan", "", "张三", "13900000002", "否", ""],
    [T4, "lisi", "", "李四", "", "是", ""],
    [T5, "wugang", "", "吴刚", "", "否", f"班组长;支部书记@{B2}"],
    [T6, "hanmei", "", "韩梅", "", "是", "team_leader"],
]


def write_csv(path, rows, header=HEADER, encoding="utf-8-sig"):
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def snapshot(db):
    units = db.execute(select(Unit.full_name, Unit.kind, Unit.path, Unit.parent_id).order_by(Unit.id)).all()
    people = db.execute(select(Person.wecom_userid, Person.dingtalk_userid, Person.name, Person.phone, Person.unit_id,
                               Person.is_party_member, Person.active).order_by(Person.id)).all()
    roles = db.execute(select(RoleAssignment.person_id, RoleAssignment.role, RoleAssignment.unit_id)
                       .order_by(RoleAssignment.id)).all()
    return units, people, roles


def run(factory, path, **kw):
    with session_scope(factory) as db:
        return import_roster(db, path, **kw)


def person(db, userid) -> Person:
    return db.scalars(select(Person).where(Person.wecom_userid == userid)).one()


def roles_of(p: Person) -> set[tuple[str, str]]:
    return {(r.role, r.unit.full_name) for r in p.roles}


def test_import_builds_tree_people_and_roles_and_reimport_changes_nothing(db_factory, tmp_path):
    f = write_csv(tmp_path / "r.csv", ROWS)
    first = run(db_factory, f)
    assert first.applied and not first.errors
    assert len(first.created) == 9 and len(first.units_created) == 7 and len(first.roles_granted) == 8
    with session_scope(db_factory) as db:
        units = {u.full_name: u for u in db.scalars(select(Unit))}
        assert {fn: u.kind for fn, u in units.items()} == {
            C: "committee", G: "general_branch", B: "branch", B2: "branch",
            T4: "team", T5: "team", T6: "team"}
        assert units[T4].path == f"/{units[C].id}/{units[G].id}/{units[B].id}/{units[T4].id}/"
        assert units[T4].parent_id == units[B].id
        zs = person(db, "zhangsan")
        assert (zs.name, zs.unit.full_name, zs.phone, zs.is_party_member, zs.active) == ("张三", T4, "13900000002", False, True)
        assert zs.name_pinyin.startswith("zhangsan")
        assert person(db, "wangwei").dingtalk_userid == "dt_wangwei"
        assert roles_of(person(db, "wugang")) == {("team_leader", T5), ("secretary", B2)}
        assert roles_of(person(db, "liqiang")) == {("secretary", B)}
        before = snapshot(db)
    again = run(db_factory, f)
    assert again.changes == 0 and not again.errors, again.details()
    with session_scope(db_factory) as db:
        assert snapshot(db) == before


def test_changed_file_moves_updates_and_deactivates_without_deleting(db_factory, tmp_path):
    run(db_factory, write_csv(tmp_path / "r.csv", ROWS))
    changed = [r[:] for r in ROWS if r[1] != "lisi"]                     # lisi left the company
    for r in changed:
        if r[1] == "zhangsan":
            r[0], r[3], r[5] = T6, "张叁", "是"                           # moved, renamed, joined the Party
        if r[1] == "zhouli":
            r[6] = ""                                                     # no longer team leader
        if r[1] == "hanmei":
            r[6] = "班组长;党委委员@技术公司党委"
    rep = run(db_factory, write_csv(tmp_path / "r2.csv", changed))
    assert rep.moved == 1 and [d.split()[0] for d in rep.deactivated] == ["lisi"]
    assert len(rep.roles_revoked) == 1 and len(rep.roles_granted) == 1
    with session_scope(db_factory) as db:
        zs = person(db, "zhangsan")
        assert (zs.unit.full_name, zs.name, zs.is_party_member) == (T6, "张叁", True)
        lisi = person(db, "lisi")                                         # still there, inactive
        assert lisi.active is False and lisi.deactivated_at is not None
        assert roles_of(person(db, "zhouli")) == set()
        assert roles_of(person(db, "hanmei")) == {("team_leader", T6), ("committee", C)}
    assert run(db_factory, write_csv(tmp_path / "r2.csv", changed)).changes == 0
    # lisi comes back: reactivated, same person row
    rep = run(db_factory, write_csv(tmp_path / "r3.csv", ROWS))
    assert [x.split()[0] for x in rep.reactivated] == ["lisi"]
    with session_scope(db_factory) as db:
        assert person(db, "lisi").active is True


def test_partial_import_only_touches_listed_people(db_factory, tmp_path):
    run(db_factory, write_csv(tmp_path / "r.csv", ROWS))
    rep = run(db_factory, write_csv(tmp_path / "p.csv", [[T5, "newbie", "", "新人", "", "否", ""]]), full=False)
    assert len(rep.created) == 1 and rep.deactivated == []
    with session_scope(db_factory) as db:
        assert db.scalar(select(Person).where(Person.active.is_(False))) is None


def test_dry_run_reports_changes_and_writes_nothing(db_factory, tmp_path):
    f = write_csv(tmp_path / "r.csv", ROWS)
    rep = run(db_factory, f, dry_run=True)
    assert rep.dry_run and not rep.applied and len(rep.created) == 9 and len(rep.units_created) == 7
    assert "试运行" in rep.summary() and "zhangsan 张三" in rep.details()
    with session_scope(db_factory) as db:
        assert snapshot(db) == ([], [], [])


def test_chat_granted_role_survives_reimport(db_factory, tmp_path):
    f = write_csv(tmp_path / "r.csv", ROWS)
    run(db_factory, f)
    with session_scope(db_factory) as db:
        zs, t4 = person(db, "zhangsan"), db.scalars(select(Unit).where(Unit.full_name == T4)).one()
        db.add(RoleAssignment(person_id=zs.id, role=Role.TEAM_LEADER.value, unit_id=t4.id, source="chat"))
    assert run(db_factory, f).changes == 0
    with session_scope(db_factory) as db:
        assert roles_of(person(db, "zhangsan")) == {("team_leader", T4)}


def test_xlsx_and_gbk_csv_are_read(db_factory, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in ROWS:
        ws.append(r[:4] + [int(r[4]) if r[4] else None] + r[5:])   # Excel keeps phones as numbers
    wb.save(tmp_path / "r.xlsx")
    assert len(run(db_factory, tmp_path / "r.xlsx").created) == 9
    with session_scope(db_factory) as db:
        assert person(db, "zhangsan").phone == "13900000002"
    gbk = write_csv(tmp_path / "gbk.csv", ROWS, encoding="gb18030")
    assert run(db_factory, gbk).changes == 0                         # same content, other encoding


def test_role_scope_by_unique_unit_name_and_english_headers(db_factory, tmp_path):
    rows = [[T4, "a1", "", "甲", "", "否", "secretary@外航维修党支部"]] + [r for r in ROWS if r[1] != "a1"]
    header = ["unit", "userid", "dingtalk", "name", "phone", "party", "roles"]
    rep = run(db_factory, write_csv(tmp_path / "e.csv", rows, header=header))
    assert not rep.errors
    with session_scope(db_factory) as db:
        assert roles_of(person(db, "a1")) == {("secretary", B)}


def test_missing_required_column_is_a_clear_error(tmp_path):
    from roster.read import read_roster
    from roster.rows import RosterError

    with pytest.raises(RosterError, match="企业微信账号"):
        read_roster(write_csv(tmp_path / "x.csv", [[T4, "张三"]], header=["单位", "姓名"]))


# --- CLI ------------------------------------------------------------------------------------------

@pytest.fixture
def cli_env(embedded, tmp_path, monkeypatch):
    from pathlib import Path

    from bot.cli import main as climod

    engine, _ = embedded
    monkeypatch.setenv("LIANXIN_DATABASE__URL", engine.url.render_as_string(hide_password=False))
    cfg = Path(__file__).resolve().parent.parent.parent / "config.yaml"

    climod._load_plugins() if "import-roster" not in climod.cli.commands else None
    return climod.cli, str(cfg), make_session_factory(engine)


def test_cli_import_roster_dry_run_then_real_then_bad_file(cli_env, tmp_path):
    cli, cfg, factory = cli_env
    runner = CliRunner()
    f = write_csv(tmp_path / "r.csv", ROWS)
    res = runner.invoke(cli, ["--config", cfg, "import-roster", str(f), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "试运行" in res.output and "新增人员 9" in res.output
    with session_scope(factory) as db:
        assert snapshot(db)[1] == []
    res = runner.invoke(cli, ["--config", cfg, "import-roster", str(f)])
    assert res.exit_code == 0 and "已导入" in res.output and "变更 24 项" in res.output, res.output
    res = runner.invoke(cli, ["--config", cfg, "import-roster", str(f)])
    assert "变更 0 项" in res.output
    bad = write_csv(tmp_path / "bad.csv", ROWS + [[T4, "", "", "无名", "", "否", ""]])
    res = runner.invoke(cli, ["--config", cfg, "import-roster", str(bad)])
    assert res.exit_code == 1 and "第11行：企业微信账号为空" in res.output and "数据库未改动" in res.output


def test_columns_missing_from_the_file_are_left_alone(db_factory, tmp_path):
    run(db_factory, write_csv(tmp_path / "r.csv", ROWS))
    slim = [[r[0], r[1], r[3]] for r in ROWS]                 # only 单位, 账号, 姓名
    rep = run(db_factory, write_csv(tmp_path / "slim.csv", slim, header=["单位", "企业微信账号", "姓名"]))
    assert rep.changes == 0, rep.details()
    with session_scope(db_factory) as db:
        ww = person(db, "wangwei")
        assert (ww.dingtalk_userid, ww.phone, ww.is_party_member) == ("dt_wangwei", "13900000001", True)
        assert roles_of(ww) == {("committee", C)}
