"""Roster import: a CSV/Excel file (or the WeCom contacts) → units, people and roles.

Two phases, so that a dry run and a file with bad rows change nothing:

1. `read_roster(path)` parses the file into `RosterRow`s (row numbers as in the spreadsheet: the
   header is row 1) and `plan_people(db, rows, ...)` validates every row against the file and the
   database and computes every change without writing anything → `ChangeReport` (+ a private plan).
2. `apply_plan(db, plan)` writes the changes with bulk Core statements in the caller's transaction.

`import_roster(db, path, dry_run=, skip_bad_rows=, full=)` does both. Rules:
- Idempotent: the same file twice → the second run reports 0 changes.
- People are keyed by their WeCom user id; changed rows update them (name, unit = move, phone,
  DingTalk id, Party membership); people absent from a *full* import are deactivated, never deleted.
- Roles listed in a row replace that person's roster roles; roles granted in chat (source "chat")
  are never revoked by an import.
- Any bad row → nothing changes (unless skip_bad_rows: bad rows are skipped and reported, and the
  people on them are left as they are, never deactivated).

Roles column syntax: items separated by ";" (also "；", ",", "，", "、"); each item is a role name,
optionally followed by "@" and the scope unit: `班组长;支部书记@技术公司党委/浦东基地党总支/外航维修党支部`.
Without "@" the scope is the person's own unit. The scope is a full unit path, or a unit name that
is unique among the units of the file and the database. Role names: 班组长 / 支部书记 / 党委委员 /
管理员, or team_leader / secretary / committee / admin.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from .directory import pinyin_key
from .enums import ROLE_LABELS, Role, UnitKind
from .org import Person, RoleAssignment, Unit
from .orgtree import kind_for_name

__all__ = [
    "KEEP",
    "ROLE_NAMES",
    "ChangeReport",
    "RosterError",
    "RosterRow",
    "RowError",
    "apply_plan",
    "import_roster",
    "parse_roles",
    "plan_people",
    "read_roster",
]

KEEP = object()  # "leave this field as it is" (column absent from the file, or a WeCom sync)


class RosterError(Exception):
    """The file as a whole cannot be read (format, missing columns)."""


ROLE_NAMES: dict[str, Role] = {
    "班组长": Role.TEAM_LEADER, "组长": Role.TEAM_LEADER, "team_leader": Role.TEAM_LEADER, "leader": Role.TEAM_LEADER,
    "支部书记": Role.SECRETARY, "书记": Role.SECRETARY, "secretary": Role.SECRETARY,
    "党委委员": Role.COMMITTEE, "委员": Role.COMMITTEE, "committee": Role.COMMITTEE,
    "管理员": Role.ADMIN, "admin": Role.ADMIN,
}
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
TRUE_WORDS = {"是", "y", "yes", "true", "1", "党员", "中共党员", "预备党员", "√", "x"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "群众", "", "非党员"}
KIND_RANK = {UnitKind.COMMITTEE: 0, UnitKind.GENERAL_BRANCH: 1, UnitKind.BRANCH: 2, UnitKind.TEAM: 3}
ROLE_SPLIT = re.compile(r"[;；,，、]")


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
            parts.append(f"  错误 {len(self.errors)} 处" + (f"（已跳过 {len(self.skipped_rows)} 行）" if self.skipped_rows else "") + "：")
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


# --- reading files ----------------------------------------------------------------------------

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


def rows_from_table(table: Iterable[list[object]]) -> list[RosterRow]:
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
        get = lambda k: cells[m[k]] if k in m and m[k] < len(cells) else ""  # noqa: E731
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


# --- validation helpers -----------------------------------------------------------------------

def split_path(path: str) -> list[str]:
    return [p.strip() for p in path.replace("／", "/").strip().strip("/").split("/") if p.strip()]


def parse_roles(text: str) -> tuple[list[tuple[Role, str]], list[str]]:
    """"班组长;支部书记@A/B" → ([(TEAM_LEADER, ""), (SECRETARY, "A/B")], errors)."""
    roles: list[tuple[Role, str]] = []
    errors: list[str] = []
    for item in ROLE_SPLIT.split(text or ""):
        item = item.strip()
        if not item:
            continue
        name, _, scope = item.partition("@")
        role = ROLE_NAMES.get(name.strip()) or ROLE_NAMES.get(name.strip().lower())
        if role is None:
            errors.append(f"未知角色“{name.strip()}”（可用：班组长、支部书记、党委委员、管理员）")
            continue
        roles.append((role, "/".join(split_path(scope)) if scope.strip() else ""))
    return roles, errors


def _path_errors(parts: list[str], strict_kinds: bool = True) -> list[str]:
    errs: list[str] = []
    if not strict_kinds:
        return errs
    seen: dict[str, int] = {}
    for i, name in enumerate(parts):
        if name in seen:
            errs.append(f"单位路径出现循环：“{name}”既是第{seen[name] + 1}级又是第{i + 1}级")
            return errs
        seen[name] = i
    kinds = [kind_for_name(name, depth) for depth, name in enumerate(parts)]
    for depth in range(1, len(parts)):
        parent, child = kinds[depth - 1], kinds[depth]
        if KIND_RANK[child] <= KIND_RANK[parent] and not (parent == child == UnitKind.COMMITTEE):
            errs.append(f"单位层级冲突：{_kind_label(parent)}“{parts[depth - 1]}”下不能是"
                        f"{_kind_label(child)}“{parts[depth]}”")
            break
    return errs


def _kind_label(kind: UnitKind) -> str:
    from .enums import UNIT_KIND_LABELS

    return UNIT_KIND_LABELS[kind]


def _party(value: object) -> bool | None:
    v = str(value).strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    return None


# --- planning ---------------------------------------------------------------------------------

@dataclass
class _Plan:
    report: ChangeReport
    new_units: list[tuple[str, str, str]] = field(default_factory=list)   # (full_name, name, kind) parent-first
    unit_links: list[tuple[str, int]] = field(default_factory=list)        # (full_name, wecom dept id)
    inserts: list[dict] = field(default_factory=list)                      # person rows; unit by full_name
    updates: list[dict] = field(default_factory=list)
    deactivate: list[int] = field(default_factory=list)
    grants: list[tuple[str, str, str]] = field(default_factory=list)       # (userid, role, unit full_name)
    revokes: list[int] = field(default_factory=list)                       # role_assignment ids
    renames: list[tuple[str, str]] = field(default_factory=list)           # unit full_name old → new
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    source: str = "roster"


def _renamed(full_name: str, renames: list[tuple[str, str]]) -> str:
    for old, new in renames:
        if full_name == old or full_name.startswith(old + "/"):
            full_name = new + full_name[len(old):]
    return full_name


def plan_people(db: Session, rows: list[RosterRow], *, full: bool = True, skip_bad_rows: bool = False,
                dry_run: bool = False, source: str = "roster", strict_kinds: bool = True,
                renames: list[tuple[str, str]] | None = None, errors: list[RowError] | None = None,
                extra_units: dict[str, int] | None = None) -> _Plan:
    """Validate the rows and compute every change; writes nothing.

    strict_kinds: reject unit paths that repeat a name (a cycle) or whose kinds (by name suffix)
    break committee → general branch → branch → team (a roster is checked; WeCom department trees
    are free-form and checked by id). renames: units renamed at the source (sync), applied before
    anything else. errors: problems found before the rows. extra_units: full_name → WeCom dept id
    of units to create/link even without people.
    """
    report = ChangeReport(dry_run=dry_run, rows=len(rows))
    plan = _Plan(report, source=source, renames=list(renames or []))
    bad: dict[int, list[str]] = {}
    where: dict[int, str] = {}

    def err(row: RosterRow, msg: str) -> None:
        bad.setdefault(row.row, []).append(msg)
        where[row.row] = row.where

    # existing state, read once with Core (fast for 12,000 people)
    units = {_renamed(full_name, plan.renames): (uid, kind)
             for uid, full_name, kind in db.execute(select(Unit.id, Unit.full_name, Unit.kind))}
    for old, new in plan.renames:
        report.units_linked.append(f"{old} 更名为 {new}")
    unit_name_of = {uid: fn for fn, (uid, _) in units.items()}
    unit_dept = {_renamed(fn, plan.renames): d for fn, d in db.execute(select(Unit.full_name, Unit.wecom_dept_id))}
    pcols = (Person.id, Person.wecom_userid, Person.dingtalk_userid, Person.name, Person.phone, Person.unit_id,
             Person.is_party_member, Person.active)
    people = {r.wecom_userid: r for r in db.execute(select(*pcols)) if r.wecom_userid}
    by_dingtalk = {r.dingtalk_userid: r.wecom_userid
                   for r in db.execute(select(Person.dingtalk_userid, Person.wecom_userid)) if r.dingtalk_userid}
    role_rows: dict[int, list[tuple[int, str, int, str]]] = {}
    for rid, pid, role, unit_id, src in db.execute(select(RoleAssignment.id, RoleAssignment.person_id,
                                                          RoleAssignment.role, RoleAssignment.unit_id,
                                                          RoleAssignment.source)):
        role_rows.setdefault(pid, []).append((rid, role, unit_id, src))

    # pass 1: per-row checks, duplicates, unit paths
    first_row: dict[str, int] = {}
    first_dt: dict[str, tuple[int, str]] = {}
    file_units: dict[str, str] = {}   # full_name → kind, from rows whose path is valid
    for r in rows:
        r.userid, r.name = r.userid.strip(), r.name.strip()
        if not r.userid:
            err(r, "企业微信账号为空")
        elif r.userid in first_row:
            err(r, f"企业微信账号“{r.userid}”与第{first_row[r.userid]}行重复")
        else:
            first_row[r.userid] = r.row
        if not r.name:
            err(r, "姓名为空")
        parts = split_path(r.unit_path)
        if not parts:
            err(r, "单位为空")
        else:
            perrs = _path_errors(parts, strict_kinds)
            for e in perrs:
                err(r, e)
            if not perrs:
                r.unit_path = "/".join(parts)
                for depth in range(len(parts)):
                    file_units.setdefault("/".join(parts[: depth + 1]), kind_for_name(parts[depth], depth).value)
        if r.party is not KEEP:
            value = _party(r.party)
            if value is None:
                err(r, f"党员一栏“{r.party}”无法识别（填 是/否）")
            else:
                r.party = value
        if r.dingtalk is not KEEP and r.dingtalk:
            if r.dingtalk in first_dt and first_dt[r.dingtalk][1] != r.userid:
                err(r, f"钉钉账号“{r.dingtalk}”与第{first_dt[r.dingtalk][0]}行重复")
            else:
                first_dt.setdefault(r.dingtalk, (r.row, r.userid))
        if r.roles is not KEEP:
            roles, rerrs = parse_roles(str(r.roles))
            for e in rerrs:
                err(r, e)
            r.roles = roles

    # pass 1b: a Party organisation (committee below the root, general branch, branch) is one unit;
    # the same name under another parent chain is a conflict (a missing or extra level, or a move
    # that an import cannot do), not a second unit. Teams may share names across branches.
    if strict_kinds:
        home: dict[str, str] = {}
        for fn in list(units) + list(file_units):      # existing units win, then first use in the file
            name = fn.rsplit("/", 1)[-1]
            if "/" in fn and kind_for_name(name, fn.count("/")) != UnitKind.TEAM:
                home.setdefault(name, fn)
        for r in rows:
            if r.row in bad or not r.unit_path:
                continue
            parts = r.unit_path.split("/")
            for depth in range(1, len(parts)):
                fn = "/".join(parts[: depth + 1])
                other = home.get(parts[depth])
                if other is not None and other != fn:
                    err(r, f"单位“{parts[depth]}”已在“{other.rsplit('/', 1)[0]}”之下，与本行的上级“"
                        f"{'/'.join(parts[:depth])}”不一致（上级链冲突）")
                    break

    # pass 2: role scopes (full path or a unique unit name), DingTalk ids held by people not in the file
    known = set(units) | set(file_units)
    by_last: dict[str, list[str]] = {}
    for fn in known:
        by_last.setdefault(fn.rsplit("/", 1)[-1], []).append(fn)
    file_dt_users = {r.userid for r in rows}
    for r in rows:
        if r.row in bad:
            continue
        if isinstance(r.roles, list):
            resolved = []
            for role, scope in r.roles:
                if not scope:
                    resolved.append((role, r.unit_path))
                elif scope in known:
                    resolved.append((role, scope))
                elif "/" not in scope and len(by_last.get(scope, [])) == 1:
                    resolved.append((role, by_last[scope][0]))
                elif "/" not in scope and len(by_last.get(scope, [])) > 1:
                    err(r, f"角色范围“{scope}”有多个同名单位，请写完整路径："
                        + "、".join(sorted(by_last[scope])[:3]))
                else:
                    err(r, f"角色范围“{scope}”不是已知单位（{ROLE_LABELS[role]}）")
            r.roles = resolved
        if r.dingtalk is not KEEP and r.dingtalk:
            holder = by_dingtalk.get(r.dingtalk)
            if holder and holder != r.userid and holder not in file_dt_users:
                err(r, f"钉钉账号“{r.dingtalk}”已属于其他人员（{holder}）")

    report.errors.extend(errors or [])
    for row_no in sorted(bad):
        for msg in bad[row_no]:
            report.errors.append(RowError(row_no, msg, where[row_no]))
    if report.errors and not skip_bad_rows:
        return plan
    report.skipped_rows = sorted(bad)
    good = [r for r in rows if r.row not in bad]

    # units to create (only those used by good rows, or named as a role scope by them), parent-first
    needed: set[str] = set()
    for fn in extra_units or {}:
        parts = fn.split("/")
        needed.update("/".join(parts[: d + 1]) for d in range(len(parts)))
    for r in good:
        paths = [r.unit_path] + ([s for _, s in r.roles] if isinstance(r.roles, list) else [])
        for p in paths:
            parts = p.split("/")
            needed.update("/".join(parts[: d + 1]) for d in range(len(parts)))
    for fn in sorted(needed - set(units), key=lambda x: (x.count("/"), x)):
        parts = fn.split("/")
        plan.new_units.append((fn, parts[-1], kind_for_name(parts[-1], len(parts) - 1).value))
        report.units_created.append(fn)
    links = {fn: dept for r in good for fn, dept in r.wecom_dept_ids.items()}
    links.update(extra_units or {})
    for fn, dept in sorted(links.items()):
        if unit_dept.get(fn) != dept:
            plan.unit_links.append((fn, dept))
            report.units_linked.append(f"{fn} ← 部门{dept}")

    # people
    seen_ids: set[str] = {r.userid for r in rows if r.userid}
    for r in good:
        cur = people.get(r.userid)
        if cur is None:
            plan.inserts.append({
                "wecom_userid": r.userid, "name": r.name, "name_pinyin": pinyin_key(r.name), "unit": r.unit_path,
                "dingtalk_userid": None if r.dingtalk is KEEP else r.dingtalk,
                "phone": None if r.phone is KEEP else r.phone,
                "is_party_member": False if r.party is KEEP else r.party, "active": True,
            })
            report.created.append(f"{r.userid} {r.name}（{r.unit_path}）")
        else:
            changes: dict[str, object] = {}
            notes: list[str] = []
            if cur.name != r.name:
                changes["name"], changes["name_pinyin"] = r.name, pinyin_key(r.name)
                notes.append(f"姓名 {cur.name} → {r.name}")
            if unit_name_of.get(cur.unit_id) != r.unit_path:
                changes["unit"] = r.unit_path
                notes.append(f"调动 {unit_name_of.get(cur.unit_id, '（无）')} → {r.unit_path}")
                report.moved += 1
            if r.phone is not KEEP and (cur.phone or None) != r.phone:
                changes["phone"] = r.phone
                notes.append("手机")
            if r.dingtalk is not KEEP and (cur.dingtalk_userid or None) != r.dingtalk:
                changes["dingtalk_userid"] = r.dingtalk
                notes.append(f"钉钉账号 {cur.dingtalk_userid or '（无）'} → {r.dingtalk or '（无）'}")
            if r.party is not KEEP and bool(cur.is_party_member) != r.party:
                changes["is_party_member"] = r.party
                notes.append("党员" if r.party else "取消党员")
            if not cur.active:
                changes["active"], changes["deactivated_at"] = True, None
                notes.append("恢复启用")
                report.reactivated.append(f"{r.userid} {r.name}")
            if changes:
                changes["id"] = cur.id
                plan.updates.append(changes)
                report.updated.append(f"{r.userid} {r.name}：" + "；".join(notes))
        # roles
        if isinstance(r.roles, list):
            want = {(str(role), scope) for role, scope in r.roles}
            have = role_rows.get(cur.id, []) if cur is not None else []
            have_keys = {(role, unit_name_of.get(unit_id)) for _, role, unit_id, _ in have}
            for role, scope in sorted(want - have_keys):
                plan.grants.append((r.userid, role, scope))
                report.roles_granted.append(f"{r.userid} {r.name}：{ROLE_LABELS[Role(role)]}（{scope}）")
            for rid, role, unit_id, src in have:
                if src == source and (role, unit_name_of.get(unit_id)) not in want:
                    plan.revokes.append(rid)
                    report.roles_revoked.append(
                        f"{r.userid} {r.name}：{ROLE_LABELS[Role(role)]}（{unit_name_of.get(unit_id)}）")
    if full:
        for userid, cur in people.items():
            if cur.active and userid not in seen_ids:
                plan.deactivate.append(cur.id)
                report.deactivated.append(f"{userid} {cur.name}（{unit_name_of.get(cur.unit_id, '—')}）")
    return plan


# --- applying ---------------------------------------------------------------------------------

def apply_plan(db: Session, plan: _Plan) -> ChangeReport:
    """Write a validated plan in the caller's transaction (bulk Core statements)."""
    report = plan.report
    if report.errors and not report.skipped_rows:
        return report
    conn = db.connection()
    ut, pt, rt = Unit.__table__, Person.__table__, RoleAssignment.__table__
    for old, new in plan.renames:
        for uid, fn in conn.execute(select(ut.c.id, ut.c.full_name).where(
                (ut.c.full_name == old) | ut.c.full_name.like(old.replace("%", r"\%").replace("_", r"\_") + "/%", escape="\\"))).all():
            values = {"full_name": new + fn[len(old):]}
            if fn == old:
                values["name"] = new.rsplit("/", 1)[-1]
            conn.execute(update(ut).where(ut.c.id == uid).values(values))
    ids = {fn: (uid, path) for uid, fn, path in conn.execute(select(ut.c.id, ut.c.full_name, ut.c.path))}
    # new units, one tree level at a time (a level's parents exist before it is inserted)
    levels: dict[int, list[tuple[str, str, str]]] = {}
    for fn, name, kind in plan.new_units:
        levels.setdefault(fn.count("/"), []).append((fn, name, kind))
    for depth in sorted(levels):
        batch = levels[depth]
        values = [{"name": name, "kind": kind, "full_name": fn, "path": "", "active": True,
                   "parent_id": ids[fn.rsplit("/", 1)[0]][0] if "/" in fn else None} for fn, name, kind in batch]
        conn.execute(insert(ut), values)
        fresh = {fn: uid for uid, fn in conn.execute(
            select(ut.c.id, ut.c.full_name).where(ut.c.full_name.in_([b[0] for b in batch])))}
        paths = []
        for fn, _, _ in batch:
            parent_path = ids[fn.rsplit("/", 1)[0]][1] if "/" in fn else "/"
            ids[fn] = (fresh[fn], f"{parent_path}{fresh[fn]}/")
            paths.append({"b_id": fresh[fn], "b_path": ids[fn][1]})
        conn.execute(update(ut).where(ut.c.id == bindparam("b_id")).values(path=bindparam("b_path")), paths)
    if plan.unit_links:
        conn.execute(update(ut).where(ut.c.full_name == bindparam("b_fn")).values(wecom_dept_id=bindparam("b_dept")),
                     [{"b_fn": fn, "b_dept": dept} for fn, dept in plan.unit_links])

    now = plan.now
    if plan.inserts:
        rows = [{**{k: v for k, v in row.items() if k != "unit"}, "unit_id": ids[row["unit"]][0],
                 "created_at": now, "updated_at": now} for row in plan.inserts]
        for i in range(0, len(rows), 5000):
            conn.execute(insert(pt), rows[i:i + 5000])
    # updates grouped by the set of changed columns (one executemany per shape)
    shapes: dict[tuple[str, ...], list[dict]] = {}
    for ch in plan.updates:
        ch = dict(ch)
        if "unit" in ch:
            ch["unit_id"] = ids[ch.pop("unit")][0]
        cols = tuple(sorted(k for k in ch if k != "id"))
        shapes.setdefault(cols, []).append({"b_id": ch["id"], **{f"b_{k}": ch[k] for k in cols}})
    for cols, params in shapes.items():
        stmt = update(pt).where(pt.c.id == bindparam("b_id")).values(
            {**{k: bindparam(f"b_{k}") for k in cols}, "updated_at": now})
        conn.execute(stmt, params)
    if plan.deactivate:
        for i in range(0, len(plan.deactivate), 1000):
            conn.execute(update(pt).where(pt.c.id.in_(plan.deactivate[i:i + 1000]))
                         .values(active=False, deactivated_at=now, updated_at=now))
    if plan.revokes:
        conn.execute(rt.delete().where(rt.c.id.in_(plan.revokes)))
    if plan.grants:
        pids = dict(conn.execute(select(pt.c.wecom_userid, pt.c.id).where(pt.c.wecom_userid.is_not(None))).all())
        conn.execute(insert(rt), [{"person_id": pids[u], "role": role, "unit_id": ids[scope][0],
                                   "source": plan.source, "created_at": now}
                                  for u, role, scope in plan.grants])
    db.expire_all()  # the ORM must not serve stale people/units after Core writes
    report.applied = True
    return report


def import_roster(db: Session, path: str | Path, *, dry_run: bool = False, skip_bad_rows: bool = False,
                  full: bool = True) -> ChangeReport:
    """Read, validate and (unless dry_run or bad rows) apply a roster file in the caller's transaction."""
    plan = plan_people(db, read_roster(path), full=full, skip_bad_rows=skip_bad_rows, dry_run=dry_run)
    if dry_run:
        return plan.report
    return apply_plan(db, plan)
