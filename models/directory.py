"""Name search: exact, partial and pinyin (zhangsan / zs / zhang) matches, active people only."""
from __future__ import annotations

from pypinyin import lazy_pinyin
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .org import Person

__all__ = ["escape_like", "pinyin_key", "search_people"]


def pinyin_key(name: str) -> str:
    """"张三" → "zhangsan zs" (full pinyin, then initials) for case-insensitive matching."""
    syllables = [s.lower() for s in lazy_pinyin(name)]
    return f"{''.join(syllables)} {''.join(s[0] for s in syllables if s)}"


def escape_like(text: str) -> str:
    """Make `%`, `_` and the escape character itself literal in a LIKE pattern (use with escape="\\")."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_people(db: Session, query: str, *, limit: int = 10, within=None) -> list[Person]:
    """Active people whose name (or its pinyin) contains `query` literally; `within` narrows the search."""
    q = query.strip()
    if not q:
        return []
    like = f"%{escape_like(q.lower() if q.isascii() else q)}%"
    name_like = Person.name.like(f"%{escape_like(q)}%", escape="\\")
    conds = [name_like] if not q.isascii() else [Person.name_pinyin.like(like, escape="\\"), name_like]
    stmt = select(Person).where(Person.active.is_(True), or_(*conds))
    if within is not None:
        stmt = stmt.where(within)
    people = list(db.scalars(stmt.order_by(Person.name).limit(limit * 3)))
    # exact names first, then prefix matches, then the rest
    people.sort(key=lambda p: (p.name != q, not p.name.startswith(q), p.name))
    return people[:limit]
