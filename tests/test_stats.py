"""Statistics (reports.queries) on a hand-seeded data set; the expected numbers are computed by hand.

Demo organisation (bot.cli.demo): branch A (外航维修党支部) has teams 四车间 (leader + 6 members) and
五车间 (leader + 5); branch B (附件修理党支部) has 部件一 (leader + 5) and 部件二 (leader + 5).
Team leaders are not counted as members (reports.queries.coverage). People per unit subtree, all active:
branch A 14 (secretary + 13), branch B 13, committee 30 (3 at the committee itself).
"""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.cli.demo import BRANCH_A, BRANCH_B, COMMITTEE
from models.activeday import mark_active
from models.db import session_scope
from models.learning import Material, MaterialRead
from models.org import Person, Unit
from models.orgtree import find_unit
from models.talk import Talk
from reports.queries.learning import learning_completion, material_completion
from reports.queries.people import active_users
from reports.queries.summary import dashboard, scope_summary
from reports.queries.talks import coverage, coverage_total, flag_trend, flags_by_category

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


@pytest.fixture
def seeded(services, clock):
    clock.set(NOW)
    with session_scope(services.session_factory) as db:
        seed(db)
    return services


def _u(db, path):
    return find_unit(db, path)


def test_coverage_per_team_branch_committee(seeded):
    with seeded.session_factory() as db:
        committee = _u(db, COMMITTEE)
        teams = {r.name: (r.talked, r.members) for r in coverage(db, committee, Q4, "team")}
        assert teams == {"四车间班组": (3, 6), "五车间班组": (1, 5), "部件一班组": (5, 5), "部件二班组": (0, 5)}
        branches = {r.name: (r.talked, r.members) for r in coverage(db, committee, Q4, "branch")}
        assert branches == {"外航维修党支部": (4, 11), "附件修理党支部": (5, 10)}
        rows = coverage(db, committee, Q4, "committee")
        assert [(r.name, r.talked, r.members) for r in rows] == [("技术公司党委", 9, 21)]
        total = coverage_total(db, committee, Q4)
        assert (total.talked, total.members, round(total.rate, 4)) == (9, 21, round(9 / 21, 4))
        a = _u(db, BRANCH_A)
        assert (coverage_total(db, a, Q4).talked, coverage_total(db, a, Q4).members) == (4, 11)
        # another quarter: only zhaoliu in 2026Q3
        assert coverage_total(db, committee, "2026Q3").talked == 1


def test_flags_by_category_and_trend(seeded):
    with seeded.session_factory() as db:
        committee = _u(db, COMMITTEE)
        assert flags_by_category(db, committee, Q4) == {"pay": {"watch": 1}, "family": {"urgent": 1},
                                                        "health": {"watch": 1}}
        assert flags_by_category(db, _u(db, BRANCH_B), Q4) == {"health": {"watch": 1}}
        trend = flag_trend(db, committee, ["2026Q2", "2026Q3", "2026Q4"])
        assert trend == {"2026Q2": {"watch": 0, "urgent": 0}, "2026Q3": {"watch": 1, "urgent": 0},
                         "2026Q4": {"watch": 2, "urgent": 1}}


def test_learning_completion(seeded):
    with seeded.session_factory() as db:
        committee = _u(db, COMMITTEE)
        total, rows = learning_completion(db, committee, Q4, "branch")
        # M1 → branch A (14 people), M2 → committee (30 people); M3 is 2026Q3
        assert (total.assigned, total.opened, total.studied) == (44, 5, 3)
        by = {r.name: (r.assigned, r.opened, r.studied) for r in rows}
        assert by == {"外航维修党支部": (28, 3, 2), "附件修理党支部": (13, 2, 1)}
        a_total, _ = learning_completion(db, _u(db, BRANCH_A), Q4, "team")
        assert (a_total.assigned, a_total.studied) == (28, 2)
        q3, _ = learning_completion(db, committee, "2026Q3")
        assert (q3.assigned, q3.studied) == (13, 1)
        m2 = db.scalars(select(Material).where(Material.title == "二十大报告")).one()
        t, rows = material_completion(db, m2)
        assert (t.assigned, t.opened, t.studied) == (30, 3, 2)
        assert {r.name: (r.assigned, r.studied) for r in rows} == {"外航维修党支部": (14, 1), "附件修理党支部": (13, 1)}


def test_active_users_by_local_day(seeded):
    with seeded.session_factory() as db:
        committee = _u(db, COMMITTEE)
        # Q4 local days: zhangsan (twice), lisi, chenjing (2026-12-31 23:59 local); liqiang's
        # 2026-12-31 16:30 UTC is 2027-01-01 00:30 local (Q1 2027); zhaoliu was active in Q3 only.
        assert active_users(db, committee, date(2026, 10, 1), date(2026, 12, 31)) == (3, 30)
        assert active_users(db, committee, date(2027, 1, 1), date(2027, 3, 31)) == (1, 30)
        assert active_users(db, _u(db, BRANCH_A), date(2026, 10, 1), date(2027, 3, 31)) == (3, 14)


def test_scope_summary_and_dashboard_use_the_same_numbers(seeded):
    with seeded.session_factory() as db:
        a = _u(db, BRANCH_A)
        s = scope_summary(db, a, Q4)
        assert (s.coverage.talked, s.coverage.members) == (4, 11)
        assert [(r.name, r.talked, r.members) for r in s.coverage_rows] == [("五车间班组", 1, 5), ("四车间班组", 3, 6)]
        assert s.flag_total == 2 and s.active == (2, 14)  # zhangsan, lisi
        d = dashboard(db, _u(db, COMMITTEE), Q4)
        assert d.level == "branch" and list(d.trend) == ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
        assert [(r.name, r.talked) for r in d.coverage_rows] == [("外航维修党支部", 4), ("附件修理党支部", 5)]


