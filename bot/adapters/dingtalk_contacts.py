"""DingTalk contacts → units and people (`lianxin sync-dingtalk`).

Reads the department tree with topapi/v2/department/get (the root) and
topapi/v2/department/listsub (recursively), and the members of each department with
topapi/v2/user/list (paged by cursor, 100 a page). Same rules as the WeCom sync:

* idempotent: a second run with the same contacts changes nothing;
* departments become units; Unit.dingtalk_dept_id remembers the mapping, so a department renamed
  in DingTalk renames its unit (and the full names below it); a unit that already exists with the
  same full name (roster import, WeCom sync) is linked, not duplicated;
* members become people keyed by Person.dingtalk_userid; a person already on the roster without a
  DingTalk id is linked when the phone number matches, or else name + unit match exactly one
  person: one person may hold both ids (WeCom and DingTalk);
* a full sync deactivates (never deletes) people whose DingTalk id is gone, but only those that
  DingTalk alone knows (no WeCom id): in a two-platform deployment WeCom is not overruled;
* roles, Party membership and WeCom ids are never touched;
* a dry run writes nothing; any problem (a cycle, a parent outside the tree) changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.directory import pinyin_key
from models.handover import hand_over
from models.org import Person, Unit
from models.orgtree import add_person, ensure_unit_path

from ..outbox import PermanentError, TransientError
from .contacts import SyncError, dept_chains

__all__ = ["DingTalkContacts", "SyncError", "SyncReport", "fetch_contacts", "sync_contacts"]

PAGE_SIZE = 100


@dataclass
class DingTalkContacts:
    root: int
    departments: dict[int, dict] = field(default_factory=dict)  # id → {"name", "parent_id"}
    members: dict[str, dict] = field(default_factory=dict)      # userid → {"name", "dept_id_list", "mobile"}
    calls: int = 0


@dataclass
class SyncReport:
    dry_run: bool = False
    units_created: list[str] = field(default_factory=list)
    units_linked: list[str] = field(default_factory=list)
    units_renamed: list[str] = field(default_factory=list)
    people_created: list[str] = field(default_factory=list)
    people_linked: list[str] = field(default_factory=list)
    people_updated: list[str] = field(default_factory=list)
    people_deactivated: list[str] = field(default_factory=list)
    not_in_dingtalk: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return sum(len(x) for x in (self.units_created, self.units_linked, self.units_renamed, self.people_created,
                                    self.people_linked, self.people_updated, self.people_deactivated))

    def summary(self) -> str:
        head = "钉钉通讯录同步（试运行，未写入）" if self.dry_run else "钉钉通讯录同步"
        return (f"{head}：新建单位 {len(self.units_created)}，关联单位 {len(self.units_linked)}，"
                f"单位更名 {len(self.units_renamed)}；新增人员 {len(self.people_created)}，"
                f"关联已有人员 {len(self.people_linked)}，更新 {len(self.people_updated)}，"
                f"停用 {len(self.people_deactivated)}；错误 {len(self.errors)}")

    def details(self, limit: int = 50) -> str:
        lines = []
        for label, items in (("新建单位", self.units_created), ("关联单位", self.units_linked),
                             ("单位更名", self.units_renamed), ("新增", self.people_created),
                             ("关联", self.people_linked), ("更新", self.people_updated),
                             ("停用", self.people_deactivated), ("钉钉中已没有（仍在企业微信，未停用）", self.not_in_dingtalk),
                             ("错误", self.errors)):
            lines += [f"  {label}：{x}" for x in items[:limit]]
        return "\n".join(lines)


def _call(client, path: str, body: dict) -> dict:
    try:
        return client.oapi(path, body)
    except (TransientError, PermanentError) as exc:
        hint = "（检查应用的通讯录权限和可见范围）" if "60011" in str(exc) or "50004" in str(exc) else ""
        raise SyncError(f"钉钉接口 {path} 调用失败：{exc}{hint}") from None


def fetch_contacts(client, root: int = 1) -> DingTalkContacts:
    """Departments below `root` and their members, through DingTalkClient.oapi."""
    c = DingTalkContacts(root)
    top = _call(client, "/topapi/v2/department/get", {"dept_id": root}).get("result") or {}
    c.calls += 1
    c.departments[root] = {"name": str(top.get("name") or "").strip() or "钉钉组织", "parent_id": 0}
    queue = [root]
    while queue:
        dept = queue.pop(0)
        subs = _call(client, "/topapi/v2/department/listsub", {"dept_id": dept}).get("result") or []
        c.calls += 1
        for d in subs:
            did = int(d["dept_id"])
            if did in c.departments:
                continue
            c.departments[did] = {"name": str(d.get("name") or "").strip(), "parent_id": int(d.get("parent_id") or dept)}
            queue.append(did)
    for dept in sorted(c.departments):
        cursor = 0
        while True:
            res = _call(client, "/topapi/v2/user/list", {"dept_id": dept, "cursor": cursor, "size": PAGE_SIZE,
                                                         "contain_access_limit": False}).get("result") or {}
            c.calls += 1
            for u in res.get("list") or []:
                c.members.setdefault(u["userid"], {"name": str(u.get("name") or "").strip(),
                                                   "dept_id_list": u.get("dept_id_list") or [dept],
                                                   "mobile": u.get("mobile") or None})
            if not res.get("has_more"):
                break
            cursor = res.get("next_cursor")
            if cursor is None:
                break
    return c


def _paths(c: DingTalkContacts, report: SyncReport) -> dict[int, str]:
    """dept id → unit full name ("根/部门/子部门"); cycles and orphans are errors."""
    chains, problems = dept_chains(c.departments, c.root, "parent_id")
    for p in problems:
        report.errors.append(f"部门上下级出现循环（部门 {p.dept_id}）" if p.missing_parent is None
                             else f"部门 {p.dept_id} 的上级部门 {p.missing_parent} 不在同步范围内")
    return {did: "/".join(c.departments[i]["name"].replace("/", "／") for i in chain) for did, chain in chains.items()}


def _rename(db: Session, unit: Unit, new_full: str) -> None:
    old_full = unit.full_name
    for u in db.scalars(select(Unit).where(Unit.path.like(f"{unit.path}%"))):
        u.full_name = new_full + u.full_name[len(old_full):]
    unit.name = new_full.rsplit("/", 1)[-1]


def sync_contacts(db: Session, contacts: DingTalkContacts, *, full: bool = True, dry_run: bool = False) -> SyncReport:
    """Apply `contacts` in the caller's transaction (rolled back by the caller on dry run/errors)."""
    report = SyncReport(dry_run=dry_run)
    paths = _paths(contacts, report)
    if report.errors:
        return report
    by_dept = {u.dingtalk_dept_id: u for u in db.scalars(select(Unit).where(Unit.dingtalk_dept_id.is_not(None)))}
    units: dict[int, Unit] = {}
    cache: dict[str, Unit] = {}
    for did in sorted(paths, key=lambda d: paths[d].count("/")):  # parents first
        full_name = paths[did]
        unit = by_dept.get(did)
        if unit is not None:
            if unit.full_name != full_name:
                if unit.full_name.rsplit("/", 1)[0] == full_name.rsplit("/", 1)[0]:
                    report.units_renamed.append(f"{unit.full_name} → {full_name}")
                    _rename(db, unit, full_name)
                else:
                    report.errors.append(f"部门 {did} 在钉钉中移动到了“{full_name}”（原“{unit.full_name}”），"
                                         "单位移动请在连心中处理")
                    continue
        else:
            existing = db.scalars(select(Unit).where(Unit.full_name == full_name)).first()
            if existing is not None:
                if existing.dingtalk_dept_id not in (None, did):
                    report.errors.append(f"单位“{full_name}”已关联钉钉部门 {existing.dingtalk_dept_id}")
                    continue
                report.units_linked.append(full_name)
                unit = existing
            else:
                report.units_created.append(full_name)
                unit = ensure_unit_path(db, full_name, cache)
            unit.dingtalk_dept_id = did
        if not unit.active:
            unit.active = True
        units[did] = unit
    if report.errors:
        return report
    db.flush()

    people = list(db.scalars(select(Person)))
    by_dt = {p.dingtalk_userid: p for p in people if p.dingtalk_userid}
    by_phone: dict[str, list[Person]] = {}
    by_name_unit: dict[tuple[str, int | None], list[Person]] = {}
    for p in people:
        if p.dingtalk_userid:
            continue
        if p.phone:
            by_phone.setdefault(p.phone, []).append(p)
        by_name_unit.setdefault((p.name, p.unit_id), []).append(p)
    for userid in sorted(contacts.members):
        m = contacts.members[userid]
        depts = [int(d) for d in m["dept_id_list"] if int(d) in units]
        if not depts or not m["name"]:
            report.errors.append(f"成员 {userid}：所在部门不在同步范围内或姓名为空")
            continue
        unit = units[depts[0]]
        person = by_dt.get(userid)
        if person is None:
            candidates = by_phone.get(m["mobile"] or "", []) or by_name_unit.get((m["name"], unit.id), [])
            candidates = [p for p in candidates if not p.dingtalk_userid]
            if len(candidates) == 1:
                person = candidates[0]
                person.dingtalk_userid = userid
                report.people_linked.append(f"{m['name']}（{userid}）")
            else:
                person = add_person(db, name=m["name"], unit=unit, dingtalk_userid=userid, phone=m["mobile"])
                report.people_created.append(f"{m['name']}（{userid}）")
                continue
        notes = []
        if person.name != m["name"]:
            notes.append(f"姓名 {person.name} → {m['name']}")
            person.name, person.name_pinyin = m["name"], pinyin_key(m["name"])
        if person.unit_id != unit.id and not person.wecom_userid:
            notes.append(f"单位 → {unit.full_name}")
            person.unit_id, person.unit = unit.id, unit
        if not person.active:
            notes.append("重新启用")
            person.active = True
        if notes:
            report.people_updated.append(f"{person.name}（{userid}）：" + "；".join(notes))
    if report.errors:
        return report
    gone: list[int] = []
    if full:
        for userid, p in sorted(by_dt.items()):
            if userid in contacts.members or not p.active:
                continue
            if p.wecom_userid:
                report.not_in_dingtalk.append(f"{p.name}（{userid}）")
            else:
                p.active = False
                report.people_deactivated.append(f"{p.name}（{userid}）")
                gone.append(p.id)
    db.flush()
    hand_over(db, gone, utcnow())   # their open care items change hands, with a message
    return report
