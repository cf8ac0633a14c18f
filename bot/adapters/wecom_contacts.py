"""WeCom contacts → units and people (`lianxin sync-wecom`), planned by roster/ so sync and import share rules.

Pulls the department tree with `department/simplelist` + `department/get` (the calls the current
docs recommend; falls back to `department/list` where simplelist is not available) and the
members of each department with `user/simplelist` — one call per department, no `fetch_child`
(PROTOCOLS.md §3.5). Departments become units (Unit.wecom_dept_id remembers the mapping, so a
department renamed in WeCom renames its unit), members become people keyed by their WeCom user
id. The same planner as the roster import decides the changes, so the same rules hold:
idempotent, people absent from a full sync are deactivated (never deleted), a dry run writes
nothing, and any problem (e.g. a cycle in the department tree) changes nothing. Roles, phone,
DingTalk id and Party membership are not touched by a sync (WeCom does not know them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.org import Unit
from roster.apply import apply_plan
from roster.plan import Plan, plan_people
from roster.rows import ChangeReport, RosterRow, RowError

from .contacts import SyncError, dept_chains

if TYPE_CHECKING:
    from .wecom_api import LianxinWeComClient

__all__ = ["Contacts", "SyncError", "fetch_contacts", "plan_sync", "sync_contacts"]


@dataclass
class Contacts:
    root: int
    departments: dict[int, dict[str, Any]] = field(default_factory=dict)   # id → {"name", "parentid", "order"}
    members: dict[str, dict[str, Any]] = field(default_factory=dict)       # userid → {"name", "department": [ids]}
    calls: int = 0


def _call(client: LianxinWeComClient, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
    from wechatpy.exceptions import WeChatClientException

    try:
        answer: dict[str, Any] = client.get(endpoint, params=params)
        return answer
    except WeChatClientException as exc:
        hint = {60011: "（应用无权限访问该部门/成员：检查应用可见范围）",
                60020: "（服务器 IP 不在企业可信 IP 中）",
                40014: "（access_token 无效）", 42001: "（access_token 已过期）"}.get(int(exc.errcode or 0), "")
        raise SyncError(f"企业微信接口 {endpoint} 返回错误 {exc.errcode}：{exc.errmsg}{hint}") from None
    except Exception as exc:  # network errors, token refresh failures from the outbox client
        raise SyncError(f"企业微信接口 {endpoint} 调用失败：{type(exc).__name__}: {exc}") from None


def fetch_contacts(client: LianxinWeComClient, root: int = 1) -> Contacts:
    """Read departments and members below `root` through a wechatpy client (LianxinWeComClient)."""
    c = Contacts(root)
    try:
        ids = _call(client, "department/simplelist", {"id": root}).get("department_id", [])
        c.calls += 1
        for item in ids:
            dept = _call(client, "department/get", {"id": item["id"]})["department"]
            c.calls += 1
            c.departments[int(dept["id"])] = {"name": str(dept["name"]).strip(), "parentid": int(dept.get("parentid", 0)),
                                             "order": dept.get("order", 0)}
    except SyncError as exc:
        if "department/simplelist" not in str(exc):
            raise
        # older deployments: the (slower, deprecated) full department list
        depts = _call(client, "department/list", {"id": root}).get("department", [])
        c.calls += 1
        c.departments = {int(d["id"]): {"name": str(d["name"]).strip(), "parentid": int(d.get("parentid", 0)),
                                        "order": d.get("order", 0)} for d in depts}
    if root not in c.departments:
        raise SyncError(f"企业微信没有返回部门 {root}（检查应用可见范围）")
    for dept_id in sorted(c.departments):
        users = _call(client, "user/simplelist", {"department_id": dept_id}).get("userlist", [])
        c.calls += 1
        for u in users:
            c.members.setdefault(u["userid"], {"name": u.get("name", ""), "department": u.get("department", [dept_id])})
    return c


def _dept_paths(contacts: Contacts) -> tuple[dict[int, list[int]], list[RowError]]:
    """dept id → chain of dept ids from the root; departments on a cycle are reported."""
    chains, problems = dept_chains(contacts.departments, contacts.root, "parentid")
    errors = [RowError(0, f"部门上下级出现循环：{' → '.join(contacts.departments[i]['name'] for i in p.walked)}"
                       if p.missing_parent is None else f"上级部门 {p.missing_parent} 不在同步范围内",
                       where=f"部门 {p.dept_id}") for p in problems]
    return chains, errors


def plan_sync(db: Session, contacts: Contacts, *, full: bool = True, dry_run: bool = False) -> Plan:
    chains, errors = _dept_paths(contacts)
    names = {i: d["name"].replace("/", "／") for i, d in contacts.departments.items()}
    full_names = {i: "/".join(names[x] for x in chain) for i, chain in chains.items()}
    # departments renamed in WeCom: the unit that carries the department id gets the new name
    renames: list[tuple[str, str]] = []
    existing = dict(db.execute(select(Unit.wecom_dept_id, Unit.full_name).where(Unit.wecom_dept_id.is_not(None))).all())
    for dept_id in sorted(full_names, key=lambda i: len(chains[i])):
        old = existing.get(dept_id)
        if old is None:
            continue
        for before, after in renames:  # parents renamed first
            if old.startswith(before + "/"):
                old = after + old[len(before):]
        if old != full_names[dept_id] and old.rsplit("/", 1)[0] == full_names[dept_id].rsplit("/", 1)[0]:
            renames.append((old, full_names[dept_id]))
    rows: list[RosterRow] = []
    for n, userid in enumerate(sorted(contacts.members), start=1):
        m = contacts.members[userid]
        depts = [int(d) for d in m["department"] if int(d) in chains]
        if not depts:
            errors.append(RowError(0, "所在部门不在同步范围内或有错误", where=f"成员 {userid}"))
            continue
        dept = depts[0]
        rows.append(RosterRow(row=n, userid=userid, name=m["name"], unit_path=full_names[dept],
                              wecom_dept_ids={full_names[d]: d for d in chains[dept]}, where=f"成员 {userid}"))
    # every department becomes a unit, even an empty one
    return plan_people(db, rows, full=full, dry_run=dry_run, source="wecom", strict_kinds=False,
                       renames=renames, errors=errors, extra_units={full_names[i]: i for i in full_names})


def sync_contacts(db: Session, client: LianxinWeComClient, *,
                  root: int = 1, full: bool = True, dry_run: bool = False) -> ChangeReport:
    plan = plan_sync(db, fetch_contacts(client, root), full=full, dry_run=dry_run)
    if dry_run or plan.report.errors:
        return plan.report
    return apply_plan(db, plan)
