"""An activity's sign-up and attendance list as an Excel workbook (chat export and `lianxin export-signups`).

The rows come from the caller (the activities service reads them); this module only lays them
out: confirmed then waitlisted, in sign-up order, with unit and account so that two people of
the same name stay apart, and when and how each person checked in.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from zoneinfo import ZoneInfo

from models.activity import STATUS_LABELS, Activity, ActivityStatus, Attendance, Signup

from .cells import safe_row
from .excel import add_sheet

__all__ = ["HEADERS", "signups_workbook_bytes"]

HEADERS = ("序号", "姓名", "单位", "状态", "报名时间", "签到", "签到时间", "企业微信账号")
METHODS = {"code": "签到码", "organiser": "组织者代签"}


def _local(at: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return at.astimezone(tz).strftime(fmt) if at is not None else ""


def signups_workbook_bytes(act: Activity, confirmed: Sequence[Signup], waitlisted: Sequence[Signup],
                           came: dict[int, Attendance], tz: str) -> bytes:
    """The .xlsx file: sheet 报名名单 (one row per person) and sheet 活动 (what, when, where, seats)."""
    from openpyxl import Workbook

    zone = ZoneInfo(tz)
    wb = Workbook()
    wb.remove(wb.worksheets[0])
    rows = []
    for n, s in enumerate([*confirmed, *waitlisted], 1):
        state = "已报名" if n <= len(confirmed) else f"候补{n - len(confirmed)}"
        check = came.get(s.person_id)
        rows.append((n, s.person.name, s.person.unit.full_name if s.person.unit else "", state,
                     _local(s.created_at, zone), METHODS.get(check.method, "是") if check else "",
                     _local(check.checked_in_at, zone) if check else "", s.person.wecom_userid or ""))
    add_sheet(wb, "报名名单", HEADERS, rows)
    info = wb.create_sheet("活动")
    for row in (("编号", act.id), ("名称", act.title), ("开始", _local(act.starts_at, zone, "%Y-%m-%d %H:%M")),
                ("地点", act.place or "待定"), ("名额", "不限" if act.seats is None else act.seats),
                ("范围", act.audience_unit.full_name), ("状态", STATUS_LABELS[ActivityStatus(act.status)]),
                ("已报名", len(confirmed)), ("候补", len(waitlisted)), ("已签到", len(came))):
        info.append(safe_row(row))
    info.column_dimensions["A"].width = 10
    info.column_dimensions["B"].width = 40
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
