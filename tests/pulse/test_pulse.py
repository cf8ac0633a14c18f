"""Team pulse queries on both stacks: moods and flag categories per team and quarter, the
common-problem signal (K flags of one category in a window) and a rise two quarters in a row."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from models.db import session_scope
from models.org import Person, Unit
from models.talk import Talk, quarter_of
from reports.queries.pulse import common_problems, pulse, rising_concern, trend_arrow

NOW = datetime(2030, 11, 20, 4, 0, tzinfo=UTC)
QUARTERS = ["2030Q2", "2030Q3", "2030Q4"]
MID = {"2030Q2": datetime(2030, 5, 15, tzinfo=UTC), "2030Q3": datetime(2030, 8, 15, tzinfo=UTC),
       "2030Q4": datetime(2030, 11, 10, tzinfo=UTC)}


def add(db, author, subject, at, mood="stable", flag="none", category=None, disputed=False):
    db.add(Talk(author_id=author.id, subject_id=subject.id, kind="quarterly", occurred_at=at, quarter=quarter_of(at),
                summary="谈心", mood=mood, flag=flag, category=category, disputed=disputed))


def test_pulse_alerts_and_trend(services):
    with session_scope(services.session_factory) as db:
        p = {x.wecom_userid: x for x in db.scalars(select(Person))}
        team4 = ["zhangsan", "lisi", "wangwu", "zhaoliu"]
        # 四车间: concern share 0/4 → 1/4 → 3/4 (rising twice); 五车间: steady
        for q, worried in (("2030Q2", 0), ("2030Q3", 1), ("2030Q4", 3)):
            for i, uid in enumerate(team4):
                add(db, p["zhouli"], p[uid], MID[q], mood="some_concern" if i < worried else "stable")
            for uid in ("zhengyi", "fengxue"):
                add(db, p["wugang"], p[uid], MID[q], mood="some_concern" if uid == "zhengyi" else "stable")
        # three pay flags in 四车间 within 30 days, two in 五车间, one disputed that does not count
        for uid, days in (("zhangsan", 2), ("lisi", 10), ("sunqi", 25)):
            add(db, p["zhouli"], p[uid], NOW - timedelta(days=days), flag="watch", category="pay")
        for uid in ("weilan", "jiangtao"):
            add(db, p["wugang"], p[uid], NOW - timedelta(days=3), flag="watch", category="pay")
        add(db, p["wugang"], p["chenchen"], NOW - timedelta(days=3), flag="watch", category="pay", disputed=True)
        add(db, p["zhouli"], p["zhangsanfeng"], NOW - timedelta(days=40), flag="watch", category="family")

    with session_scope(services.session_factory) as db:
        branch = db.scalars(select(Unit).where(Unit.name == "外航维修党支部")).one()
        team4_id = db.scalars(select(Unit.id).where(Unit.name == "四车间班组")).one()
        rows = pulse(db, branch, QUARTERS)
        q4 = rows[(team4_id, "2030Q4")]
        assert q4.moods == {"some_concern": 3, "stable": 5}         # 4 quarterly talks + 4 flagged (stable) talks
        assert q4.flags == {"pay": 3, "family": 1}
        assert rising_concern(rows, QUARTERS) == [team4_id]
        assert trend_arrow(rows[(team4_id, "2030Q3")].concern_share, q4.concern_share) == "↑"
        problems = common_problems(db, NOW, k=3, days=30, unit=branch)
        assert [(c.team, c.category, c.flags) for c in problems] == [("四车间班组", "pay", 3)]
        assert common_problems(db, NOW, k=2, days=30, unit=branch)[-1].team == "五车间班组"   # 2 without the disputed one
        assert common_problems(db, NOW, k=3, days=30) == problems                            # whole company


def test_stats_shows_the_pulse_with_arrows(services, sim, clock):
    clock.set(NOW)
    with session_scope(services.session_factory) as db:
        p = {x.wecom_userid: x for x in db.scalars(select(Person))}
        for i, uid in enumerate(["zhangsan", "lisi", "wangwu", "zhaoliu"]):     # 四车间: 1/4 → 3/4 worried
            add(db, p["zhouli"], p[uid], MID["2030Q3"], mood="some_concern" if i < 1 else "stable")
            add(db, p["zhouli"], p[uid], MID["2030Q4"], mood="serious_concern" if i < 1 else
                "some_concern" if i < 3 else "stable")
        add(db, p["zhouli"], p["sunqi"], MID["2030Q4"], flag="watch", category="pay")
        add(db, p["zhouli"], p["sunqi"], MID["2030Q3"], flag="watch", category="family")
        add(db, p["wugang"], p["zhengyi"], MID["2030Q4"])                          # 五车间: new this quarter
    text = sim.say("liqiang", "统计 2030Q4").text
    assert "思想动态（较2030Q3）：稳定 3 · 波动 2 · 严重 1，波动+严重 50%↑" in text
    assert "  标记：薪酬绩效 1↑、家庭 0↓" in text
    assert "  · 四车间班组 波动+严重 3/5↑；薪酬绩效 1↑、家庭 0↓" in text
    assert "  · 五车间班组 波动+严重 0/1" in text                             # no previous quarter: no arrow
    committee = sim.say("wangwei", "统计 2030Q4").text                        # the committee sees branches
    assert "  · 外航维修党支部 波动+严重 3/6↑" in committee and "四车间班组" not in committee
