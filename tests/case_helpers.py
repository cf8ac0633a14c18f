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


ANSWERS = (("关爱类型", "其他"), ("慰问事由", "生病住院"), ("金额", "无"), ("35 岁", "否"), ("关爱需求", "家属住院，需探望慰问"),
           ("证明材料", "好了"), ("告知本人", "告知本人"), ("确认提交", "确认"))


def answer_care_form(say, user: str, text: str, **answers: str) -> str:
    """Answer whatever the care form asks after `text` (answers: prompt word → reply, over the
    defaults); returns the last reply text (which says whether the request was submitted)."""
    table = dict(ANSWERS) | answers
    for _ in range(10):
        head = text.split("\n\n")[-1].splitlines()[0] if text else ""
        asked = [reply for word, reply in table.items() if word in head]
        if "已提交关爱申请" in text or "已直接批准" in text or not asked:
            return text
        text = say(user, asked[0])
    return text


def request_care(say, user: str, target, line: str = "其他 家属住院，需探望慰问", **answers: str) -> str:
    """`关爱申请 <target> <line>`, then the rest of the form (see answer_care_form)."""
    return answer_care_form(say, user, say(user, f"关爱申请 {target} {line}".strip()), **answers)


def sim_say(sim):
    return lambda user, text: sim.say(user, text).text


def fill_care_form(say, user: str, need: str = "家属住院，需探望慰问") -> str:
    """Answer the care form's steps in order (type 其他, no amount, not youth, need, no photos, tell, confirm)
    on platforms whose question cards travel through the outbox; returns the last reply."""
    text = ""
    for answer in ("其他", "无", "否", need, "好了", "告知本人", "确认"):
        text = say(user, answer)
    return text


def edit_flag(services, case_id: int, flag: str, category: str | None = None, editor: str = "zhouli") -> None:
    """What an edit of the flagged talk does after saving: the new flag, and talk.flag_changed."""
    now = services.clock.now()
    with services.session_factory() as db:
        talk = db.get(Talk, db.get(Case, case_id).talk_id)
        talk.flag, talk.category = flag, category if flag != "none" else None
        db.flush()
        ctx = Context(incoming=Incoming(platform="sim", user_id=editor, time=now, message_id=uuid.uuid4().hex),
                      person=person(db, editor), db=db, config=services.config, registry=services.registry,
                      clock=services.clock)
        ctx.emit("talk.flag_changed", talk_id=talk.id)
        db.commit()
