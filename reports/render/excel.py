"""The quarter's report of a unit as an Excel workbook (openpyxl): one sheet per topic, rates as real percentages.

One sheet per topic, a bold frozen header row, column widths fitted to the (Chinese) text, rates
as real numbers formatted as percentages so they can be summed and charted in Excel. The numbers
come from reports.queries, the same queries as the chat summary and the dashboard.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from models.base import DEFAULT_TZ
from models.org import Unit
from models.quarters import quarter_days, recent_quarters
from models.talk import FLAG_LABELS, Flag

from ..queries.kpi import kpi, kpi_by_branch
from ..queries.learning import learning_completion
from ..queries.summary import WorkFigures, scope_summary
from ..queries.talks import coverage, flag_trend
from .cells import safe_row
from .labels import KPI_LABELS, age_rows, category_label, funnel_rows, kpi_definition, state_rows

__all__ = ["PCT", "SHEETS", "add_sheet", "build_workbook", "workbook_bytes"]

SHEETS = ["概览", "谈话覆盖-支部", "谈话覆盖-班组", "预警分类", "预警趋势", "学习完成", "活跃用户"]
PCT = "0.0%"


def _width(value: Any) -> int:
    text = "" if value is None else (f"{value:.1%}" if isinstance(value, float) else str(value))
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def add_sheet(wb, title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]],
              pct_columns: Sequence[int] = ()) -> Any:
    """A sheet with a bold frozen header row, fitted widths and percentage columns (0-based)."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    ws.append(safe_row(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F2DCDB")
        cell.alignment = Alignment(horizontal="center")
    widths = [_width(h) for h in headers]
    for row in rows:
        ws.append(safe_row(row))
        for i, v in enumerate(row):
            widths[i] = max(widths[i], _width(v))
    for col in pct_columns:
        for (cell,) in ws.iter_rows(min_row=2, min_col=col + 1, max_col=col + 1):
            cell.number_format = PCT
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(w + 2, 8), 60)
    ws.freeze_panes = "A2"
    return ws


def _work_overview(work: WorkFigures) -> list[tuple[str, Any, str | None]]:
    act = work.activities
    return [("本季度新增个案", work.funnel[0].cases, None), ("在办个案", work.open, None), ("超时个案", work.overdue, None),
            ("本季度举办活动", act.held, None), ("活动签到人次", act.attended, None),
            ("活动参与人数", act.participants, None), ("活动参与率", act.rate, "pct")]


def _work_sheets(wb, work: WorkFigures) -> None:
    act = work.activities
    add_sheet(wb, "关爱帮扶-流程", ["环节", "个案数"], funnel_rows(work.funnel))
    add_sheet(wb, "关爱帮扶-状态", ["状态", "个案数"], state_rows(work.states))
    add_sheet(wb, "关爱帮扶-在办时长", ["已开启时长", "个案数"], age_rows(work.ages))
    add_sheet(wb, "活动参与", ["单位", "举办活动", "报名人次", "签到人次", "参与人数", "在册人数", "参与率"],
              [(r.name, r.held, r.signups, r.attended, r.participants, r.people, r.rate) for r in work.activity_rows]
              + [("合计", act.held, act.signups, act.attended, act.participants, act.people, act.rate)], [6])


