"""`lianxin report`: the quarter's statistics of a unit as an Excel workbook (openpyxl).

One sheet per topic, a bold frozen header row, column widths fitted to the (Chinese) text, rates
as real numbers formatted as percentages so they can be summed and charted in Excel. The
numbers come from models.stats, the same queries as the chat summary and the dashboard.
This is an operator command (it reads the database directly, like init-db); people without
database access use `统计` in chat or the dashboard, where the access policy applies.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

import click

__all__ = ["SHEETS", "build_workbook", "register"]

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
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F2DCDB")
        cell.alignment = Alignment(horizontal="center")
    widths = [_width(h) for h in headers]
    for row in rows:
        ws.append(list(row))
        for i, v in enumerate(row):
            widths[i] = max(widths[i], _width(v))
    for col in pct_columns:
        for (cell,) in ws.iter_rows(min_row=2, min_col=col + 1, max_col=col + 1):
            cell.number_format = PCT
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(w + 2, 8), 60)
    ws.freeze_panes = "A2"
    return ws


def build_workbook(db, unit, quarter: str, tz: str = "Asia/Shanghai", *, now=None, config=None):
    """The workbook for `unit`'s subtree and `quarter` (sheets in SHEETS order, plus cases/activities when present)."""
    from datetime import datetime

    from openpyxl import Workbook

    from models import stats
    from models.talk import CATEGORY_LABELS, FLAG_LABELS, Category, Flag

    now = now or datetime.now(UTC)
    wb = Workbook()
    wb.remove(wb.active)
    summary = stats.scope_summary(db, unit, quarter, tz, now=now, config=config)
    team_rows = stats.coverage(db, unit, quarter, "team")
    branch_rows = stats.coverage(db, unit, quarter, "branch")
    learning_total, learning_rows = stats.learning_completion(db, unit, quarter, "branch")
    trend = stats.flag_trend(db, unit, stats.recent_quarters(quarter, 4))
    first, last = stats.quarter_days(quarter, tz)
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
    ]
    for label, value, fmt in summary.extra.get("overview", []):
        overview.append((label, value, fmt))
    ws = add_sheet(wb, "概览", ["指标", "数值"], [(k, v) for k, v, _ in overview])
    for i, (_k, _v, fmt) in enumerate(overview, 2):
        if fmt == "pct":
            ws.cell(row=i, column=2).number_format = PCT

    add_sheet(wb, "谈话覆盖-支部", ["支部", "单位全称", "应谈人数", "已谈人数", "未谈人数", "覆盖率"],
              [(r.name, r.full_name, r.members, r.talked, r.missing, r.rate) for r in branch_rows], pct_columns=[5])
    add_sheet(wb, "谈话覆盖-班组", ["班组", "单位全称", "应谈人数", "已谈人数", "未谈人数", "覆盖率"],
              [(r.name, r.full_name, r.members, r.talked, r.missing, r.rate) for r in team_rows], pct_columns=[5])

    def cat_label(c: str) -> str:
        try:
            return CATEGORY_LABELS[Category(c)]
        except ValueError:
            return c

    add_sheet(wb, "预警分类", ["类别", FLAG_LABELS[Flag.WATCH], FLAG_LABELS[Flag.URGENT], "合计"],
              [(cat_label(c), v.get("watch", 0), v.get("urgent", 0), sum(v.values()))
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
    for title, headers, rows, pct in summary.extra.get("sheets", []):
        add_sheet(wb, title, headers, rows, pct_columns=pct)
    year = int(quarter[:4])
    if unit.kind == "branch":
        per_branch = [(unit, stats.kpi(db, unit, year, now, config))]
    else:
        per_branch = stats.kpi_by_branch(db, unit, year, now, config)
    add_sheet(wb, f"述职评议指标{year}", ["支部", "指标", "分子", "分母", "比率", "口径"],
              [(b.name, i.label, i.numerator, i.denominator, i.rate if i.rate is not None else "—", i.definition)
               for b, inds in per_branch for i in inds], pct_columns=[4])
    return wb


def find_unit_arg(db, value: str):
    from sqlalchemy import or_, select

    from models.org import Unit

    value = value.strip().strip("/")
    conds = [Unit.full_name == value, Unit.name == value]
    if value.isdigit():
        conds.append(Unit.id == int(value))
    found = db.scalars(select(Unit).where(or_(*conds)).order_by(Unit.path)).all()
    return found


def register(cli: click.Group) -> None:
    @cli.command("report")
    @click.option("--unit", "unit_name", required=True, help="单位全称、名称或编号，例如 技术公司党委")
    @click.option("--quarter", default=None, help="季度，例如 2026Q4（默认本季度）")
    @click.option("--xlsx", "xlsx_path", required=True, type=click.Path(dir_okay=False, writable=True),
                  help="输出的 Excel 文件")
    @click.option("--as-of", "as_of", default=None,
                  help="judge SLAs and held activities as of this moment (ISO 8601, default now), for reproducible reports")
    @click.pass_obj
    def report(obj, unit_name: str, quarter: str | None, xlsx_path: str, as_of: str | None) -> None:
        """Export a unit's quarterly statistics to an Excel workbook."""
        from datetime import datetime

        from models.coverage import current_quarter, previous_quarter
        from models.db import make_engine, make_session_factory

        config = obj.config
        quarter = (quarter or current_quarter(tz=config.timezone)).upper()
        try:
            previous_quarter(quarter)
        except ValueError:
            raise click.BadParameter(f"季度格式应为 2026Q4，收到 {quarter!r}", param_hint="--quarter") from None
        now = None
        if as_of:
            try:
                now = datetime.fromisoformat(as_of)
            except ValueError:
                raise click.BadParameter(f"时间格式应为 2026-11-20T10:00:00+08:00，收到 {as_of!r}",
                                         param_hint="--as-of") from None
            now = now if now.tzinfo else now.replace(tzinfo=UTC)
        engine = make_engine(config.database_url)
        with make_session_factory(engine)() as db:
            units = find_unit_arg(db, unit_name)
            if not units:
                raise click.BadParameter(f"没有找到单位 {unit_name!r}", param_hint="--unit")
            if len(units) > 1:
                names = "、".join(u.full_name for u in units[:5])
                raise click.BadParameter(f"单位 {unit_name!r} 有多个匹配：{names}，请写全称", param_hint="--unit")
            wb = build_workbook(db, units[0], quarter, config.timezone, now=now, config=config)
        wb.save(xlsx_path)
        click.echo(f"已导出 {units[0].full_name} {quarter} 统计到 {xlsx_path}（{len(wb.sheetnames)} 个工作表）")
