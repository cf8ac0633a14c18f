"""`lianxin export-signups N FILE.xlsx`: an activity's confirmed and waitlisted people to Excel."""
from __future__ import annotations

import click

__all__ = ["export_signups_xlsx", "register"]

HEADERS = ("序号", "姓名", "单位", "状态", "报名时间", "签到", "企业微信账号")


def export_signups_xlsx(db, activity_id: int, path: str, tz: str) -> tuple[int, int]:
    """Write the roster; returns (confirmed, waitlisted). Raises LookupError for a missing activity."""
    from zoneinfo import ZoneInfo

    from openpyxl import Workbook

    from handlers.activities import service
    from models.activity import Activity
    from reports.render.cells import safe_row

    act = db.get(Activity, activity_id)
    if act is None:
        raise LookupError(activity_id)
    confirmed, waitlisted = service.roster(db, act)
    came = service.attended_ids(db, act)
    wb = Workbook()
    ws = wb.active
    ws.title = "报名名单"[:31]
    ws.append(safe_row(HEADERS))
    for n, s in enumerate(confirmed + waitlisted, 1):
        state = "已报名" if s in confirmed else f"候补{n - len(confirmed)}"
        ws.append(safe_row((n, s.person.name, s.person.unit.full_name if s.person.unit else "", state,
                   s.created_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S"),
                   "是" if s.person_id in came else "", s.person.wecom_userid or "")))
    for col, width in zip("ABCDEFG", (6, 10, 40, 10, 20, 6, 16), strict=False):
        ws.column_dimensions[col].width = width
    info = wb.create_sheet("活动")
    starts = act.starts_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    for row in (("编号", act.id), ("名称", act.title), ("开始", starts),
                ("地点", act.place), ("名额", "不限" if act.seats is None else act.seats),
                ("范围", act.audience_unit.full_name), ("状态", act.status)):
        info.append(safe_row(row))
    wb.save(path)
    return len(confirmed), len(waitlisted)


def register(cli: click.Group) -> None:
    if "export-signups" in cli.commands:
        return

    @cli.command("export-signups")
    @click.argument("activity_id", type=int)
    @click.argument("file", type=click.Path(dir_okay=False, writable=True))
    @click.pass_obj
    def export_signups(obj, activity_id: int, file: str) -> None:
        """Export activity ACTIVITY_ID's sign-ups (confirmed, then waitlist) to FILE.xlsx."""
        from models.db import make_engine, make_session_factory

        config = obj.config
        engine = make_engine(config.database_url)
        try:
            with make_session_factory(engine)() as db:
                confirmed, waitlisted = export_signups_xlsx(db, activity_id, file, config.timezone)
        except LookupError:
            raise click.ClickException(f"没有编号为 {activity_id} 的活动") from None
        finally:
            engine.dispose()
        click.echo(f"已导出活动 {activity_id}：已报名 {confirmed} 人，候补 {waitlisted} 人 → {file}")
