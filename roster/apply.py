"""Write a checked import plan with bulk Core statements in the caller's transaction: one statement per batch, not per person."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from models.handover import hand_over
from models.org import Person, RoleAssignment, Unit

from .plan import Plan, plan_people
from .read import read_roster
from .rows import ChangeReport

__all__ = ["apply_plan", "import_roster"]


def _escape_like(text: str) -> str:
    return text.replace("%", r"\%").replace("_", r"\_")


def apply_plan(db: Session, plan: Plan) -> ChangeReport:
    """Write a validated plan in the caller's transaction (bulk Core statements)."""
    report = plan.report
    if report.errors and not report.skipped_rows:
        return report
    conn = db.connection()
    ut, pt, rt = Unit.__table__, Person.__table__, RoleAssignment.__table__
    for old, new in plan.renames:
        for uid, fn in conn.execute(select(ut.c.id, ut.c.full_name).where(
                (ut.c.full_name == old) | ut.c.full_name.like(_escape_like(old) + "/%", escape="\\"))).all():
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
    if plan.deactivate:
        hand_over(db, plan.deactivate, now)   # their open care items change hands, with a message
    report.applied = True
    return report


def import_roster(db: Session, path: str | Path, *, dry_run: bool = False, skip_bad_rows: bool = False,
                  full: bool = True) -> ChangeReport:
    """Read, validate and (unless dry_run or bad rows) apply a roster file in the caller's transaction."""
    plan = plan_people(db, read_roster(path), full=full, skip_bad_rows=skip_bad_rows, dry_run=dry_run)
    if dry_run:
        return plan.report
    return apply_plan(db, plan)
