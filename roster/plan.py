"""Plan an import: read the database once, run the checks, then compute every change without writing anything.

Shared by the roster file import and the platform contact syncs (bot.adapters.wecom_contacts),
so the same rules hold for both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.directory import pinyin_key
from models.enums import ROLE_LABELS, Role
from models.org import Person, RoleAssignment, Unit
from models.orgtree import kind_for_name

from .check import Problems, check_parent_chains, check_rows, resolve_scopes
from .rows import KEEP, ChangeReport, RosterRow, RowError

__all__ = ["Plan", "plan_people"]


@dataclass
class Plan:
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


@dataclass
class _Existing:
    """The database as the planner sees it, read once with Core (fast for 12,000 people); renames applied."""

    units: dict[str, tuple[int, str]]               # full_name → (id, kind)
    unit_name_of: dict[int, str]                    # id → full_name
    unit_dept: dict[str, int | None]                # full_name → WeCom dept id
    people: dict[str, Any]                          # WeCom user id → person row
    by_dingtalk: dict[str, str]                     # DingTalk id → WeCom user id
    role_rows: dict[int, list[tuple[int, str, int, str]]] = field(default_factory=dict)  # person id → (id, role, unit, source)


def _renamed(full_name: str, renames: list[tuple[str, str]]) -> str:
    for old, new in renames:
        if full_name == old or full_name.startswith(old + "/"):
            full_name = new + full_name[len(old):]
    return full_name


def _load(db: Session, renames: list[tuple[str, str]]) -> _Existing:
    units = {_renamed(full_name, renames): (uid, kind)
             for uid, full_name, kind in db.execute(select(Unit.id, Unit.full_name, Unit.kind))}
    pcols = (Person.id, Person.wecom_userid, Person.dingtalk_userid, Person.name, Person.phone, Person.unit_id,
             Person.is_party_member, Person.active)
    state = _Existing(
        units=units, unit_name_of={uid: fn for fn, (uid, _) in units.items()},
        unit_dept={_renamed(fn, renames): d for fn, d in db.execute(select(Unit.full_name, Unit.wecom_dept_id))},
        people={r.wecom_userid: r for r in db.execute(select(*pcols)) if r.wecom_userid},
        by_dingtalk={r.dingtalk_userid: r.wecom_userid
                     for r in db.execute(select(Person.dingtalk_userid, Person.wecom_userid)) if r.dingtalk_userid})
    for rid, pid, role, unit_id, src in db.execute(select(RoleAssignment.id, RoleAssignment.person_id,
                                                          RoleAssignment.role, RoleAssignment.unit_id,
                                                          RoleAssignment.source)):
        state.role_rows.setdefault(pid, []).append((rid, role, unit_id, src))
    return state


def plan_people(db: Session, rows: list[RosterRow], *, full: bool = True, skip_bad_rows: bool = False,
                dry_run: bool = False, source: str = "roster", strict_kinds: bool = True,
                renames: list[tuple[str, str]] | None = None, errors: list[RowError] | None = None,
                extra_units: dict[str, int] | None = None) -> Plan:
    """Validate the rows and compute every change; writes nothing.

    strict_kinds: reject unit paths that repeat a name (a cycle) or whose kinds (by name suffix)
    break committee → general branch → branch → team (a roster is checked; WeCom department trees
    are free-form and checked by id). renames: units renamed at the source (sync), applied before
    anything else. errors: problems found before the rows. extra_units: full_name → WeCom dept id
    of units to create/link even without people.
    """
    report = ChangeReport(dry_run=dry_run, rows=len(rows))
    plan = Plan(report, source=source, renames=list(renames or []))
    state = _load(db, plan.renames)
    for old, new in plan.renames:
        report.units_linked.append(f"{old} 更名为 {new}")

    problems = Problems()
    file_units = check_rows(rows, problems, strict_kinds)
    if strict_kinds:
        check_parent_chains(rows, list(state.units), file_units, problems)
    resolve_scopes(rows, set(state.units) | set(file_units), state.by_dingtalk, problems)
    report.errors.extend(errors or [])
    report.errors.extend(problems.row_errors())
    if report.errors and not skip_bad_rows:
        return plan
    report.skipped_rows = sorted(problems.bad)
    good = [r for r in rows if r.row not in problems.bad]

    _plan_units(plan, state, good, extra_units or {})
    for r in good:
        cur = _plan_person(plan, state, r)
        if isinstance(r.roles, list):
            _plan_roles(plan, state, r, cur)
    if full:
        _plan_deactivations(plan, state, {r.userid for r in rows if r.userid})
    return plan


def _plan_units(plan: Plan, state: _Existing, good: list[RosterRow], extra_units: dict[str, int]) -> None:
    """Units to create (only those used by good rows, or named as their role scope), parent-first; dept links."""
    needed: set[str] = set()
    for fn in extra_units:
        parts = fn.split("/")
        needed.update("/".join(parts[: d + 1]) for d in range(len(parts)))
    for r in good:
        paths = [r.unit_path] + ([s for _, s in r.roles] if isinstance(r.roles, list) else [])
        for p in paths:
            parts = p.split("/")
            needed.update("/".join(parts[: d + 1]) for d in range(len(parts)))
    for fn in sorted(needed - set(state.units), key=lambda x: (x.count("/"), x)):
        parts = fn.split("/")
        plan.new_units.append((fn, parts[-1], kind_for_name(parts[-1], len(parts) - 1).value))
        plan.report.units_created.append(fn)
    links = {fn: dept for r in good for fn, dept in r.wecom_dept_ids.items()}
    links.update(extra_units)
    for fn, dept in sorted(links.items()):
        if state.unit_dept.get(fn) != dept:
            plan.unit_links.append((fn, dept))
            plan.report.units_linked.append(f"{fn} ← 部门{dept}")


def _plan_person(plan: Plan, state: _Existing, r: RosterRow) -> Any:
    """Insert or update the row's person; returns the existing person row (None for a new person)."""
    report = plan.report
    cur = state.people.get(r.userid)
    if cur is None:
        plan.inserts.append({
            "wecom_userid": r.userid, "name": r.name, "name_pinyin": pinyin_key(r.name), "unit": r.unit_path,
            "dingtalk_userid": None if r.dingtalk is KEEP else r.dingtalk,
            "phone": None if r.phone is KEEP else r.phone,
            "is_party_member": False if r.party is KEEP else r.party, "active": True,
        })
        report.created.append(f"{r.userid} {r.name}（{r.unit_path}）")
        return None
    changes: dict[str, object] = {}
    notes: list[str] = []
    if cur.name != r.name:
        changes["name"], changes["name_pinyin"] = r.name, pinyin_key(r.name)
        notes.append(f"姓名 {cur.name} → {r.name}")
    if state.unit_name_of.get(cur.unit_id) != r.unit_path:
        changes["unit"] = r.unit_path
        notes.append(f"调动 {state.unit_name_of.get(cur.unit_id, '（无）')} → {r.unit_path}")
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
    return cur


