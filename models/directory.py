"""People by name: search (account id, exact, partial and pinyin matches; active people only) and the
display name that tells two people of the same name apart (issue 15: 张伟 and 张伟 are common)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from pypinyin import lazy_pinyin
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from .org import Person

__all__ = ["ROSTER_INDEX", "RosterIndex", "account_of", "display_name", "display_names", "escape_like",
           "person_by_id", "pinyin_key", "roster_index", "search_people"]

ROSTER_INDEX = "lianxin_roster_index"   # session.info key: the worker's roster snapshot of the turn's version


class RosterIndex(Protocol):
    """Every active person of the turn's roster version (bot.roster_snapshot): detached objects shared
    by the worker's threads, to read or to merge a copy of, never to attach."""

    def person(self, pid: int) -> Person | None: ...
    def named(self, name: str) -> tuple[Person, ...]: ...
    def shared(self, names: Iterable[str]) -> set[str]: ...


def roster_index(db: Session) -> RosterIndex | None:
    """The turn's roster snapshot, when its worker has one for the turn's version (the dispatcher sets it)."""
    index: RosterIndex | None = db.info.get(ROSTER_INDEX)
    return index


def person_by_id(db: Session, pid: int, options: Sequence = ()) -> Person | None:
    """A person in `db`: from the roster snapshot without a query when the turn has one and the person
    is active, else loaded (with these loader options)."""
    index = roster_index(db)
    cached = index.person(pid) if index is not None else None
    if cached is not None:
        return db.merge(cached, load=False)
    return db.get(Person, pid, options=options)


def pinyin_key(name: str) -> str:
    """"张三" → "zhangsan zs" (full pinyin, then initials) for case-insensitive matching."""
    syllables = [s.lower() for s in lazy_pinyin(name)]
    return f"{''.join(syllables)} {''.join(s[0] for s in syllables if s)}"


def escape_like(text: str) -> str:
    """Make `%`, `_` and the escape character itself literal in a LIKE pattern (use with escape="\\")."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_people(db: Session, query: str, *, limit: int = 10, within=None, options: Sequence = ()) -> list[Person]:
    """People matching `query`: the one whose account id it is, else names containing it literally
    (exact, prefix, partial, pinyin); `within` narrows the search, `options` are loader options."""
    q = query.strip()
    if not q:
        return []
    if q.isascii() and " " not in q and len(q) <= 64:
        stmt = select(Person).where(Person.active.is_(True), or_(func.lower(Person.wecom_userid) == q.lower(),
                                                                  Person.dingtalk_userid == q))
        if within is not None:
            stmt = stmt.where(within)
        by_account = db.scalars(stmt.options(*options).limit(2)).all()
        if len(by_account) == 1:
            return list(by_account)
    like = f"%{escape_like(q.lower() if q.isascii() else q)}%"
    name_like = Person.name.like(f"%{escape_like(q)}%", escape="\\")
    conds = [name_like] if not q.isascii() else [Person.name_pinyin.like(like, escape="\\"), name_like]
    stmt = select(Person).where(Person.active.is_(True), or_(*conds))
    if within is not None:
        stmt = stmt.where(within)
    people = list(db.scalars(stmt.options(*options).order_by(Person.name, Person.id).limit(limit * 3)))
    # exact names first, then prefix matches, then the rest
    people.sort(key=lambda p: (p.name != q, not p.name.startswith(q), p.name, p.id))   # same names: a stable order
    return people[:limit]


def account_of(person: Person) -> str:
    """The account id people can type instead of the name (WeCom first)."""
    return person.wecom_userid or person.dingtalk_userid or ""


def _with_detail(person: Person, account: bool = True) -> str:
    unit = person.unit.name if person.unit else "未分配单位"
    if not account:
        return f"{person.name}（{unit}）"
    acc = account_of(person)
    if len(acc) > 12:
        acc = "…" + acc[-6:]
    return f"{person.name}（{unit}" + (f"·{acc}）" if acc else f"·#{person.id}）")


# built once (every confirmation card and list of people asks it)
_SHARED_NAMES = (select(Person.name).where(Person.name.in_(bindparam("names", expanding=True)), Person.active.is_(True))
                 .group_by(Person.name).having(func.count() > 1))


def display_names(db: Session, people: Iterable[Person | tuple[int, str]], *, always: bool = False) -> dict[int, str]:
    """person id → the name to show: the bare name, or "张伟（部件二班组·zhangwei2）" when another active
    person has the same name. `always` (a list to choose from, a confirmation): "张三（四车间班组）" for
    the others too. `people` are rows or (id, name) pairs (a reminder's list); one query for the
    shared names, one for their details."""
    rows = [p for p in people if p is not None]
    pairs = [(p.id, p.name) if isinstance(p, Person) else (p[0], p[1]) for p in rows]
    names = {name for _, name in pairs}
    index = roster_index(db)
    shared: set[str] = set()
    if index is not None:
        shared = index.shared(names)
    elif names:
        listed = sorted(names)
        for i in range(0, len(listed), 5000):
            shared.update(db.scalars(_SHARED_NAMES, {"names": listed[i:i + 5000]}))
    wanted = {pid for pid, name in pairs if always or name in shared}
    loaded = {p.id: p for p in rows if isinstance(p, Person) and p.id in wanted}
    if index is not None:   # read only (the snapshot's objects are never attached)
        loaded.update({pid: p for pid in wanted - loaded.keys() if (p := index.person(pid)) is not None})
    if wanted - loaded.keys():
        loaded.update({p.id: p for p in db.scalars(select(Person).where(Person.id.in_(wanted - loaded.keys())))})
    return {pid: _with_detail(loaded[pid], name in shared) if pid in loaded else name for pid, name in pairs}


def display_name(db: Session, person: Person | None, *, always: bool = False) -> str:
    """One person's display name (see display_names); "—" for nobody."""
    if person is None:
        return "—"
    return display_names(db, [person], always=always)[person.id]
