"""Helpers for the case tests: a flagged talk saved with the model, and the event emitted.

Until the talks dialog lands this stands in for it: it does what the talks handler does after
saving a flagged talk (ctx.emit("talk.flagged", talk_id=...)) in the same transaction.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select

from bot.context import Context
from bot.messages import Incoming
from models.case import Case
from models.org import Person
from models.talk import Talk, quarter_of


def person(db, uid: str) -> Person:
    return db.scalars(select(Person).where(Person.wecom_userid == uid)).one()


def flag_talk(services, subject: str = "zhangsan", author: str = "zhouli", flag: str = "urgent",
              category: str = "family", platform: str = "sim") -> int:
    """Save a flagged talk and emit talk.flagged; returns the new case id."""
    now = services.clock.now()
    with services.session_factory() as db:
        a, s = person(db, author), person(db, subject)
        talk = Talk(author_id=a.id, subject_id=s.id, kind="special", occurred_at=now, quarter=quarter_of(now),
                    summary="家属住院，情绪低落", flag=flag, category=category, needs="探望慰问")
        db.add(talk)
        db.flush()
        ctx = Context(incoming=Incoming(platform=platform, user_id=author, time=now, message_id=uuid.uuid4().hex),
                      person=a, db=db, config=services.config, registry=services.registry, clock=services.clock)
        ctx.emit("talk.flagged", talk_id=talk.id)
        db.commit()
        return db.scalars(select(Case.id).where(Case.talk_id == talk.id)).one()


def load(services, case_id: int) -> Case:
    with services.session_factory() as db:
        case = db.get(Case, case_id)
        _ = (case.helper, case.decided_by, case.secretary, case.subject)
        _ = [(e.kind, e.from_state, e.to_state, e.actor_id, e.comment) for e in case.events]
        return case
