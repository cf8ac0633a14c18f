"""统计 / stats: the caller's scope summary as text, plus a one-time dashboard login link.

Scope: a branch secretary sees the branch, a committee member the committee subtree (the
widest unit the person holds secretary/committee on). `统计 2026Q3` picks another quarter,
`统计 附件修理党支部` a unit inside the scope. Numbers come from reports.queries (the same
queries as the dashboard and the Excel report), text from reports.render.chat.
"""
from __future__ import annotations

import re

from sqlalchemy import or_, select

from bot.context import Context
from bot.router import Router
from models.enums import Role
from models.org import Person, Unit
from models.policy import can, scopes
from models.quarters import current_quarter
from reports.queries.kpi import kpi, kpi_by_branch
from reports.queries.summary import scope_summary
from reports.render.chat import kpi_text, summary_text

router = Router("stats")

QUARTER_RE = re.compile(r"^(\d{4})\s*[Qq]\s*([1-4])$")


def _allowed(ctx: Context) -> bool:
    return can(ctx.person, "stats.view")


def stats_scope(person: Person) -> Unit | None:
    """The widest unit `person` may see statistics of (committee beats secretary)."""
    units = scopes(person, Role.COMMITTEE, Role.SECRETARY)
    units = [u for u in units if u.path]
    return min(units, key=lambda u: (u.path.count("/"), u.path)) if units else None


def _unit_named(ctx: Context, word: str, usage: str) -> Unit | None:
    """The active unit called `word` (short or full name); tells the user when there is none."""
    found = ctx.db.scalars(select(Unit).where(or_(Unit.name == word, Unit.full_name == word),
                                              Unit.active.is_(True)).order_by(Unit.path)).first()
    if found is None:
        ctx.reply(f"没有找到单位“{word}”。用法：{usage}")
    return found


def _unit_and_quarter(ctx: Context, args: str, usage: str) -> tuple[Unit, str] | None:
    """`[2026Q3] [单位名]` → the unit (default: the caller's widest scope) and quarter, policy checked."""
    unit = stats_scope(ctx.me)
    quarter = current_quarter(ctx.now(), ctx.config.timezone)
    for word in args.split():
        m = QUARTER_RE.match(word)
        if m:
            quarter = f"{m.group(1)}Q{m.group(2)}"
            continue
        unit = _unit_named(ctx, word, usage)
        if unit is None:
            return None
    if unit is None or not ctx.require("stats.view", unit, what="抱歉，您无权查看该单位的统计。"):
        return None
    return unit, quarter


@router.command("统计", "stats", help="本支部/本单位的统计和看板链接", usage="统计 [2026Q3] [单位名]", allowed=_allowed)
def stats(ctx: Context, args: str) -> None:
    from bot.dashboard_login import login_link

    found = _unit_and_quarter(ctx, args, "统计 [2026Q3] [单位名]")
    if found is None:
        return
    unit, quarter = found
    summary = scope_summary(ctx.db, unit, quarter, ctx.config.timezone, now=ctx.now(), config=ctx.config)
    ctx.audit("read", "stats", unit.id, detail=quarter)
    link = login_link(ctx.config, ctx.me.id, unit_id=unit.id, quarter=quarter)
    ttl = ctx.config.get("security.login_link_ttl_seconds", int)
    excel = f"需要 Excel 报表时，发送“导出统计{' ' + args.strip() if args.strip() else ''}”。"
    ctx.reply(summary_text(summary) + f"\n{excel}\n\n数据看板（{ttl // 60} 分钟内有效，仅可使用一次）：\n{link}")


@router.command("导出统计", "export-stats", help="本单位的季度统计导出为 Excel 文件", usage="导出统计 [2026Q3] [单位名]",
                allowed=_allowed)
def export_stats(ctx: Context, args: str) -> None:
    """The quarter's report workbook (the same sheets as the dashboard's numbers) as a file message;
    the 述职评议 sheet only for readers who may see it (kpi.view)."""
    from bot.files import file_name
    from reports.render.excel import build_workbook, workbook_bytes

    found = _unit_and_quarter(ctx, args, "导出统计 [2026Q3] [单位名]")
    if found is None:
        return
    unit, quarter = found
    wb = build_workbook(ctx.db, unit, quarter, ctx.config.timezone, now=ctx.now(), config=ctx.config,
                        with_kpi=can(ctx.person, "kpi.view", unit))
    on_its_way = ctx.send_file(file_name("统计", unit.name, quarter), workbook_bytes(wb))
    ctx.audit("export", "stats", unit.id, detail=quarter)
    ctx.reply(f"已生成{unit.name} {quarter} 的统计报表（{len(wb.sheetnames)} 个工作表）。" + on_its_way)


def _kpi_allowed(ctx: Context) -> bool:
    return can(ctx.person, "kpi.view")


@router.command("述职评议", "kpi", help="各支部书记述职评议指标（党委）",
                usage="述职评议 [年份] [单位名]；述职评议 口径：各项指标的计算方法", allowed=_kpi_allowed)
def kpi_command(ctx: Context, args: str) -> None:
    """The review indicators of every branch in the committee's subtree (or of one unit) for a year."""
    if args.strip() in ("口径", "说明", "定义"):
        from reports.render.labels import KPI_LABELS, kpi_definition

        ctx.reply("述职评议指标口径：\n" + "\n".join(f"· {label}：{kpi_definition(key, ctx.config)}"
                                                    for key, label in KPI_LABELS.items()))
        return
    unit = stats_scope(ctx.me)
    year = ctx.local_now().year
    for word in args.split():
        if word.isascii() and word.isdigit() and len(word) == 4:
            year = int(word)
            continue
        unit = _unit_named(ctx, word, "述职评议 [年份] [单位名]")
        if unit is None:
            return
    if unit is None or not ctx.require("kpi.view", unit, what="抱歉，您无权查看该单位的述职评议指标。"):
        return
    rows = ([(unit, kpi(ctx.db, unit, year, ctx.now(), ctx.config))] if unit.kind == "branch"
            else kpi_by_branch(ctx.db, unit, year, ctx.now(), ctx.config))
    ctx.audit("read", "kpi", unit.id, detail=str(year))
    ctx.reply(kpi_text(unit.name, year, rows))
