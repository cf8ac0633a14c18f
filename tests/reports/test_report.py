"""`lianxin report --xlsx`: the workbook opened with openpyxl: sheets, headers, frozen rows, numbers."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from bot.cli.main import _load_plugins, cli
from reports.render.excel import SHEETS
from tests.seeded_data import NOW


def _run(services, *args):
    _load_plugins() if "report" not in cli.commands else None
    url = services.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(cli, list(args), env={"LIANXIN_DATABASE__URL": url, "LIANXIN_REDIS__URL": ""},
                              catch_exceptions=False)


def test_report_workbook(seeded, tmp_path):
    path = tmp_path / "report.xlsx"
    result = _run(seeded, "report", "--unit", "技术公司党委", "--quarter", "2026Q4", "--xlsx", str(path),
                  "--as-of", NOW.isoformat())
    assert result.exit_code == 0, result.output
    assert "已导出 技术公司党委 2026Q4" in result.output
    wb = load_workbook(path)
    assert wb.sheetnames[:len(SHEETS)] == SHEETS
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert all(c.font.bold for c in ws[1] if c.value)
        assert ws.column_dimensions["A"].width >= 8
    ov = {r[0]: r[1] for r in wb["概览"].iter_rows(min_row=2, values_only=True)}
    assert ov["单位"] == "技术公司党委" and ov["季度"] == "2026Q4"
    assert (ov["应谈话人数"], ov["已谈话人数"]) == (21, 9)
    assert ov["谈心谈话覆盖率"] == pytest.approx(9 / 21)
    assert wb["概览"]["B7"].number_format == "0.0%"
    assert (ov["预警谈话（关注）"], ov["预警谈话（紧急）"]) == (2, 1)
    assert (ov["学习应学人次"], ov["学习已学人次"]) == (46, 3)
    assert (ov["活跃用户"], ov["在册人数"]) == (3, 32)

    ws = wb["谈话覆盖-支部"]
    assert [c.value for c in ws[1]] == ["支部", "单位全称", "应谈人数", "已谈人数", "未谈人数", "覆盖率"]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [("外航维修党支部", 11, 4, 7), ("附件修理党支部", 10, 5, 5)]
    assert ws["F2"].number_format == "0.0%" and ws["F2"].value == pytest.approx(4 / 11)
    assert ws.column_dimensions["B"].width > ws.column_dimensions["C"].width   # fitted to the long full name

    teams = {r[0]: (r[2], r[3]) for r in wb["谈话覆盖-班组"].iter_rows(min_row=2, values_only=True)}
    assert teams == {"四车间班组": (6, 3), "五车间班组": (5, 1), "部件一班组": (5, 5), "部件二班组": (5, 0)}
    flags = {r[0]: r[1:] for r in wb["预警分类"].iter_rows(min_row=2, values_only=True)}
    assert flags == {"家庭": (0, 1, 1), "健康": (1, 0, 1), "薪酬绩效": (1, 0, 1)}
    trend = [r for r in wb["预警趋势"].iter_rows(min_row=2, values_only=True)]
    assert trend[-2:] == [("2026Q3", 1, 0, 1), ("2026Q4", 2, 1, 3)]
    funnel = list(wb["关爱帮扶-流程"].iter_rows(min_row=2, values_only=True))
    assert funnel == [("上报", 4), ("已处理", 2), ("关爱申请", 2), ("已同意", 1), ("已指派帮扶人", 1), ("已结案", 1)]
    assert (ov["在办个案"], ov["超时个案"]) == (3, 2)
    acts = {r[0]: r[1:6] for r in wb["活动参与"].iter_rows(min_row=2, values_only=True)}
    assert acts == {"外航维修党支部": (2, 5, 4, 3, 14), "附件修理党支部": (0, 1, 1, 1, 13), "合计": (3, 6, 5, 4, 32)}
    kpi = {(r[0], r[1]): (r[2], r[3]) for r in wb["述职评议指标2026"].iter_rows(min_row=2, values_only=True)}
    assert [c.value for c in wb["述职评议指标2026"][1]] == ["支部", "指标", "分子", "分母", "比率", "口径"]
    assert kpi[("外航维修党支部", "谈心谈话覆盖率")][1] == 44
    assert kpi[("外航维修党支部", "关爱帮扶结案率")] == (0, 2)
    assert kpi[("附件修理党支部", "活动参与率")] == (1, 13)
    learning = {r[0]: r[1:4] for r in wb["学习完成"].iter_rows(min_row=2, values_only=True)}
    assert learning == {"外航维修党支部": (28, 3, 2), "附件修理党支部": (13, 2, 1), "合计": (46, 5, 3)}


def test_report_bad_arguments(seeded, tmp_path):
    out = tmp_path / "x.xlsx"
    result = CliRunner().invoke(cli, ["report", "--unit", "不存在", "--quarter", "2026Q4", "--xlsx", str(out)],
                                env={"LIANXIN_DATABASE__URL": seeded.engine.url.render_as_string(hide_password=False)})
    assert result.exit_code != 0 and "没有找到单位" in result.output
    result = _run(seeded, "report", "--unit", "技术公司党委", "--quarter", "2026Q9", "--xlsx", str(out))
    assert result.exit_code != 0 and "季度格式" in result.output
    assert not out.exists()