def test_stats_command_secretary_and_committee(seeded, sim):
    out = sim.say("liqiang", "统计")
    text = out.text
    assert "外航维修党支部 · 2026Q4 统计" in text
    assert "谈心谈话覆盖：4/11（36%）" in text
    assert "四车间班组 3/6（50%）" in text and "五车间班组 1/5（20%）" in text
    assert "预警谈话：关注 1 · 紧急 1" in text
    assert "学习完成：2/28（7%）" in text
    assert "关爱帮扶个案：本季度新增 3，在办 2，超时 2" in text
    assert "活动：本季度已举办 2 场，签到 4 人次，参与 3/14 人" in text
    assert "/dashboard/login#t=" in text
    out = sim.say("wangwei", "统计")
    assert "技术公司党委 · 2026Q4 统计" in out.text and "谈心谈话覆盖：9/21（43%）" in out.text
    assert "外航维修党支部 4/11（36%）" in out.text and "附件修理党支部 5/10（50%）" in out.text
    out = sim.say("wangwei", "统计 2026Q3 外航维修党支部")
    assert "外航维修党支部 · 2026Q3 统计" in out.text and "谈心谈话覆盖：1/11（9%）" in out.text


def test_stats_refused_outside_scope(seeded, sim):
    assert "仅对有相应职责的同志开放" in sim.say("zhangsan", "统计").text
    assert "无权查看该单位的统计" in sim.say("liqiang", "统计 附件修理党支部").text
    assert "没有找到单位" in sim.say("liqiang", "统计 不存在的支部").text


def test_messages_mark_people_active(services, clock, sim):
    clock.set(NOW)
    sim.say("zhangsan", "帮助")
    sim.say("zhangsan", "帮助")
    with services.session_factory() as db:
        assert active_users(db, _u(db, COMMITTEE), date(2026, 11, 20), date(2026, 11, 20)) == (1, 30)


def test_cases_funnel_states_ages_overdue(seeded):
    from models.quarters import quarter_bounds
    from reports.queries.cases import case_funnel, cases_by_state, open_case_ages, overdue_cases
    from reports.render.labels import age_rows, funnel_rows

    start, end = quarter_bounds(Q4)
    with seeded.session_factory() as db:
        committee = _u(db, COMMITTEE)
        assert funnel_rows(case_funnel(db, committee, start, end)) == [
            ("上报", 4), ("已处理", 2), ("关爱申请", 2), ("已同意", 1), ("已指派帮扶人", 1), ("已结案", 1)]
        assert funnel_rows(case_funnel(db, _u(db, BRANCH_B), start, end)) == [
            ("上报", 1), ("已处理", 0), ("关爱申请", 0), ("已同意", 0), ("已指派帮扶人", 0), ("已结案", 0)]
        assert cases_by_state(db, committee) == {"closed": 1, "helper_assigned": 1, "reported": 1, "care_requested": 1}
        assert age_rows(open_case_ages(db, committee, NOW)) == [("7天内", 1), ("7–30天", 1), ("30–90天", 1), ("90天以上", 0)]
        assert overdue_cases(db, committee, NOW, seeded.config) == 2
        assert overdue_cases(db, _u(db, BRANCH_B), NOW, seeded.config) == 0


def test_activities_held_and_participation(seeded):
    from models.quarters import quarter_bounds
    from reports.queries.activities import activity_stats

    start, end = quarter_bounds(Q4)
    with seeded.session_factory() as db:
        total, rows = activity_stats(db, _u(db, COMMITTEE), start, end, NOW)
        assert (total.held, total.signups, total.attended, total.participants, total.people) == (3, 6, 5, 4, 30)
        by = {r.name: (r.held, r.signups, r.attended, r.participants, r.people) for r in rows}
        assert by == {"外航维修党支部": (2, 5, 4, 3, 14), "附件修理党支部": (0, 1, 1, 1, 13)}


def test_kpi_of_a_branch_for_the_annual_review(seeded):
    from reports.queries.kpi import kpi, kpi_by_branch

    with seeded.session_factory() as db:
        got = {i.key: (i.numerator, i.denominator) for i in kpi(db, _u(db, BRANCH_A), 2026, NOW, seeded.config)}
        assert got == {"coverage": (5, 44), "flags_ack_sla": (1, 2), "care_closed": (0, 2), "activities": (2, 4),
                       "participation": (3, 14), "learning": (2, 28), "party_life": (0, 0)}
        rows = kpi_by_branch(db, _u(db, COMMITTEE), 2026, NOW, seeded.config)
        assert [b.name for b, _ in rows] == ["外航维修党支部", "附件修理党支部"]
        b = {i.key: (i.numerator, i.denominator) for i in rows[1][1]}
        # branch B: 5/10 in Q4 only; case 3 not judged yet; M2 13 assigned, 1 studied (Q3's M3: 13 assigned, 1 studied)
        assert b == {"coverage": (5, 40), "flags_ack_sla": (0, 0), "care_closed": (0, 0), "activities": (0, 4),
                     "participation": (1, 13), "learning": (2, 26), "party_life": (0, 0)}


def test_kpi_command_for_the_committee_only(seeded, sim):
    text = sim.say("wangwei", "述职评议 2026").text
    assert "2026 年述职评议指标（技术公司党委）" in text
    assert "· 外航维修党支部：谈心谈话覆盖率 5/44（11%）；预警按时确认率 1/2（50%）；关爱帮扶结案率 0/2（0%）" in text
    assert "开展活动数（每季度） 0.5；活动参与率 3/14（21%）；学习完成率 2/28（7%）" in text
    assert "仅对有相应职责的同志开放" in sim.say("liqiang", "述职评议").text