def _plan_roles(plan: Plan, state: _Existing, r: RosterRow, cur: Any) -> None:
    """The row's roles replace the person's roles of this source; roles of other sources (chat) stay."""
    want = {(str(role), scope) for role, scope in cast("list[tuple[Role, str]]", r.roles)}   # resolved by resolve_scopes
    have = state.role_rows.get(cur.id, []) if cur is not None else []
    have_keys = {(role, state.unit_name_of.get(unit_id)) for _, role, unit_id, _ in have}
    for role, scope in sorted(want - have_keys):
        plan.grants.append((r.userid, role, scope))
        plan.report.roles_granted.append(f"{r.userid} {r.name}：{ROLE_LABELS[Role(role)]}（{scope}）")
    for rid, role, unit_id, src in have:
        if src == plan.source and (role, state.unit_name_of.get(unit_id)) not in want:
            plan.revokes.append(rid)
            plan.report.roles_revoked.append(
                f"{r.userid} {r.name}：{ROLE_LABELS[Role(role)]}（{state.unit_name_of.get(unit_id)}）")


def _plan_deactivations(plan: Plan, state: _Existing, seen_ids: set[str]) -> None:
    """A full import deactivates (never deletes) the active people it does not list."""
    for userid, cur in state.people.items():
        if cur.active and userid not in seen_ids:
            plan.deactivate.append(cur.id)
            plan.report.deactivated.append(f"{userid} {cur.name}（{state.unit_name_of.get(cur.unit_id, '—')}）")
