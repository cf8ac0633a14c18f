"""Learning completion of a subtree or of one material, in (person, material) pairs, for every report and the KPI."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from models.base import DEFAULT_TZ
from models.learning import Material, MaterialRead
from models.org import Person, Unit
from models.quarters import quarter_bounds

from .units import LEVEL_KINDS, UnitRow, groups_of, people_per_unit, units_in

__all__ = ["LearningRow", "learning_completion", "material_completion"]


@dataclass
class LearningRow:
    unit_id: int
    name: str
    full_name: str
    assigned: int = 0     # (person, material) pairs: material published in the period to an audience containing the person
    opened: int = 0
    studied: int = 0

    @property
    def rate(self) -> float:
        """studied / assigned (0.0 when nothing was assigned)."""
        return self.studied / self.assigned if self.assigned else 0.0


def _group_rows(units: dict[int, UnitRow], level: str) -> dict[int, LearningRow]:
    return {u.id: LearningRow(u.id, u.name, u.full_name) for u in units.values() if u.kind in LEVEL_KINDS[level]}


def learning_completion(db: Session, unit: Unit, quarter: str, level: str = "branch",
                        tz: str = DEFAULT_TZ) -> tuple[LearningRow, list[LearningRow]]:
    """Learning completion of the subtree for materials published in `quarter`: (total, rows per `level` unit).

    Definition: every material published in the quarter (local time) is assigned to each active
    person of its audience subtree. Restricted to `unit`'s subtree, *assigned* counts those
    (person, material) pairs, *opened* the pairs with a read record, *studied* the pairs marked
    studied (at any time up to now). Completion rate = studied / assigned. People are counted in
    the unit they belong to now.
    """
    start, end = quarter_bounds(quarter, tz)
    units = units_in(db, unit)
    ancestors = [int(x) for x in unit.path.strip("/").split("/") if x]
    mats = db.execute(select(Material.id, Unit.path).join(Unit, Unit.id == Material.audience_unit_id)
                      .where(Material.published_at >= start, Material.published_at < end,
                             (Unit.path.like(f"{unit.path}%")) | Unit.id.in_(ancestors))).all()
    total = LearningRow(unit.id, unit.name, unit.full_name)
    groups = _group_rows(units, level)
    if not mats:
        return total, sorted(groups.values(), key=lambda r: r.full_name)
    people = people_per_unit(db, unit)
    group_of = groups_of(units, level)
    # people per subtree (each unit's count added to itself and its ancestors inside the scope)
    subtree: dict[int, int] = defaultdict(int)
    for uid, n in people.items():
        u = units.get(uid)
        for aid in (u.path_ids if u else ()):
            if aid in units:
                subtree[aid] += n
    in_scope = subtree.get(unit.id, 0)
    for _mid, audience_path in mats:
        audience_id = int(audience_path.strip("/").split("/")[-1])
        if unit.path.startswith(audience_path):      # published above (or to) the scope: everybody
            total.assigned += in_scope
            for g in groups.values():
                groups[g.unit_id].assigned += subtree.get(g.unit_id, 0)
            continue
        total.assigned += subtree.get(audience_id, 0)
        audience = units.get(audience_id)
        for g in groups.values():
            g_path = units[g.unit_id].path
            if g_path.startswith(audience_path):       # group inside the audience
                g.assigned += subtree.get(g.unit_id, 0)
            elif audience is not None and audience_path.startswith(g_path):   # audience inside the group
                g.assigned += subtree.get(audience_id, 0)
    # reads by the people still inside each material's audience, grouped by their unit
    audience_unit = aliased(Unit)
    reads = db.execute(
        select(Person.unit_id, func.count(), func.count(MaterialRead.studied_at))
        .select_from(MaterialRead)
        .join(Material, Material.id == MaterialRead.material_id)
        .join(audience_unit, audience_unit.id == Material.audience_unit_id)
        .join(Person, Person.id == MaterialRead.person_id).join(Unit, Unit.id == Person.unit_id)
        .where(Material.published_at >= start, Material.published_at < end, Person.active.is_(True),
               Unit.path.like(f"{unit.path}%"), Unit.path.like(audience_unit.path + "%"))
        .group_by(Person.unit_id))
    return _add_reads(total, groups, group_of, reads)


def _add_reads(total: LearningRow, groups: dict[int, LearningRow], group_of: dict[int | None, UnitRow | None],
               reads) -> tuple[LearningRow, list[LearningRow]]:
    """Add (unit id, opened, studied) counts to the total and to each unit's group row."""
    for uid, opened, studied in reads:
        total.opened += opened
        total.studied += studied
        g = group_of.get(uid)
        if g is not None:
            groups[g.id].opened += opened
            groups[g.id].studied += studied
    return total, sorted(groups.values(), key=lambda r: r.full_name)


def material_completion(db: Session, material: Material, level: str = "branch") -> tuple[LearningRow, list[LearningRow]]:
    """One material's completion over its audience: (total, rows per `level` unit inside the audience)."""
    unit = material.audience_unit
    units = units_in(db, unit)
    people = people_per_unit(db, unit)
    total = LearningRow(unit.id, unit.name, unit.full_name)
    groups = _group_rows(units, level)
    group_of = groups_of(units, level)
    for uid, n in people.items():
        total.assigned += n
        g = group_of.get(uid)
        if g is not None:
            groups[g.id].assigned += n
    reads = db.execute(
        select(Person.unit_id, func.count(), func.count(MaterialRead.studied_at))
        .join(Person, Person.id == MaterialRead.person_id).join(Unit, Unit.id == Person.unit_id)
        .where(MaterialRead.material_id == material.id, Person.active.is_(True), Unit.path.like(f"{unit.path}%"))
        .group_by(Person.unit_id))
    return _add_reads(total, groups, group_of, reads)
