"""Building and querying the unit tree by its slash-separated path of names."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .directory import pinyin_key
from .enums import UnitKind
from .org import Person, RoleAssignment, Unit

__all__ = ["add_person", "ensure_unit_path", "find_unit", "grant", "kind_for_name", "subtree_ids"]


def kind_for_name(name: str, depth: int) -> UnitKind:
    """Infer the unit kind from the name suffix (党委, 党总支, 党支部); leaves are teams."""
    if name.endswith("党委") or name.endswith("委员会"):
        return UnitKind.COMMITTEE
    if name.endswith("党总支") or name.endswith("总支"):
        return UnitKind.GENERAL_BRANCH
    if name.endswith("支部"):
        return UnitKind.BRANCH
    return UnitKind.COMMITTEE if depth == 0 else UnitKind.TEAM


def find_unit(db: Session, full_name: str) -> Unit | None:
    return db.scalars(select(Unit).where(Unit.full_name == full_name.strip("/"))).first()


def ensure_unit_path(db: Session, path: str, cache: dict[str, Unit] | None = None) -> Unit:
    """Return the unit at `path` ("党委/党总支/支部/班组"), creating missing levels."""
    parts = [p.strip() for p in path.strip().strip("/").split("/") if p.strip()]
    if not parts:
        raise ValueError("empty unit path")
    parent: Unit | None = None
    for depth, name in enumerate(parts):
        full = "/".join(parts[: depth + 1])
        unit = cache.get(full) if cache is not None else None
        if unit is None:
            unit = find_unit(db, full)
        if unit is None:
            unit = Unit(name=name, kind=kind_for_name(name, depth).value, full_name=full,
                        parent_id=parent.id if parent else None)
            db.add(unit)
            db.flush()
            unit.path = f"{parent.path if parent else '/'}{unit.id}/"
        if cache is not None:
            cache[full] = unit
        parent = unit
    assert parent is not None
    return parent


def subtree_ids(db: Session, unit: Unit) -> list[int]:
    return list(db.scalars(select(Unit.id).where(Unit.path.like(f"{unit.path}%"))))


def add_person(db: Session, *, name: str, unit: Unit | None, wecom_userid: str | None = None,
               dingtalk_userid: str | None = None, party: bool = False, phone: str | None = None) -> Person:
    person = Person(name=name, name_pinyin=pinyin_key(name), unit_id=unit.id if unit else None, unit=unit,
                    wecom_userid=wecom_userid, dingtalk_userid=dingtalk_userid, is_party_member=party, phone=phone)
    db.add(person)
    return person


def grant(db: Session, person: Person, role: str, unit: Unit) -> RoleAssignment:
    for r in person.roles:
        if r.role == role and r.unit_id == unit.id:
            return r
    ra = RoleAssignment(role=role, unit_id=unit.id, unit=unit)
    person.roles.append(ra)
    return ra
