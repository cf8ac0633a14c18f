"""Bad rosters: every bad-row kind is reported with its row number and the database is unchanged."""
from __future__ import annotations

import pytest

from models.db import session_scope
from tests.org.test_roster import ROWS, T4, T5, T6, C, person, run, snapshot, write_csv

# (kind, the bad row, the expected message); the bad row becomes spreadsheet row 12
BAD = [
    ("unknown role", [T4, "x1", "", "甲", "", "否", "班长大人"], "第12行：未知角色“班长大人”"),
    ("empty user id", [T4, "", "", "乙", "", "否", ""], "第12行：企业微信账号为空"),
    ("duplicate user id", [T5, "zhangsan", "", "张三", "", "否", ""], "第12行：企业微信账号“zhangsan”与第7行重复"),
    ("cycle in units", [f"{C}/浦东基地党总支/{C}/四车间班组", "x2", "", "丙", "", "否", ""],
     "第12行：单位路径出现循环：“技术公司党委”既是第1级又是第3级"),
    ("unit hierarchy conflict", [f"{T4}/新建党支部", "x3", "", "丁", "", "否", ""],
     "第12行：单位层级冲突：班组“四车间班组”下不能是党支部“新建党支部”"),
    ("parent chain conflict", [f"{C}/外航维修党支部/四车间班组", "x8", "", "辛", "", "否", ""],
     "第12行：单位“外航维修党支部”已在“技术公司党委/浦东基地党总支”之下，与本行的上级“技术公司党委”不一致"),
    ("unknown unit in role scope", [T4, "x4", "", "戊", "", "否", f"支部书记@{C}/不存在党支部"],
     f"第12行：角色范围“{C}/不存在党支部”不是已知单位"),
    ("duplicate DingTalk id", [T4, "x5", "dt_zhouli", "己", "", "否", ""], "第12行：钉钉账号“dt_zhouli”与第6行重复"),
    ("unreadable Party flag", [T4, "x6", "", "庚", "", "也许", ""], "第12行：党员一栏“也许”无法识别"),
    ("empty name", [T4, "x7", "", "", "", "否", ""], "第12行：姓名为空"),
]


def bad_file(tmp_path, bad_row):
    rows = [r[:] for r in ROWS]
    for r in rows:
        if r[1] == "zhangsan":
            r[0] = T6                   # a real change that must NOT be applied
    rows.insert(9, [T6, "newcomer", "", "新人", "", "否", ""])   # another one (row 11)
    rows.insert(10, bad_row)                                     # row 12 (header is row 1)
    return write_csv(tmp_path / "bad.csv", rows)


@pytest.mark.parametrize("kind,row,message", BAD, ids=[b[0] for b in BAD])
def test_bad_row_is_reported_with_its_row_number_and_nothing_changes(db_factory, tmp_path, kind, row, message):
    run(db_factory, write_csv(tmp_path / "good.csv", ROWS))
    with session_scope(db_factory) as db:
        before = snapshot(db)
    rep = run(db_factory, bad_file(tmp_path, row))
    assert not rep.applied
    assert [str(e) for e in rep.errors if str(e).startswith("第12行")], rep.summary()
    assert any(str(e).startswith(message) for e in rep.errors), [str(e) for e in rep.errors]
    assert all(e.row == 12 for e in rep.errors), [str(e) for e in rep.errors]
    assert "数据库未改动" in rep.summary()
    with session_scope(db_factory) as db:
        assert snapshot(db) == before


def test_skip_bad_rows_applies_the_rest_and_keeps_the_bad_rows_people(db_factory, tmp_path):
    run(db_factory, write_csv(tmp_path / "good.csv", ROWS))
    rows = [r[:] for r in ROWS]
    for r in rows:
        if r[1] == "zhangsan":
            r[0] = T6
        if r[1] == "lisi":
            r[6] = "舵手"               # bad row for an existing person: skipped, NOT deactivated
    rows.append([T4, "", "", "无账号", "", "否", ""])
    rep = run(db_factory, write_csv(tmp_path / "bad.csv", rows), skip_bad_rows=True)
    assert rep.applied and rep.skipped_rows == [8, 11] and rep.moved == 1 and rep.deactivated == []
    assert "已跳过 2 行" in rep.summary()
    with session_scope(db_factory) as db:
        assert person(db, "zhangsan").unit.full_name == T6
        assert person(db, "lisi").active is True


def test_ambiguous_short_unit_name_in_role_scope_asks_for_full_path(db_factory, tmp_path):
    rows = ROWS + [[T4, "x1", "", "甲", "", "否", ""],
                   [f"{C}/虹桥基地党总支/航线党支部/四车间班组", "x2", "", "乙", "", "否", ""],
                   [T4, "x3", "", "丙", "", "否", "班组长@四车间班组"]]
    rep = run(db_factory, write_csv(tmp_path / "amb.csv", rows))
    assert [str(e) for e in rep.errors] == [
        "第13行：角色范围“四车间班组”有多个同名单位，请写完整路径：" + "、".join(sorted(
            [T4, f"{C}/虹桥基地党总支/航线党支部/四车间班组"]))]
    with session_scope(db_factory) as db:
        assert snapshot(db) == ([], [], [])
