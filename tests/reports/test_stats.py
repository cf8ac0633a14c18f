"""Statistics (reports.queries) on a hand-seeded data set; the expected numbers are computed by hand.

Demo organisation (bot.cli.demo): branch A (外航维修党支部) has teams 四车间 (leader + 6 members) and
五车间 (leader + 5); branch B (附件修理党支部) has 部件一 (leader + 5) and 部件二 (leader + 5).
Team leaders are not counted as members (reports.queries.coverage). People per unit subtree, all active:
branch A 14 (secretary + 13), branch B 13, committee 30 (3 at the committee itself).
"""
from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.cli.demo import BRANCH_A, BRANCH_B, COMMITTEE
from models.db import session_scope
from models.learning import Material
from models.org import Person
from models.orgtree import find_unit
from reports.queries.learning import learning_completion, material_completion
from reports.queries.people import active_users
from reports.queries.summary import dashboard, scope_summary
from reports.queries.talks import coverage, coverage_total, flag_trend, flags_by_category
from tests.seeded_data import (
    NOW,
    Q4,
    seed,  # noqa: F401  (kept importable from here for older imports)
)


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
        # M1 → branch A (14 people), M2 → committee (32 people); M3 is 2026Q3
        assert (total.assigned, total.opened, total.studied) == (46, 5, 3)
        by = {r.name: (r.assigned, r.opened, r.studied) for r in rows}
        assert by == {"外航维修党支部": (28, 3, 2), "附件修理党支部": (13, 2, 1)}
        a_total, _ = learning_completion(db, _u(db, BRANCH_A), Q4, "team")
        assert (a_total.assigned, a_total.studied) == (28, 2)
        q3, _ = learning_completion(db, committee, "2026Q3")
        assert (q3.assigned, q3.studied) == (13, 1)
        m2 = db.scalars(select(Material).where(Material.title == "二十大报告")).one()
        t, rows = material_completion(db, m2)
        assert (t.assigned, t.opened, t.studied) == (32, 3, 2)
        assert {r.name: (r.assigned, r.studied) for r in rows} == {"外航维修党支部": (14, 1), "附件修理党支部": (13, 1)}


def test_active_users_by_local_day(seeded):
    with seeded.session_factory() as db:
        committee = _u(db, COMMITTEE)
        # Q4 local days: zhangsan (twice), lisi, chenjing (2026-12-31 23:59 local); liqiang's
        # 2026-12-31 16:30 UTC is 2027-01-01 00:30 local (Q1 2027); zhaoliu was active in Q3 only.
        assert active_users(db, committee, date(2026, 10, 1), date(2026, 12, 31)) == (3, 32)
        assert active_users(db, committee, date(2027, 1, 1), date(2027, 3, 31)) == (1, 32)
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
    from scheduler.context import JobContext
    from scheduler.jobs.active_days import flush

    clock.set(NOW)
    job = JobContext(config=services.config, session_factory=services.session_factory, clock=clock,
                     redis=services.redis)
    sim.say("zhangsan", "帮助")
    sim.say("zhangsan", "帮助")
    sim.say("nobody-on-the-roster", "帮助")
    with services.session_factory() as db:      # kept in Redis until the scheduler's flush
        assert active_users(db, _u(db, COMMITTEE), date(2026, 11, 20), date(2026, 11, 20)) == (0, 32)
    assert flush(job) == 1
    sim.say("lisi", "谈话")                      # a writing turn, and another local day for zhangsan
    sim.say("lisi", "取消")
    clock.advance(days=1)
    sim.say("zhangsan", "我的信息")
    assert flush(job) == 2                       # lisi on day one, zhangsan on day two
    with services.session_factory() as db:
        assert active_users(db, _u(db, COMMITTEE), date(2026, 11, 20), date(2026, 11, 20)) == (2, 32)
        assert active_users(db, _u(db, COMMITTEE), date(2026, 11, 20), date(2026, 11, 21)) == (2, 32)
        assert active_users(db, _u(db, COMMITTEE), date(2026, 11, 21), date(2026, 11, 21)) == (1, 32)
    assert flush(job) == 0                       # nothing new: the day sets were written and removed


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
        assert (total.held, total.signups, total.attended, total.participants, total.people) == (3, 6, 5, 4, 32)
        by = {r.name: (r.held, r.signups, r.attended, r.participants, r.people) for r in rows}
        assert by == {"外航维修党支部": (2, 5, 4, 3, 14), "附件修理党支部": (0, 1, 1, 1, 13)}


def test_kpi_of_a_branch_for_the_annual_review(seeded):
    from reports.queries.kpi import kpi, kpi_by_branch

    with seeded.session_factory() as db:
        # timely / bunched: tests/talks/test_talk_dates.py (these seeded rows carry no entry time of their own)
        got = {i.key: (i.numerator, i.denominator) for i in kpi(db, _u(db, BRANCH_A), 2026, NOW, seeded.config)
               if i.key not in ("timely", "bunched")}
        assert got == {"coverage": (5, 44), "flags_ack_sla": (1, 2), "care_closed": (0, 2), "activities": (2, 4),
                       "participation": (3, 14), "learning": (2, 28), "party_life": (0, 0)}
        rows = kpi_by_branch(db, _u(db, COMMITTEE), 2026, NOW, seeded.config)
        assert [b.name for b, _ in rows] == ["外航维修党支部", "附件修理党支部"]
        b = {i.key: (i.numerator, i.denominator) for i in rows[1][1] if i.key not in ("timely", "bunched")}
        # branch B: 5/10 in Q4 only; case 3 not judged yet; M2 13 assigned, 1 studied (Q3's M3: 13 assigned, 1 studied)
        assert b == {"coverage": (5, 40), "flags_ack_sla": (0, 0), "care_closed": (0, 0), "activities": (0, 4),
                     "participation": (1, 13), "learning": (2, 26), "party_life": (0, 0)}


def test_kpi_command_for_the_committee_only(seeded, sim):
    text = sim.say("wangwei", "述职评议 2026").text
    assert "2026 年述职评议指标（技术公司党委）" in text
    assert "· 外航维修党支部：谈心谈话覆盖率 5/44（11%）；预警按时确认率 1/2（50%）；关爱帮扶结案率 0/2（0%）" in text
    assert "开展活动数（每季度） 0.5；活动参与率 3/14（21%）；学习完成率 2/28（7%）" in text
    assert "仅对有相应职责的同志开放" in sim.say("liqiang", "述职评议").text


def test_dashboard_quarters_follow_the_configured_timezone(seeded):
    """Published 2026-09-30 20:00 UTC: 2026Q4 in Shanghai (04:00 on 1 Oct), still 2026Q3 in UTC."""
    with session_scope(seeded.session_factory) as db:
        db.add(Material(title="季末材料", text="全文", audience_unit_id=_u(db, BRANCH_B).id,
                        publisher_id=db.scalars(select(Person.id).where(Person.wecom_userid == "chenjing")).one(),
                        published_at=datetime(2026, 9, 30, 20, 0, tzinfo=UTC)))
    in_utc = seeded.config.with_overrides({"timezone": "UTC"})
    with seeded.session_factory() as db:
        committee = _u(db, COMMITTEE)
        assert dashboard(db, committee, Q4, now=NOW, config=seeded.config).learning.assigned == 46 + 13
        assert dashboard(db, committee, Q4, now=NOW, config=in_utc).learning.assigned == 46
        assert dashboard(db, committee, "2026Q3", now=NOW, config=in_utc).learning.assigned == 13 + 13
