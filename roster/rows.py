"""The rows and the report an import passes between reading, checking, planning and applying (files and platform syncs alike)."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KEEP", "ChangeReport", "RosterError", "RosterRow", "RowError"]

KEEP = object()  # "leave this field as it is" (column absent from the file, or a WeCom sync)


class RosterError(Exception):
    """The file as a whole cannot be read (format, missing columns)."""


@dataclass
class RosterRow:
    row: int                      # spreadsheet row number (header = 1)
    userid: str
    name: str
    unit_path: str
    dingtalk: object = KEEP       # str | None | KEEP
    phone: object = KEEP          # str | None | KEEP
    party: object = KEEP          # bool | KEEP (raw text until validated)
    roles: object = KEEP          # raw text | list[(Role, scope text)] | KEEP (don't touch roles)
    wecom_dept_ids: dict[str, int] = field(default_factory=dict)  # unit full_name → WeCom dept id (sync)
    where: str = ""               # how to name the row in errors instead of "第N行" (sync: "成员 u1")


@dataclass
class RowError:
    row: int
    message: str
    where: str = ""

    def __str__(self) -> str:
        if self.where:
            return f"{self.where}：{self.message}"
        return f"第{self.row}行：{self.message}" if self.row else self.message


@dataclass
class ChangeReport:
    """What an import did (or, for a dry run, would do). `changes` is 0 for a no-op import."""

    dry_run: bool = False
    applied: bool = False
    rows: int = 0
    units_created: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)        # "u1 张三：单位 A → B；手机"
    moved: int = 0
    reactivated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    roles_granted: list[str] = field(default_factory=list)
    roles_revoked: list[str] = field(default_factory=list)
    units_linked: list[str] = field(default_factory=list)    # units that got their WeCom department id
    errors: list[RowError] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return (len(self.units_created) + len(self.created) + len(self.updated) + len(self.deactivated)
                + len(self.roles_granted) + len(self.roles_revoked) + len(self.units_linked))

    def summary(self) -> str:
        head = ("试运行（未写入）" if self.dry_run else "已导入" if self.applied else "未导入（存在错误行，数据库未改动）")
        parts = [f"{head}：共 {self.rows} 行，变更 {self.changes} 项",
                 f"  新建单位 {len(self.units_created)}，新增人员 {len(self.created)}，更新人员 {len(self.updated)}"
                 f"（其中调动 {self.moved}，恢复 {len(self.reactivated)}），停用人员 {len(self.deactivated)}，"
                 f"授予角色 {len(self.roles_granted)}，撤销角色 {len(self.roles_revoked)}"
                 + (f"，关联企业微信部门 {len(self.units_linked)}" if self.units_linked else "")]
        if self.errors:
            skipped = f"（已跳过 {len(self.skipped_rows)} 行）" if self.skipped_rows else ""
            parts.append(f"  错误 {len(self.errors)} 处" + skipped + "：")
            parts += [f"  · {e}" for e in self.errors]
        return "\n".join(parts)

    def details(self, limit: int = 50) -> str:
        out: list[str] = []
        for title, items in (("新建单位", self.units_created), ("新增人员", self.created), ("更新人员", self.updated),
                             ("停用人员", self.deactivated), ("授予角色", self.roles_granted),
                             ("撤销角色", self.roles_revoked), ("关联部门", self.units_linked)):
            if items:
                out.append(f"{title}：")
                out += [f"  + {x}" for x in items[:limit]]
                if len(items) > limit:
                    out.append(f"  …另有 {len(items) - limit} 项")
        return "\n".join(out)
