"""2,000 people click 报名 at once for 50 seats, on SQLite (file) and on PostgreSQL.

The clicks go through the whole dispatcher (dedupe, per-user lock, transaction, policy, handler,
outbox row for the card update) from a thread pool. Exactly 50 get a seat, 1,950 are queued in
a gap-free order, nobody appears twice, and repeated or re-delivered clicks change nothing.
"""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from bot.cli.demo import BRANCH_A
from bot.messages import Incoming
from handlers.activities import service
from models.activity import Activity, Signup
from models.db import session_scope
from models.org import Person
from models.orgtree import ensure_unit_path

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PEOPLE = 2000
SEATS = 50


def make_storm(services, people: int = PEOPLE, seats: int = SEATS) -> tuple[int, list[str]]:
    """A unit with `people` members and an activity for it with `seats` seats."""
    with session_scope(services.session_factory) as db:
        unit = ensure_unit_path(db, f"{BRANCH_A}/青年突击队")
        users = [f"s{i:05d}" for i in range(people)]
        db.execute(insert(Person), [{"name": f"队员{i}", "name_pinyin": "", "wecom_userid": u,
                                     "dingtalk_userid": f"dt_{u}", "unit_id": unit.id, "active": True,
                                     "is_party_member": False} for i, u in enumerate(users)])
        organiser = db.scalars(select(Person).where(Person.wecom_userid == "liqiang")).one()
        act = service.create_activity(db, creator=organiser, organiser=organiser, title="抢票测试", kind="youth",
                                      starts_at=T0 + timedelta(days=3), ends_at=T0 + timedelta(days=3, hours=2),
                                      place="机库", seats=seats, deadline=T0 + timedelta(days=2), audience=unit)
        return act.id, users


def click(services, user: str, activity_id: int, message_id: str):
    return services.dispatcher.handle(Incoming(
        platform="wecom", user_id=user, time=T0, message_id=message_id, action=f"act:{activity_id}:join",
        card_id=f"act{activity_id}_storm_0", response_code=f"RC-{message_id}"))


def test_2000_concurrent_clicks_for_50_seats(services, clock):
    clock.set(T0)
    act_id, users = make_storm(services)
    # every user clicks once; 200 click a second time; 100 deliveries are re-sent by the platform
    clicks = [(u, f"{u}-1") for u in users]
    clicks += [(u, f"{u}-2") for u in users[::10]]
    clicks += [(u, f"{u}-1") for u in users[5::20]]
    random.Random(7).shuffle(clicks)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda c: click(services, c[0], act_id, c[1]), clicks))

    texts = [o.text for o in outcomes if not o.duplicate]
    assert sum(1 for o in outcomes if o.duplicate) == 100
    assert sum("报名成功" in t for t in texts) == SEATS
    assert sum("进入候补" in t for t in texts) == PEOPLE - SEATS
    assert sum("无需重复报名" in t for t in texts) == 200
    with services.session_factory() as db:
        rows = db.execute(select(Signup.person_id, Signup.status).where(Signup.activity_id == act_id)
                          .order_by(Signup.id)).all()
        act = db.get(Activity, act_id)
        assert act.seats_taken == SEATS
    assert len(rows) == PEOPLE and len({p for p, _ in rows}) == PEOPLE          # nobody twice
    assert [s for _, s in rows].count("confirmed") == SEATS
    assert [s for _, s in rows].count("waitlisted") == PEOPLE - SEATS


def test_cancellations_racing_joins_never_oversell(services, clock):
    """Half the seat holders cancel while 300 latecomers join: seats stay full, queue moves up."""
    clock.set(T0)
    act_id, users = make_storm(services, people=400, seats=SEATS)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda u: click(services, u, act_id, f"{u}-1"), users[:100]))   # 50 seats + 50 queued
    with services.session_factory() as db:
        holders = [db.get(Person, p).wecom_userid for p in db.scalars(
            select(Signup.person_id).where(Signup.activity_id == act_id, Signup.status == "confirmed"))]

    def leave(user: str):
        return services.dispatcher.handle(Incoming(platform="wecom", user_id=user, time=T0,
                                                   message_id=f"{user}-leave", action=f"act:{act_id}:leaveok"))  # confirmed
    jobs = [("leave", u) for u in holders[:25]] + [("join", u) for u in users[100:]]
    random.Random(3).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda j: leave(j[1]) if j[0] == "leave" else click(services, j[1], act_id, f"{j[1]}-1"), jobs))
    with services.session_factory() as db:
        counts = dict(db.execute(select(Signup.status, func.count()).where(Signup.activity_id == act_id)
                                 .group_by(Signup.status)).all())
        assert db.get(Activity, act_id).seats_taken == SEATS
    assert counts == {"confirmed": SEATS, "waitlisted": 400 - SEATS - 25, "cancelled": 25}
