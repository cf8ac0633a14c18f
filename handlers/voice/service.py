"""心声 logic shared by commands, buttons and the SLA job: where a voice goes, the rate limit,
reply delivery through the seal, and the lifecycle (open → replied → closed).

Nothing here logs, audits or returns an anonymous sender: the secretary's side only ever sees
the branch, the text and the state; `deliver_reply` opens the seal to address the outbox row
and drops the person at once.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.config import Config
from bot.context import notify_people
from bot.messages import Reply
from handlers.cases.service import covering_people, level_above, scope_filter
from models.db import rowcount
from models.enums import Role, UnitKind
from models.org import Person, Unit
from models.seal import seal, sender_tag, unseal
from models.voice import Voice, VoiceSeal, VoiceState

__all__ = [
    "WEAK_ANONYMITY_BELOW",
    "branch_of",
    "close",
    "deliver_to_sender",
    "members_of",
    "raise_voice",
    "recent_count",
    "record_reply",
    "secretaries_of",
    "voices_in_scope",
]

WEAK_ANONYMITY_BELOW = 5
TEXT_MAX = 1000


def branch_of(db: Session, person: Person) -> Unit | None:
    """The unit whose secretaries hear this person: the nearest covering secretary's scope,
    else the nearest branch above them."""
    if person.unit is None:
        return None
    levels = covering_people(db, Role.SECRETARY, person.unit)
    for depth_people in levels.values():
        for sec in depth_people:
            for ra in sec.roles:
                if ra.role == Role.SECRETARY.value and ra.unit is not None and ra.unit.contains(person.unit):
                    return ra.unit
    ids = [int(x) for x in person.unit.path.strip("/").split("/") if x]
    units = db.scalars(select(Unit).where(Unit.id.in_(ids), Unit.kind == UnitKind.BRANCH.value)).all()
    return max(units, key=lambda u: len(u.path), default=None)


def members_of(db: Session, unit: Unit) -> int:
    return int(db.scalar(select(func.count()).select_from(Person).join(Unit, Unit.id == Person.unit_id)
                         .where(Person.active.is_(True), Unit.path.like(f"{unit.path}%"))) or 0)


def secretaries_of(db: Session, unit: Unit) -> list[Person]:
    levels = covering_people(db, Role.SECRETARY, unit)
    return next(iter(levels.values()), [])


def recent_count(db: Session, person: Person, now: datetime, hours: float) -> int:
    """Voices this person raised in the last `hours`, counted through the keyed tag only."""
    return int(db.scalar(select(func.count()).select_from(VoiceSeal).join(Voice, Voice.id == VoiceSeal.voice_id)
                         .where(VoiceSeal.sender_tag == sender_tag(person.id),
                                Voice.created_at >= now - timedelta(hours=hours))) or 0)


def raise_voice(db: Session, person: Person, branch: Unit, text: str, *, anonymous: bool, now: datetime) -> Voice:
    """Store the voice and its seal; a named voice also names its sender in the clear."""
    voice = Voice(unit_id=branch.id, unit=branch, anonymous=anonymous, sender_id=None if anonymous else person.id,
                  text=text, created_at=now, sla_since=now, state=VoiceState.OPEN.value)
    db.add(voice)
    db.flush()
    db.add(VoiceSeal(voice_id=voice.id, token=seal(voice.id, person.id), sender_tag=sender_tag(person.id)))
    db.flush()
    return voice


def deliver_to_sender(db: Session, config: Config, voice: Voice, message: Reply, now: datetime) -> bool:
    """Send `message` to whoever raised `voice` (outbox, no ref naming the voice, non-urgent:
    it waits out their quiet hours); False if the sender is gone."""
    token = db.scalar(select(VoiceSeal.token).where(VoiceSeal.voice_id == voice.id))
    pid = unseal(token, voice.id) if token else None
    person = db.get(Person, pid) if pid is not None else None
    if person is None or not person.active:
        return False
    notify_people(db, config, [person], message, now=now)
    return True


def record_reply(db: Session, voice: Voice, by: Person, text: str, now: datetime) -> bool:
    """Store the secretary's reply (a later reply replaces it); False if the voice is closed."""
    done = db.execute(update(Voice).where(Voice.id == voice.id, Voice.state != VoiceState.CLOSED.value)
                      .values(state=VoiceState.REPLIED.value, reply=text, replied_by_id=by.id, replied_at=now,
                              sla_since=now, sla_step=0)
                      .execution_options(synchronize_session=False))
    db.refresh(voice)
    return rowcount(done) == 1


def close(db: Session, voice: Voice, outcome: str | None, now: datetime) -> bool:
    """Close once: a second close (double tap, two secretaries) changes nothing."""
    done = db.execute(update(Voice).where(Voice.id == voice.id, Voice.state != VoiceState.CLOSED.value)
                      .values(state=VoiceState.CLOSED.value, outcome=outcome, closed_at=now)
                      .execution_options(synchronize_session=False))
    db.refresh(voice)
    return rowcount(done) == 1


def voices_in_scope(db: Session, person: Person, *, open_only: bool = True, limit: int = 30) -> list[Voice]:
    cond = scope_filter(person, Role.SECRETARY)
    if cond is None:
        return []
    stmt = select(Voice).join(Unit, Unit.id == Voice.unit_id).where(cond)
    if open_only:
        stmt = stmt.where(Voice.state != VoiceState.CLOSED.value)
    return list(db.scalars(stmt.order_by(Voice.id).limit(limit)))


def escalation_targets(db: Session, voice: Voice) -> list[Person]:
    return level_above(db, voice.unit, Role.SECRETARY)
