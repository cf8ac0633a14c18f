"""Roster files (CSV in UTF-8 or GB18030, Excel .xlsx) → RosterRows with spreadsheet row numbers, so errors point at a row."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from .rows import KEEP, RosterError, RosterRow

__all__ = ["COLUMNS", "read_roster", "rows_from_table"]

COLUMNS: dict[str, tuple[str, ...]] = {
    "unit": ("单位", "单位路径", "所在单位", "组织", "部门", "unit", "unit path", "unit_path", "path"),
    "userid": ("企业微信账号", "企业微信id", "企业微信userid", "账号", "userid", "user id", "user_id", "wecom_userid", "wecom"),
    "dingtalk": ("钉钉账号", "钉钉id", "钉钉userid", "dingtalk", "dingtalk id", "dingtalk_userid"),
    "name": ("姓名", "name"),
    "phone": ("手机", "手机号", "电话", "phone", "mobile"),
    "party": ("党员", "是否党员", "政治面貌", "party", "party member", "party_member"),
    "roles": ("角色", "职责", "roles", "role"),
}
REQUIRED = ("unit", "userid", "name")


def _norm_header(h: object) -> str:
    return str(h or "").strip().lower().replace("（", "(").split("(")[0].strip()


def _map_header(header: list[object]) -> dict[str, int]:
    lookup = {alias.lower(): key for key, aliases in COLUMNS.items() for alias in aliases}
    mapping: dict[str, int] = {}
    for i, h in enumerate(header):
        key = lookup.get(_norm_header(h))
        if key and key not in mapping:
            mapping[key] = i
    missing = [COLUMNS[k][0] for k in REQUIRED if k not in mapping]
    if missing:
        raise RosterError("表头缺少必需的列：" + "、".join(missing)
                          + "（需要：单位、企业微信账号、姓名；可选：钉钉账号、手机、党员、角色）")
    return mapping


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def rows_from_table(table: Iterable[Sequence[object]]) -> list[RosterRow]:
    """Header + data rows (lists of cells) → RosterRows; blank lines are skipped."""
    it = iter(table)
    try:
        header = list(next(it))
    except StopIteration:
        raise RosterError("文件是空的") from None
    m = _map_header(header)
    out: list[RosterRow] = []
    for n, raw in enumerate(it, start=2):
        cells = [_cell(c) for c in raw]
        if not any(cells):
            continue

        def get(k: str, cells: list[str] = cells) -> str:
            return cells[m[k]] if k in m and m[k] < len(cells) else ""

        out.append(RosterRow(
            row=n, userid=get("userid"), name=get("name"), unit_path=get("unit"),
            dingtalk=(get("dingtalk") or None) if "dingtalk" in m else KEEP,
            phone=(get("phone") or None) if "phone" in m else KEEP,
            party=get("party") if "party" in m else KEEP,
            roles=get("roles") if "roles" in m else KEEP,
        ))
    return out


def read_roster(path: str | Path) -> list[RosterRow]:
    """Read a .csv (UTF-8 with or without BOM, or GB18030 as saved by Excel) or .xlsx roster."""
    path = Path(path)
    if not path.exists():
        raise RosterError(f"找不到文件：{path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises several kinds for damaged files
            raise RosterError(f"无法读取 Excel 文件：{type(exc).__name__}") from None
        try:
            return rows_from_table(wb.worksheets[0].iter_rows(values_only=True))
        finally:
            wb.close()
    if suffix in (".csv", ".txt"):
        data = path.read_bytes()
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:  # pragma: no cover - gb18030 decodes almost anything
            raise RosterError("无法识别文件编码（请保存为 UTF-8 或 GBK 的 CSV）")
        return rows_from_table(csv.reader(io.StringIO(text)))
    raise RosterError(f"不支持的文件类型 {suffix or '（无扩展名）'}：请使用 .csv 或 .xlsx")
