"""`lianxin report`: the quarter's statistics of a unit as an Excel workbook (built by reports.render.excel).

This is an operator command (it reads the database directly, like init-db); people without
database access use `统计` in chat or the dashboard, where the access policy applies.
"""
from __future__ import annotations

from datetime import UTC

import click

__all__ = ["register"]


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

        from models.db import make_engine, make_session_factory
        from models.quarters import current_quarter, previous_quarter
        from reports.render.excel import build_workbook

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
