"""The active roster in each worker's memory: senders, talk subjects and exact names without a query.

bot.identity caches senders one by one, so every person new to a worker costs one query, and a
talk's subject, the people a name matches and the "same name" check each cost another. A worker
that sees a roster version it has no snapshot of builds one instead: every active person with unit
and roles, from one Core statement (models.directory.RosterIndex is what the turn's session sees of
it). A snapshot answers for its own version only, so authorization stays on current data: the turn
after a grant or revoke sees a new version and is answered from the database until the next build,
which happens at most once per `interval` seconds (a roster import or sync bumps the version often)
and only while the roster has at most `max_people` people. Objects are detached and shared by the
worker's threads: read them, or merge a copy into a session (models.directory.person_by_id).
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from models.org import Person, RoleAssignment, Unit

__all__ = ["RosterSnapshot", "build_people", "build_snapshot"]

_PT, _RT, _UT = Person.__table__, RoleAssignment.__table__, Unit.__table__
_PU, _RU = _UT.alias("pu"), _UT.alias("ru")
_JOINED = (_PT.outerjoin(_PU, _PU.c.id == _PT.c.unit_id).outerjoin(_RT, _RT.c.person_id == _PT.c.id)
           .outerjoin(_RU, _RU.c.id == _RT.c.unit_id))
ROWS = select(*_PT.c, *_PU.c, *_RT.c, *_RU.c).select_from(_JOINED)   # one row per role (NULLs for none)
_ALL_ACTIVE = ROWS.where(_PT.c.active.is_(True)).order_by(_PT.c.id, _RT.c.id)
_COUNT_ACTIVE = select(func.count()).select_from(_PT).where(_PT.c.active.is_(True))
_SPANS = [(cls, slice(a, a + len(t.c)), tuple(t.c.keys())) for cls, t, a in
          ((Person, _PT, 0), (Unit, _PU, len(_PT.c)), (RoleAssignment, _RT, len(_PT.c) + len(_UT.c)),
           (Unit, _RU, len(_PT.c) + len(_UT.c) + len(_RT.c)))]
_PERSON_ID = 0


def build_people(rows: Sequence[Any], units: dict[int, Unit] | None = None) -> list[Person]:
    """Detached people (unit, roles and their units; every column loaded, nothing pending) from rows
    of ROWS ordered by person; one Unit object per unit id across all of them."""
    configure_mappers()   # (a no-op once the ORM has been used; a fresh tool process has not)
    units = {} if units is None else units
    people: list[Person] = []
    person: Person | None = None
    roles: list[RoleAssignment] = []
    for row in rows:
        if person is None or row[_PERSON_ID] != person.id:
            if person is not None:
                _finish(person, roles)
            person = _detached(Person, _SPANS[0], row, units)
            set_committed_value(person, "unit", _detached(Unit, _SPANS[1], row, units))
            people.append(person)
            roles = []
        role = _detached(RoleAssignment, _SPANS[2], row, units)
        if role is not None:
            set_committed_value(role, "unit", _detached(Unit, _SPANS[3], row, units))
            set_committed_value(role, "person", person)
            roles.append(role)
    if person is not None:
        _finish(person, roles)
    for unit in units.values():
        if instance_state(unit).key is None:
            _as_loaded(unit)
    return people


def _finish(person: Person, roles: list[RoleAssignment]) -> None:
    set_committed_value(person, "roles", roles)
    for obj in (person, *roles):
        _as_loaded(obj)


def _as_loaded(obj: Any) -> None:
    """make_transient_to_detached for an object whose columns are all set: the identity key from its id
    (the function derives it through the attribute machinery, half of a 12,000-people build's CPU)."""
    state = instance_state(obj)
    state.key = state.mapper.identity_key_from_primary_key((obj.__dict__["id"],))
    state._commit_all(state.dict)
    unloaded = state.unloaded
    if unloaded:
        state._expire_attributes(state.dict, unloaded)


def _detached(cls: type[Any], span: tuple[Any, slice, tuple[str, ...]], row: Any, units: dict[int, Unit]) -> Any:
    first = row[span[1].start]   # the id
    if first is None:
        return None
    if cls is Unit and first in units:
        return units[first]
    obj = cls.__mapper__.class_manager.new_instance()
    obj.__dict__.update(zip(span[2], row[span[1]], strict=True))
    if cls is Unit:
        units[first] = obj
    return obj


class RosterSnapshot:
    """Every active person of one roster version, by account, by id and by exact name."""

    def __init__(self, version: object, people: Iterable[Person]) -> None:
        self.version = version
        self.built = time.monotonic()
        self.by_id: dict[int, Person] = {}
        self._accounts: dict[tuple[str, str], Person] = {}
        self._wecom_lower: dict[str, Person] = {}
        by_name: dict[str, list[Person]] = {}
        for p in people:
            self.by_id[p.id] = p
            if p.wecom_userid:
                self._accounts[("wecom", p.wecom_userid)] = p
                self._wecom_lower.setdefault(p.wecom_userid.lower(), p)
            if p.dingtalk_userid:
                self._accounts[("dingtalk", p.dingtalk_userid)] = p
            by_name.setdefault(p.name, []).append(p)
        self._by_name = {name: tuple(ps) for name, ps in by_name.items()}

    def __len__(self) -> int:
        return len(self.by_id)

    def sender(self, platform: str, user_id: str) -> Person | None:
        """As bot.identity.load_sender: the platform's id, for WeCom also in any case."""
        if platform == "dingtalk":
            return self._accounts.get(("dingtalk", user_id))
        return self._accounts.get(("wecom", user_id)) or self._wecom_lower.get(user_id.lower())

    def person(self, pid: int) -> Person | None:
        return self.by_id.get(pid)

    def named(self, name: str) -> tuple[Person, ...]:
        return self._by_name.get(name, ())

    def shared(self, names: Iterable[str]) -> set[str]:
        return {n for n in names if len(self._by_name.get(n, ())) > 1}


def build_snapshot(conn: Connection, version: object, max_people: int) -> RosterSnapshot | None:
    """The snapshot of the roster as `conn` sees it now, or None when it has more than `max_people`."""
    if (conn.scalar(_COUNT_ACTIVE) or 0) > max_people:
        return None
    return RosterSnapshot(version, build_people(conn.execute(_ALL_ACTIVE).all()))
