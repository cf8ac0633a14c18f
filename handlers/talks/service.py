"""Talk records: create, edit (versions), look up, read with audit. Functions take the session first.

Nothing here logs or raises with note text: summaries and needs only travel inside Talk rows
(encrypted by EncryptedText) and, during a dialog, as Fernet tokens in the form answers.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast, overload

from sqlalchemy import Table, bindparam, exists, insert, or_, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session, aliased, defer, lazyload, make_transient_to_detached

from models.audit import audit, audit_values, write_audits
from models.crypto import current_cipher
from models.directory import person_by_id, roster_index, search_people
from models.enums import Role
from models.org import Person, Unit
from models.policy import can, scopes
from models.talk import Flag, Talk, TalkVersion, quarter_of

log = logging.getLogger("lianxin.talks")

__all__ = [
    "Candidates",
    "TalkError",
    "candidates",
    "edit_deadline",
    "edit_talk",
    "open_flagged",
    "read_talk",
    "readable_talks",
    "record_talk",
    "seal",
    "subject_of",
    "unseal",
]


# a talk's subject as the policy reads it (unit, not roles): no second query for the roles
SUBJECT_ONLY = (lazyload(Person.roles),)


class TalkError(ValueError):
    """A user-facing refusal (edit window over, not the author, …); never contains note text."""


# --- note text inside dialog state: sealed with the notes cipher (Redis never holds plaintext) --

@overload
def seal(text: str) -> str: ...
@overload
def seal(text: None) -> None: ...
def seal(text: str | None) -> str | None:
    if text is None:
        return None
    return current_cipher().encrypt(text.encode("utf-8")).decode("ascii")


@overload
def unseal(token: str) -> str: ...
@overload
def unseal(token: str | None) -> str | None: ...
def unseal(token: str | None) -> str | None:
    if token is None:
        return None
    return current_cipher().decrypt(token.encode("ascii")).decode("utf-8")


# --- people -----------------------------------------------------------------------------------

@dataclass
class Candidates:
    allowed: list[Person]       # matches the author may record a talk with
    refused: list[Person]       # matches outside the author's teams / branch


def candidates(db: Session, author: Person, query: str, limit: int = 8) -> Candidates:
    """Search by name (exact, partial, pinyin) and split matches by the policy (talk.record)."""
    paths = [u.path for u in scopes(author, Role.TEAM_LEADER, Role.SECRETARY) if u.path]
    one = _one_exact(db, author, query.strip(), tuple(paths))
    if one is not None:
        return Candidates(allowed=[one], refused=[])
    allowed: list[Person] = []
    if paths:
        within = Person.unit_id.in_(select(Unit.id).where(or_(*[Unit.path.like(f"{p}%") for p in paths])))
        allowed = [p for p in search_people(db, query, limit=limit, within=within, options=SUBJECT_ONLY)
                   if can(author, "talk.record", p)]
    refused: list[Person] = []
    if not allowed:
        refused = [p for p in search_people(db, query, limit=3) if not can(author, "talk.record", p)]
    exact = [p for p in allowed if p.name == query.strip()]
    return Candidates(allowed=exact if len(exact) == 1 else allowed, refused=refused)


def _one_exact(db: Session, author: Person, name: str, paths: tuple[str, ...]) -> Person | None:
    """The one person of exactly this name the author may record a talk with, found in the turn's
    roster snapshot without a query (the search below would answer the same); None: search."""
    index = roster_index(db)
    if index is None or not paths:
        return None
    exact = [p for p in index.named(name)
             if p.unit is not None and p.unit.path.startswith(paths) and can(author, "talk.record", p)]
    return db.merge(exact[0], load=False) if len(exact) == 1 else None


def subject_of(db: Session, pid: int) -> Person:
    """A talk's subject (from the roster snapshot when the turn has one); NoResultFound if unknown."""
    person = person_by_id(db, pid, options=SUBJECT_ONLY)
    if person is None:
        raise NoResultFound(f"no person {pid}")
    return person


_FOLLOW = aliased(Talk)
# built once: adapting a fresh alias cost more CPU than the query itself (every one-line 谈话 asks
# it); one table, no notes: the subject (for the policy) is in the session already, the author is
# read by id, and nobody shows these talks' notes
_OPEN_FLAGGED = (select(Talk).where(Talk.subject_id == bindparam("subject_id"), Talk.flag != Flag.NONE,
                                    ~exists().where(_FOLLOW.follows_up_id == Talk.id))
                 .options(lazyload(Talk.author), lazyload(Talk.subject), defer(Talk.summary), defer(Talk.needs))
                 .order_by(Talk.occurred_at.desc()).limit(bindparam("limit")))


def open_flagged(db: Session, subject_id: int, limit: int = 4) -> list[Talk]:
    """Flagged talks with the person that no later talk follows up yet (newest first; their notes
    are loaded only if read)."""
    return list(db.scalars(_OPEN_FLAGGED, {"subject_id": subject_id, "limit": limit}))


# --- writing ----------------------------------------------------------------------------------

# Core statements, built once: a talk is one INSERT … RETURNING id, a version one INSERT, without
# the unit of work (summary and needs are still encrypted by their column type, EncryptedText)
_TALK, _VERSION = cast(Table, Talk.__table__), cast(Table, TalkVersion.__table__)
_INSERT_TALK = insert(_TALK).returning(_TALK.c.id)
_INSERT_VERSION = insert(_VERSION)