def build_workbook(db, unit: Unit, quarter: str, tz: str = DEFAULT_TZ, *, now=None, config=None, with_kpi: bool = True):
    """The workbook for `unit`'s subtree and `quarter` (sheets in SHEETS order, then cases, activities and,
    `with_kpi` — the reader may see the secretaries' review (kpi.view) —, the KPI sheet)."""
    from openpyxl import Workbook

    now = now or datetime.now(UTC)
    wb = Workbook()
    if wb.active is not None:   # the default empty sheet
        wb.remove(wb.active)
    summary = scope_summary(db, unit, quarter, tz, now=now, config=config)
    team_rows = coverage(db, unit, quarter, "team")
    branch_rows = coverage(db, unit, quarter, "branch")
    learning_total, learning_rows = learning_completion(db, unit, quarter, "branch", tz)
    trend = flag_trend(db, unit, recent_quarters(quarter, 4))
    first, last = quarter_days(quarter, tz)
    cov = summary.coverage

    overview = [
        ("单位", unit.full_name, None),
        ("季度", quarter, None),
        ("统计区间", f"{first} 至 {last}", None),
        ("应谈话人数", cov.members, None),
        ("已谈话人数", cov.talked, None),
        ("谈心谈话覆盖率", cov.rate, "pct"),
        ("预警谈话（关注）", sum(v.get(Flag.WATCH.value, 0) for v in summary.flags.values()), None),
        ("预警谈话（紧急）", sum(v.get(Flag.URGENT.value, 0) for v in summary.flags.values()), None),
        ("学习应学人次", learning_total.assigned, None),
        ("学习已学人次", learning_total.studied, None),
        ("学习完成率", learning_total.rate, "pct"),
        ("活跃用户", summary.active[0], None),
        ("在册人数", summary.active[1], None),
        ("活跃率", summary.active[0] / summary.active[1] if summary.active[1] else 0.0, "pct"),
    ] + _work_overview(summary.work)
    ws = add_sheet(wb, "概览", ["指标", "数值"], [(k, v) for k, v, _ in overview])
    for i, (_k, _v, fmt) in enumerate(overview, 2):
        if fmt == "pct":
            ws.cell(row=i, column=2).number_format = PCT

    add_sheet(wb, "谈话覆盖-支部", ["支部", "单位全称", "应谈人数", "已谈人数", "未谈人数", "覆盖率"],
              [(r.name, r.full_name, r.members, r.talked, r.missing, r.rate) for r in branch_rows], pct_columns=[5])
    add_sheet(wb, "谈话覆盖-班组", ["班组", "单位全称", "应谈人数", "已谈人数", "未谈人数", "覆盖率"],
              [(r.name, r.full_name, r.members, r.talked, r.missing, r.rate) for r in team_rows], pct_columns=[5])
    add_sheet(wb, "预警分类", ["类别", FLAG_LABELS[Flag.WATCH], FLAG_LABELS[Flag.URGENT], "合计"],
              [(category_label(c), v.get("watch", 0), v.get("urgent", 0), sum(v.values()))
               for c, v in sorted(summary.flags.items())])
    add_sheet(wb, "预警趋势", ["季度", FLAG_LABELS[Flag.WATCH], FLAG_LABELS[Flag.URGENT], "合计"],
              [(q, v["watch"], v["urgent"], v["watch"] + v["urgent"]) for q, v in trend.items()])
    add_sheet(wb, "学习完成", ["支部", "应学人次", "已打开人次", "已学完人次", "完成率"],
              [(r.name, r.assigned, r.opened, r.studied, r.rate) for r in learning_rows]
              + [("合计", learning_total.assigned, learning_total.opened, learning_total.studied, learning_total.rate)],
              pct_columns=[4])
    add_sheet(wb, "活跃用户", ["单位", "活跃用户", "在册人数", "活跃率"],
              [(unit.full_name, summary.active[0], summary.active[1],
                summary.active[0] / summary.active[1] if summary.active[1] else 0.0)], pct_columns=[3])
    _work_sheets(wb, summary.work)
    if not with_kpi:
        return wb
    year = int(quarter[:4])
    per_branch = ([(unit, kpi(db, unit, year, now, config))] if unit.kind == "branch"
                  else kpi_by_branch(db, unit, year, now, config))
    add_sheet(wb, f"述职评议指标{year}", ["支部", "指标", "分子", "分母", "比率", "口径"],
              [(b.name, KPI_LABELS[i.key], i.numerator, i.denominator, i.rate if i.rate is not None else "—",
                kpi_definition(i.key, config)) for b, inds in per_branch for i in inds], pct_columns=[4])
    return wb


def workbook_bytes(wb: Any) -> bytes:
    """The .xlsx file of `wb` (for a file message)."""
    from io import BytesIO

    out = BytesIO()
    wb.save(out)
    return out.getvalue()
