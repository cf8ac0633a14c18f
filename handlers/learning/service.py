"""Learning queries: who a material goes to, my materials, recording opened / studied (no chat text)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.learning import Material, MaterialRead
from models.org import Person, Unit

__all__ = ["ancestor_ids", "audience_of", "materials_for", "record_open", "record_studied", "reflection_count", "reflections"]


def ancestor_ids(unit: Unit | None) -> list[int]:
    """"/1/4/9/" → [1, 4, 9]: the unit and every unit above it."""
    if unit is None or not unit.path:
        return []
    return [int(x) for x in unit.path.strip("/").split("/") if x]


def audience_of(db: Session, unit: Unit) -> list[Person]:
    """Active people in `unit`'s subtree (the recipients of a material published to it)."""
    return list(db.scalars(select(Person).join(Unit, Unit.id == Person.unit_id)
                           .where(Person.active.is_(True), Unit.path.like(f"{unit.path}%"))
                           .order_by(Person.id)))


def materials_for(db: Session, person: Person, limit: int = 20) -> list[tuple[Material, MaterialRead | None]]:
    """Materials whose audience contains `person`: not yet studied first, then newest first."""
    ids = ancestor_ids(person.unit)
    if not ids:
        return []
    stmt = (select(Material, MaterialRead)
            .outerjoin(MaterialRead, (MaterialRead.material_id == Material.id) & (MaterialRead.person_id == person.id))
            .where(Material.audience_unit_id.in_(ids))
            .order_by(case((MaterialRead.studied_at.is_(None), 0), else_=1), Material.published_at.desc(),
                      Material.id.desc())
            .limit(limit))
    return [(m, r) for m, r in db.execute(stmt)]


def _read_row(db: Session, person: Person, material: Material, now: datetime) -> tuple[MaterialRead, bool]:
    row = db.scalars(select(MaterialRead).where(MaterialRead.person_id == person.id,
                                                MaterialRead.material_id == material.id)).first()
    if row is not None:
        return row, False
    row = MaterialRead(person_id=person.id, material_id=material.id, opened_at=now)
    try:
        with db.begin_nested():   # UNIQUE(person, material): a concurrent first open wins, we reuse it
            db.add(row)
    except IntegrityError:
        row = db.scalars(select(MaterialRead).where(MaterialRead.person_id == person.id,
                                                    MaterialRead.material_id == material.id)).one()
        return row, False
    return row, True


def record_open(db: Session, person: Person, material: Material, now: datetime) -> MaterialRead:
    """Record the first opening (later openings keep the first time)."""
    row, _ = _read_row(db, person, material, now)
    return row


def record_studied(db: Session, person: Person, material: Material, now: datetime) -> tuple[MaterialRead, bool]:
    """Mark studied (opening it too if needed); returns (row, newly studied)."""
    row, _ = _read_row(db, person, material, now)
    if row.studied_at is not None:
        return row, False
    row.studied_at = now
    return row, True


def _written(material: Material) -> ColumnElement[bool]:
    """The reads of `material` that carry a reflection (心得): what is counted and what is shown."""
    return and_(MaterialRead.material_id == material.id, MaterialRead.reflection.is_not(None))


def reflection_count(db: Session, material: Material) -> int:
    """How many people wrote a reflection (心得) on `material`."""
    return db.scalar(select(func.count()).select_from(MaterialRead).where(_written(material))) or 0


def reflections(db: Session, material: Material, *, limit: int) -> list[tuple[Person, str]]:
    """The newest reflections on `material` with their writers (学习心得 N)."""
    rows = db.execute(select(Person, MaterialRead.reflection).join(MaterialRead, MaterialRead.person_id == Person.id)
                      .where(_written(material))
                      .order_by(MaterialRead.studied_at.desc(), MaterialRead.id.desc()).limit(limit)).all()
    return [(p, text or "") for p, text in rows]
