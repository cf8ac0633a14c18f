"""The units of a subtree and how they group into levels, shared by every per-domain query."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.enums import UnitKind
from models.org import Person, Unit

__all__ = ["LEVEL_KINDS", "UnitRow", "breakdown_level", "group_of", "groups_of", "people_per_unit", "units_in"]

# a "level" groups teams by their nearest ancestor of these kinds
LEVEL_KINDS = {
    "team": (UnitKind.TEAM.value,),
    "branch": (UnitKind.BRANCH.value,),
    "general_branch": (UnitKind.GENERAL_BRANCH.value,),
    "committee": (UnitKind.COMMITTEE.value,),
}


@dataclass(frozen=True)
class UnitRow:
    id: int
    name: str
    full_name: str
    path: str
    kind: str
    path_ids: tuple[int, ...] = ()


def _path_ids(path: str) -> tuple[int, ...]:
    return tuple(int(x) for x in path.strip("/").split("/") if x)


def units_in(db: Session, unit: Unit) -> dict[int, UnitRow]:
    """Every active unit of `unit`'s subtree (one statement, Core rows: thousands of units are cheap)."""
    rows = db.connection().execute(select(Unit.id, Unit.name, Unit.full_name, Unit.path, Unit.kind)
                                   .where(Unit.path.like(f"{unit.path}%"), Unit.active.is_(True)))
    return {r[0]: UnitRow(r[0], r[1], r[2], r[3], r[4], _path_ids(r[3])) for r in rows}


def group_of(row: UnitRow, units: dict[int, UnitRow], level: str) -> UnitRow | None:
    """The nearest unit of `level` at or above `row` inside the subtree."""
    kinds = LEVEL_KINDS[level]
    for uid in reversed(row.path_ids):
        u = units.get(uid)
        if u is not None and u.kind in kinds:
            return u
    return None


def groups_of(units: dict[int, UnitRow], level: str) -> dict[int | None, UnitRow | None]:
    """unit id → its `level` group, for every unit of the subtree (looked up by `Person.unit_id`, hence `int | None`)."""
    return {uid: group_of(u, units, level) for uid, u in units.items()}


def people_per_unit(db: Session, unit: Unit) -> dict[int, int]:
    """unit id → active people belonging directly to it, inside `unit`'s subtree."""
    stmt = (select(Person.unit_id, func.count()).join(Unit, Unit.id == Person.unit_id)
            .where(Person.active.is_(True), Unit.path.like(f"{unit.path}%")).group_by(Person.unit_id))
    return {uid: int(n) for uid, n in db.execute(stmt) if uid is not None}   # inner join: never None


def breakdown_level(unit: Unit) -> str:
    """Rows under a branch are its teams; under anything bigger, its branches."""
    return "team" if unit.kind in (UnitKind.BRANCH.value, UnitKind.TEAM.value) else "branch"
