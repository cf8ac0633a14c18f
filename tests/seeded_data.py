"""The hand-seeded data set behind the stats, report and dashboard tests (the `seeded` fixture).

Demo organisation (bot.cli.demo) plus, relative to NOW = 2026-11-20 02:00 UTC: talks in 2026Q3/Q4
with flags, three learning materials and who studied them, active days, four cases at known SLA
positions and five activities with sign-ups and attendance. tests/reports/test_stats.py computes the
expected numbers by hand.
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.cli.demo import BRANCH_A, BRANCH_B, COMMITTEE
from models.activeday import mark_active
from models.learning import Material, MaterialRead
from models.org import Person, Unit
from models.talk import Talk

Q4 = "2026Q4"
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _talk(db, people, author, subject, when, quarter, flag="none", category=None):
    db.add(Talk(author_id=people[author].id, subject_id=people[subject].id, kind="quarterly", occurred_at=when,
                quarter=quarter, summary="秘密纪要 <script>alert(1)</script>", mood="stable", flag=flag,
                category=category))


def seed(db) -> dict[str, Person]:
    """The seeded data set used by the stats, report and dashboard tests."""
    people = {p.wecom_userid: p for p in db.scalars(select(Person))}
    q4 = datetime(2026, 10, 15, 2, 0, tzinfo=UTC)
    q3 = datetime(2026, 8, 15, 2, 0, tzinfo=UTC)
    # 2026Q4 talks: 四车间 zhangsan (twice), lisi, wangwu → 3/6; 五车间 zhengyi → 1/5;
    # 部件一 all five → 5/5; 部件二 none → 0/5; a talk with the leader zhouli does not count.
    _talk(db, people, "zhouli", "zhangsan", q4, Q4, "watch", "pay")
    _talk(db, people, "zhouli", "zhangsan", q4, Q4)
    _talk(db, people, "zhouli", "lisi", q4, Q4)
    _talk(db, people, "zhouli", "wangwu", q4, Q4, "urgent", "family")
    _talk(db, people, "liqiang", "zhouli", q4, Q4)
    _talk(db, people, "wugang", "zhengyi", q4, Q4)
    _talk(db, people, "hanmei", "yangfan", q4, Q4, "watch", "health")
    for uid in ("zhuhong", "qinlei", "youlan", "xuming"):
        _talk(db, people, "hanmei", uid, q4, Q4)
    # 2026Q3: one flagged talk in 四车间
    _talk(db, people, "zhouli", "zhaoliu", q3, "2026Q3", "watch", "pay")
    units = {u.full_name: u for u in db.scalars(select(Unit))}
    m1 = Material(title="党章学习", text="第一章", audience_unit_id=units[BRANCH_A].id, publisher_id=people["liqiang"].id,
                  published_at=datetime(2026, 10, 2, 1, 0, tzinfo=UTC))
    m2 = Material(title="二十大报告", text="全文", audience_unit_id=units[COMMITTEE].id,
                  publisher_id=people["wangwei"].id, published_at=datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    m3 = Material(title="旧材料", text="Q3", audience_unit_id=units[BRANCH_B].id, publisher_id=people["chenjing"].id,
                  published_at=datetime(2026, 9, 2, 1, 0, tzinfo=UTC))
    db.add_all([m1, m2, m3])
    db.flush()
    t = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
    for uid, m, studied in (("zhangsan", m1, True), ("lisi", m1, False), ("zhangsan", m2, True),
                            ("yangfan", m2, True), ("chenjing", m2, False), ("qinlei", m3, True)):
        db.add(MaterialRead(person_id=people[uid].id, material_id=m.id, opened_at=t, studied_at=t if studied else None))
    for uid, day in (("zhangsan", datetime(2026, 10, 8, 3, tzinfo=UTC)),
                     ("zhangsan", datetime(2026, 11, 8, 3, tzinfo=UTC)),
                     ("lisi", datetime(2026, 11, 9, 3, tzinfo=UTC)),
                     ("liqiang", datetime(2026, 12, 31, 16, 30, tzinfo=UTC)),   # 2027-01-01 00:30 local: Q1
                     ("chenjing", datetime(2026, 12, 31, 15, 59, tzinfo=UTC)),  # 2026-12-31 23:59 local: Q4
                     ("zhaoliu", datetime(2026, 8, 1, 3, tzinfo=UTC))):
        mark_active(db, people[uid].id, day)
        mark_active(db, people[uid].id, day)   # idempotent
    db.flush()
    seed_cases_and_activities(db, people, units)
    return people


def _at(month, day, hour=2):
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def seed_cases_and_activities(db, people, units):
    """Cases (SLA: urgent 4 h, watch 48 h to acknowledge) and activities, relative to NOW = 11-20 02:00 UTC."""
    from models.activity import Activity, Attendance, Signup
    from models.case import Case, CaseEvent

    talks = {(t.subject.wecom_userid, t.flag): t for t in db.scalars(select(Talk)) if t.flag != "none"}

    def case(subject, talk, flag, created, state, since, events):
        p = people[subject]
        c = Case(talk_id=talk.id if talk else None, subject_id=p.id, unit_id=p.unit_id, flag=flag, state=state,
                 created_at=created, state_since=since, sla_since=since)
        db.add(c)
        db.flush()
        for frm, to, at in events:
            db.add(CaseEvent(case_id=c.id, at=at, kind="transition", from_state=frm, to_state=to))
        return c

    # 1: watch talk, acknowledged after 8 h (in time), closed
    case("zhangsan", talks[("zhangsan", "watch")], "watch", _at(10, 15), "closed", _at(10, 20),
         [("reported", "acknowledged", _at(10, 15, 10)), ("acknowledged", "closed", _at(10, 20))])
    # 2: urgent talk, acknowledged after 6 h (late), care request approved, helper assigned 10-18 (progress SLA 168 h: overdue)
    case("wangwu", talks[("wangwu", "urgent")], "urgent", _at(10, 15), "helper_assigned", _at(10, 18),
         [("reported", "acknowledged", _at(10, 15, 8)), ("acknowledged", "care_requested", _at(10, 16)),
          ("care_requested", "approved", _at(10, 17)), ("approved", "helper_assigned", _at(10, 18))])
    # 3: branch B, watch talk reported 24 h ago: within its SLA, not judged yet
    case("yangfan", talks[("yangfan", "watch")], "watch", _at(11, 19), "reported", _at(11, 19), [])
    # 4: a care request opened directly on 11-01 (approval SLA 72 h: overdue)
    case("lisi", None, "watch", _at(11, 1), "care_requested", _at(11, 1), [(None, "care_requested", _at(11, 1))])

    def activity(title, audience, starts, status="closed"):
        a = Activity(title=title, starts_at=starts, ends_at=starts, deadline=starts, audience_unit_id=units[audience].id,
                     organiser_id=people["liqiang"].id, created_by_id=people["liqiang"].id, status=status,
                     checkin_code="123456", created_at=_at(10, 1))
        db.add(a)
        db.flush()
        return a

    a1 = activity("支部活动", BRANCH_A, _at(10, 20))
    a2 = activity("班组活动", BRANCH_A + "/四车间班组", _at(11, 10))
    activity("取消的活动", BRANCH_A, _at(10, 25), status="cancelled")
    a4 = activity("党委志愿服务", COMMITTEE, _at(11, 5))
    a5 = activity("将来的活动", BRANCH_A, _at(12, 10), status="open")
    for uid, a in (("zhangsan", a1), ("lisi", a1), ("wangwu", a1), ("zhangsan", a2), ("yangfan", a4),
                   ("zhengyi", a4), ("zhangsan", a5)):
        db.add(Signup(activity_id=a.id, person_id=people[uid].id, status="confirmed"))
    for uid, a in (("zhangsan", a1), ("lisi", a1), ("zhangsan", a2), ("yangfan", a4), ("zhengyi", a4)):
        db.add(Attendance(activity_id=a.id, person_id=people[uid].id, method="code"))
    db.flush()
