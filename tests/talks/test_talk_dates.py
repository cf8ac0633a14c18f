"""Dated talks on both stacks: the day a talk took place (today by default, 昨天 / 11-28 / 上周五),
补录原因 for a late entry, closed quarters refused, and the timeliness figures in 统计 and the KPI."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from handlers.talks.dates import DateRules, parse_day
from models.org import Unit
from models.talk import Talk

SUNDAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)          # Sunday 10:00 in Beijing, 2026Q4


@pytest.mark.parametrize(("word", "day"), [
    ("今天", SUNDAY), ("昨天", date(2026, 11, 28)), ("前天", date(2026, 11, 27)),
    ("11-28", date(2026, 11, 28)), ("11月20日", date(2026, 11, 20)), ("2026-10-09", date(2026, 10, 9)),
    ("12-30", date(2025, 12, 30)),                      # a month-day still ahead means last year
    ("周五", date(2026, 11, 27)), ("上周五", date(2026, 11, 20)), ("本周一", date(2026, 11, 23)),
    ("上上周一", date(2026, 11, 9)), ("星期日", SUNDAY),
])
def test_day_words(word, day):
    assert parse_day(word, SUNDAY) == day


def test_words_that_are_not_days():
    assert parse_day("稳定", SUNDAY) is None and parse_day("加班", SUNDAY) is None
    with pytest.raises(ValueError):
        parse_day("2-30", SUNDAY)


def test_rules_late_and_closed_quarters():
    rules = DateRules(late_after_days=7, grace_days=15)
    assert rules.late(date(2026, 11, 22), NOW) == 0 and rules.late(date(2026, 11, 21), NOW) == 8
    assert "还没有到" in rules.refusal(date(2026, 11, 30), NOW)
    # 2026Q3 ended on 09-30; entries for it were taken until 10-15 inclusive
    assert rules.refusal(date(2026, 9, 28), datetime(2026, 10, 15, 15, 0, tzinfo=UTC)) is None
    assert "2026Q3 已结束，补录期限为 2026-10-15" in rules.refusal(date(2026, 9, 28), datetime(2026, 10, 15, 16, 0, tzinfo=UTC))


def _talks(services) -> list[Talk]:
    with services.session_factory() as db:
        return list(db.scalars(select(Talk).order_by(Talk.id)))


def test_one_line_with_a_day_and_a_late_entry_asks_why(sim, services, clock):
    clock.set(NOW)
    out = sim.say("zhouli", "谈话 张三 昨天 季度 稳定 聊了家里的情况")
    assert "谈话日期：2026-11-28（昨天）" in out.replies[-1].body
    out = sim.press("zhouli", "保存")
    assert "已保存谈话 #1" in out.text and "2026-11-28" in out.text
    out = sim.say("zhouli", "谈话 李四 11-10 季度 有些波动 加班多，有些疲惫")
    assert "谈话日期：2026-11-10（19 天前）" in out.replies[-1].body
    out = sim.press("zhouli", "保存")
    assert "19 天前" in out.text and "补录原因" in out.text and out.card_updates[0].done_text == "待说明补录原因"
    assert len(_talks(services)) == 1                    # not saved without the reason
    out = sim.say("zhouli", "外出培训两周，回来补记")
    assert "已保存谈话 #2" in out.text
    first, late = _talks(services)
    assert first.quarter == late.quarter == "2026Q4" and first.late_reason is None
    assert late.occurred_at.astimezone(UTC).date() == date(2026, 11, 10) and late.created_at == NOW
    assert late.late_reason == "外出培训两周，回来补记"


def test_guided_dialog_changes_the_day_at_confirmation(sim, services, clock):
    clock.set(NOW)
    sim.say("zhouli", "谈话 张三")
    sim.press("zhouli", "季度谈心")
    sim.say("zhouli", "谈了工作安排")
    sim.press("zhouli", "稳定")
    sim.press("zhouli", "无")
    out = sim.say("zhouli", "无")
    assert "谈话日期：2026-11-29（今天）" in out.replies[-1].body
    out = sim.say("zhouli", "明天")                        # not a day of the past: the card is asked again
    assert "请点“保存”" in out.text and "谈话日期：2026-11-29（今天）" in out.replies[-1].body
    out = sim.say("zhouli", "12-05")                      # read as 2025-12-05: a closed quarter
    assert "2025Q4 已结束" in out.text
    out = sim.say("zhouli", "上周五")
    assert "谈话日期已改为 2026-11-20（9 天前）" in out.text
    out = sim.say("zhouli", "保存")
    assert "补录原因" in out.text
    out = sim.say("zhouli", "返回")                        # back to the confirmation card
    assert out.replies[-1].title == "确认谈话记录"
    sim.say("zhouli", "日期 周五")
    out = sim.say("zhouli", "保存")                        # 2 days ago: no reason needed
    assert "已保存谈话 #1" in out.text
    [talk] = _talks(services)
    assert talk.occurred_at.astimezone(UTC).date() == date(2026, 11, 27) and talk.late_reason is None


def test_closed_quarter_is_refused_and_grace_period_counts_the_old_quarter(sim, services, clock):
    clock.set(datetime(2026, 10, 20, 2, 0, tzinfo=UTC))
    out = sim.say("zhouli", "谈话 张三 09-28 季度 稳定 中秋前的谈心")
    assert "2026Q3 已结束，补录期限为 2026-10-15，已不能再为该季度记录谈话" in out.text and not _talks(services)
    assert "还没有到" in sim.say("zhouli", "谈话 张三 2026-10-21 季度 稳定 明天的谈心").text
    clock.set(datetime(2026, 10, 10, 2, 0, tzinfo=UTC))
    sim.say("zhouli", "谈话 张三 09-28 季度 稳定 中秋前的谈心")
    sim.press("zhouli", "保存")
    out = sim.say("zhouli", "节日值班，忘记录入")
    assert "2026Q3" in out.text
    assert [t.quarter for t in _talks(services)] == ["2026Q3"]


def test_timeliness_in_stats_and_kpi(sim, services, clock):
    from reports.queries.kpi import kpi

    clock.set(datetime(2026, 12, 20, 2, 0, tzinfo=UTC))           # 12 days before the end of 2026Q4
    sim.say("zhouli", "谈话 张三 季度 稳定 按时记录")
    sim.press("zhouli", "保存")
    clock.set(datetime(2026, 12, 28, 2, 0, tzinfo=UTC))           # the last 7 days of the quarter
    sim.say("zhouli", "谈话 李四 12-27 季度 稳定 季末记录")
    sim.press("zhouli", "保存")
    sim.say("zhouli", "谈话 王五 12-01 季度 稳定 季末补录")
    sim.press("zhouli", "保存")
    sim.say("zhouli", "年底集中补记")
    text = sim.say("liqiang", "统计").text
    assert "及时录入：2/3（67%） · 季末7天集中录入 2/3（67%）" in text
    with services.session_factory() as db:
        branch = db.scalars(select(Unit).where(Unit.name == "外航维修党支部")).one()
        got = {i.key: (i.numerator, i.denominator) for i in kpi(db, branch, 2026, clock.now(), services.config)}
    assert got["timely"] == (2, 3) and got["bunched"] == (2, 3)
    assert "谈话及时录入率 2/3（67%）；季末集中录入占比 2/3（67%）" in sim.say("wangwei", "述职评议 2026").text
