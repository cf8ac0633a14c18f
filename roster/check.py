"""The validation passes of an import (row fields, parent chains, role scopes): every problem found before anything is planned."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from models.enums import ROLE_LABELS, ROLE_NAMES, UNIT_KIND_LABELS, Role, UnitKind
from models.orgtree import kind_for_name

from .rows import KEEP, RosterRow, RowError

__all__ = ["Problems", "check_parent_chains", "check_rows", "parse_roles", "resolve_scopes", "split_path"]

TRUE_WORDS = {"是", "y", "yes", "true", "1", "党员", "中共党员", "预备党员", "√", "x"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "群众", "", "非党员"}
KIND_RANK = {UnitKind.COMMITTEE: 0, UnitKind.GENERAL_BRANCH: 1, UnitKind.BRANCH: 2, UnitKind.TEAM: 3}
ROLE_SPLIT = re.compile(r"[;；,，、]")


@dataclass
class Problems:
    """Messages per bad row, collected by every pass (a row stays bad once one pass rejects it)."""

    bad: dict[int, list[str]] = field(default_factory=dict)
    where: dict[int, str] = field(default_factory=dict)

    def add(self, row: RosterRow, msg: str) -> None:
        self.bad.setdefault(row.row, []).append(msg)
        self.where[row.row] = row.where

    def row_errors(self) -> list[RowError]:
        return [RowError(n, msg, self.where[n]) for n in sorted(self.bad) for msg in self.bad[n]]


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
            errs.append(f"单位层级冲突：{UNIT_KIND_LABELS[parent]}“{parts[depth - 1]}”下不能是"
                        f"{UNIT_KIND_LABELS[child]}“{parts[depth]}”")
            break
    return errs


def _party(value: object) -> bool | None:
    v = str(value).strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    return None


def check_rows(rows: list[RosterRow], problems: Problems, strict_kinds: bool) -> dict[str, str]:
    """Pass 1: per-row checks and duplicates; normalises the rows; returns full_name → kind of the file's valid units."""
    first_row: dict[str, int] = {}
    first_dt: dict[str, tuple[int, str]] = {}
    file_units: dict[str, str] = {}
    for r in rows:
        r.userid, r.name = r.userid.strip(), r.name.strip()
        if not r.userid:
            problems.add(r, "企业微信账号为空")
        elif r.userid in first_row:
            problems.add(r, f"企业微信账号“{r.userid}”与第{first_row[r.userid]}行重复")
        else:
            first_row[r.userid] = r.row
        if not r.name:
            problems.add(r, "姓名为空")
        parts = split_path(r.unit_path)
        if not parts:
            problems.add(r, "单位为空")
        else:
            perrs = _path_errors(parts, strict_kinds)
            for e in perrs:
                problems.add(r, e)
            if not perrs:
                r.unit_path = "/".join(parts)
                for depth in range(len(parts)):
                    file_units.setdefault("/".join(parts[: depth + 1]), kind_for_name(parts[depth], depth).value)
        if r.party is not KEEP:
            value = _party(r.party)
            if value is None:
                problems.add(r, f"党员一栏“{r.party}”无法识别（填 是/否）")
            else:
                r.party = value
        if isinstance(r.dingtalk, str) and r.dingtalk:   # str | None | KEEP
            if r.dingtalk in first_dt and first_dt[r.dingtalk][1] != r.userid:
                problems.add(r, f"钉钉账号“{r.dingtalk}”与第{first_dt[r.dingtalk][0]}行重复")
            else:
                first_dt.setdefault(r.dingtalk, (r.row, r.userid))
        if r.roles is not KEEP:
            roles, rerrs = parse_roles(str(r.roles))
            for e in rerrs:
                problems.add(r, e)
            r.roles = roles
    return file_units


def check_parent_chains(rows: list[RosterRow], existing: list[str], file_units: dict[str, str],
                        problems: Problems) -> None:
    """Pass 1b: a Party organisation (committee below the root, general branch, branch) is one unit.

    The same name under another parent chain is a conflict (a missing or extra level, or a move
    that an import cannot do), not a second unit. Teams may share names across branches.
    """
    home: dict[str, str] = {}
    for fn in existing + list(file_units):      # existing units win, then first use in the file
        name = fn.rsplit("/", 1)[-1]
        if "/" in fn and kind_for_name(name, fn.count("/")) != UnitKind.TEAM:
            home.setdefault(name, fn)
    for r in rows:
        if r.row in problems.bad or not r.unit_path:
            continue
        parts = r.unit_path.split("/")
        for depth in range(1, len(parts)):
            fn = "/".join(parts[: depth + 1])
            other = home.get(parts[depth])
            if other is not None and other != fn:
                problems.add(r, f"单位“{parts[depth]}”已在“{other.rsplit('/', 1)[0]}”之下，与本行的上级“"
                                f"{'/'.join(parts[:depth])}”不一致（上级链冲突）")
                break


def resolve_scopes(rows: list[RosterRow], known: set[str], by_dingtalk: dict[str, str], problems: Problems) -> None:
    """Pass 2: role scopes become full unit names (a full path or a unique unit name); DingTalk ids held by others."""
    by_last: dict[str, list[str]] = {}
    for fn in known:
        by_last.setdefault(fn.rsplit("/", 1)[-1], []).append(fn)
    file_dt_users = {r.userid for r in rows}
    for r in rows:
        if r.row in problems.bad:
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
                    problems.add(r, f"角色范围“{scope}”有多个同名单位，请写完整路径："
                                    + "、".join(sorted(by_last[scope])[:3]))
                else:
                    problems.add(r, f"角色范围“{scope}”不是已知单位（{ROLE_LABELS[role]}）")
            r.roles = resolved
        if isinstance(r.dingtalk, str) and r.dingtalk:
            holder = by_dingtalk.get(r.dingtalk)
            if holder and holder != r.userid and holder not in file_dt_users:
                problems.add(r, f"钉钉账号“{r.dingtalk}”已属于其他人员（{holder}）")