def record_talk(db: Session, *, author: Person, subject: Person, kind: str, summary: str, mood: str,
                flag: str, category: str | None, needs: str | None, occurred_at: datetime, tz: str,
                follows_up_id: int | None = None, via: str = "", entered_at: datetime | None = None,
                late_reason: str | None = None, media_ids: list[str] | None = None) -> Talk:
    """Create a talk (quarter of `occurred_at` in the company's time zone) and its audit row; the
    caller emits events. `entered_at` (default: occurred_at) is when it was recorded; `media_ids`
    are a home visit's photos (platform media ids: stored, counted in the audit, never logged)."""
    if not can(author, "talk.record", subject):
        raise TalkError(f"您不能为{subject.name}记录谈话（不在您负责的范围内）。")
    if follows_up_id:
        original = db.get(Talk, follows_up_id)
        if original is None or original.subject_id != subject.id or not can(author, "talk.read", original):
            raise TalkError(f"跟进的谈话 #{follows_up_id} 不存在或不是与{subject.name}的谈话。")
    values = dict(author_id=author.id, subject_id=subject.id, kind=kind, occurred_at=occurred_at,
                  quarter=quarter_of(occurred_at, tz), summary=summary, mood=mood, flag=flag,
                  category=category if flag != Flag.NONE else None, needs=needs or None,
                  follows_up_id=follows_up_id or None, version=1, disputed=False, late_reason=late_reason or None,
                  media_ids=list(media_ids or []),
                  created_at=entered_at or occurred_at, updated_at=entered_at or occurred_at)
    # One INSERT … RETURNING id instead of the unit of work (the summary and needs are still
    # encrypted by their column type); the row then joins the session as if loaded, so that
    # db.get(Talk, id) later in the turn (events, 抽查回访) finds it without a query.
    talk = Talk(id=db.connection().execute(_INSERT_TALK, values).scalar_one(), **values)
    make_transient_to_detached(talk)
    db.add(talk)
    write_audits(db, [audit_values(actor_id=author.id, action="create", target_type="talk", target_id=talk.id,
                                   via=via, detail=f"subject={subject.id} kind={kind} flag={flag}"
                                   + (f" photos={len(media_ids)}" if media_ids else ""))])
    log.info("talk.recorded", extra={"talk": talk.id, "author": author.id, "subject": subject.id, "flag": flag})
    return talk


def edit_deadline(talk: Talk, hours: int) -> datetime:
    return talk.created_at + timedelta(hours=hours)


def check_editable(talk: Talk | None, editor: Person, now: datetime, hours: int) -> Talk:
    if talk is None:
        raise TalkError("没有这条谈话记录。")
    if talk.author_id != editor.id:
        raise TalkError("只有记录人本人可以修改这条谈话。")
    if now > edit_deadline(talk, hours):
        raise TalkError(f"谈话只能在记录后 {hours} 小时内修改，这条已超过期限，不能再修改。"
                        "如有补充，请另记一次谈话并注明“跟进:{talk.id}”。".replace("{talk.id}", str(talk.id)))
    return talk


def edit_talk(db: Session, talk: Talk, *, editor: Person, now: datetime, hours: int, kind: str, summary: str,
              mood: str, flag: str, category: str | None, needs: str | None, via: str = "") -> Talk:
    """Keep the current content as a TalkVersion, then apply the new content (author, within the window)."""
    check_editable(talk, editor, now, hours)
    db.execute(_INSERT_VERSION, dict(talk_id=talk.id, version=talk.version, edited_by_id=editor.id, edited_at=now,
                                     kind=talk.kind, summary=talk.summary, mood=talk.mood, flag=talk.flag,
                                     category=talk.category, needs=talk.needs))
    was_flagged = talk.flag != Flag.NONE
    talk.kind, talk.summary, talk.mood, talk.flag = kind, summary, mood, flag
    talk.category = category if flag != Flag.NONE else None
    talk.needs = needs or None
    talk.version += 1
    talk.updated_at = now
    db.flush()
    audit(db, actor_id=editor.id, action="update", target_type="talk", target_id=talk.id, via=via,
          detail=f"version={talk.version} flag={flag}")
    log.info("talk.edited", extra={"talk": talk.id, "editor": editor.id, "version": talk.version})
    talk._newly_flagged = (not was_flagged) and flag != Flag.NONE  # type: ignore[attr-defined]
    return talk


# --- reading (every read is audited) ----------------------------------------------------------

def readable_talks(db: Session, reader: Person, subject_ids: list[int], limit: int = 200) -> list[Talk]:
    """Talks with these people that the policy lets `reader` read, newest first (not yet audited)."""
    if not subject_ids:
        return []
    rows = db.scalars(select(Talk).where(Talk.subject_id.in_(subject_ids))
                      .order_by(Talk.occurred_at.desc(), Talk.id.desc()).limit(limit))
    return [t for t in rows if can(reader, "talk.read", t)]


def read_talk(db: Session, reader: Person, talk: Talk, via: str) -> None:
    """Write the audit row for one read of a talk's notes (who, which talk, when, through what)."""
    audit(db, actor_id=reader.id, action="read", target_type="talk", target_id=talk.id, via=via)
