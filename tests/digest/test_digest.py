"""每日待办 and quiet hours on both stacks: one message per person per workday with exactly what
they owe, nothing for those who owe nothing, 免打扰 pauses it, quiet hours hold non-urgent rows."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.messages import Text
from models.activity import Activity, Signup
from models.db import session_scope
from models.outbox import OutboxMessage
from models.talk import Talk, quarter_of
from scheduler.context import JobContext
from tests.case_helpers import flag_talk, person

MONDAY_0830 = datetime(2030, 3, 4, 0, 30, tzinfo=UTC)      # 2030-03-04 08:30 in Shanghai, a Monday


@pytest.fixture
def config_overrides():
    return {"quiet.hours": "21:00-08:00"}


@pytest.fixture
def job(services, clock):
    clock.set(MONDAY_0830)
    return JobContext(config=services.config, session_factory=services.session_factory, clock=clock)


def digest_of(sim, user: str) -> list[str]:
    sim.outbox.run_once(now=sim.services.clock.now())
    return [m.text for m in sim.inbox(user) if isinstance(m, Text) and m.text.startswith("【每日待办】")]


def seed(services, clock) -> None:
    now = clock.now()
    with session_scope(services.session_factory) as db:
        zhouli = person(db, "zhouli")
        for name in ("zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi"):   # 四车间: only 张三丰 left
            db.add(Talk(author_id=zhouli.id, subject_id=person(db, name).id, kind="quarterly", occurred_at=now,
                        quarter=quarter_of(now), summary="谈心", mood="stable", flag="none"))
        organiser = person(db, "liqiang")
        act = Activity(title="党史学习", starts_at=now + timedelta(hours=6), ends_at=now + timedelta(hours=8),
                       place="三楼会议室", deadline=now, audience_unit_id=organiser.unit_id, organiser_id=organiser.id,
                       created_by_id=organiser.id, checkin_code="123456")
        db.add(act)
        db.flush()
        db.add(Signup(activity_id=act.id, person_id=person(db, "lisi").id, status="confirmed"))
    flag_talk(services, subject="zhengyi", author="wugang", flag="watch", category="pay")


def test_each_person_gets_one_digest_with_what_they_owe(sim, services, job, clock):
    seed(services, clock)
    sim.say("wangwu", "心声 匿名 工具间太乱")
    sim.outbox.drain()
    for user in ("zhouli", "liqiang", "lisi", "wugang"):
        sim.inbox(user)
    from handlers.digest.jobs import daily_digest
    queued = daily_digest(job)
    assert daily_digest(job) == 0                                   # a rerun the same day queues nothing

    zhouli = digest_of(sim, "zhouli")
    assert len(zhouli) == 1 and "本季度还需谈心（四车间班组 1 人）：张三丰" in zhouli[0]
    wugang = digest_of(sim, "wugang")[0]
    assert "五车间班组 4 人）：冯雪、卫兰、蒋涛、陈晨" in wugang and "郑毅" not in wugang   # 郑毅's talk was flagged
    liqiang = digest_of(sim, "liqiang")[0]
    assert "待确认的标记谈话 1 件" in liqiang and "待回复的员工心声 1 条" in liqiang
    assert "谈心" not in liqiang.split("\n", 1)[1].split("【每周简报】")[0].replace("标记谈话", "")
    assert "【每周简报】外航维修党支部" in liqiang          # a Monday: the week's summary comes in the same message
    assert "今天 14:30 活动「党史学习」（三楼会议室）" in digest_of(sim, "lisi")[0]
    assert digest_of(sim, "zhangsan") == [] and digest_of(sim, "wangwei") == []   # nothing owed: nothing sent
    assert queued == 7   # the 4 team leaders (branch B talked to nobody yet), liqiang, lisi; chenjing's weekly summary


def test_mute_pauses_the_digest_and_holds_other_non_urgent_messages(sim, services, job, clock):
    seed(services, clock)
    out = sim.say("zhouli", "免打扰 2天")
    assert "已开启免打扰，到 03-06 08:30 为止" in out.text
    from handlers.digest.jobs import daily_digest
    daily_digest(job)
    assert digest_of(sim, "zhouli") == []
    assert "张三丰" in sim.say("zhouli", "每日提醒").text and "免打扰中" in sim.say("zhouli", "digest").text
    assert "没看懂时长" in sim.say("zhouli", "免打扰 很久").text
    assert "最长 30 天" in sim.say("zhouli", "免打扰 40天").text
    assert "已关闭免打扰" in sim.say("zhouli", "mute off").text
    clock.advance(days=1)
    daily_digest(job)
    assert len(digest_of(sim, "zhouli")) == 1


def test_quiet_hours_hold_non_urgent_messages_and_let_urgent_ones_through(sim, services, clock):
    clock.set(datetime(2030, 3, 4, 14, 0, tzinfo=UTC))              # 22:00 in Shanghai
    sim.say("zhangsan", "心声 匿名 宿舍热水时有时无")                 # non-urgent card to the secretary
    flag_talk(services, subject="lisi", author="zhouli", flag="urgent", category="health")  # urgent flag card
    sim.outbox.run_once(now=clock.now())
    now_titles = [getattr(m, "title", "") for m in sim.inbox("liqiang")]
    assert any("关爱事项" in t for t in now_titles)                  # the urgent flag card: at once
    assert not any("心声" in t for t in now_titles)                  # the 心声 card waits
    with session_scope(services.session_factory) as db:
        held = db.scalars(select(OutboxMessage).where(OutboxMessage.ref.like("voice:%"))).one()
        assert held.next_attempt_at == datetime(2030, 3, 5, 0, 0, tzinfo=UTC)   # 08:00 next morning
    clock.set(datetime(2030, 3, 5, 0, 0, tzinfo=UTC))
    sim.outbox.run_once(now=clock.now())
    assert any("心声" in getattr(m, "title", "") for m in sim.inbox("liqiang"))


def test_no_digest_on_a_holiday(services, clock):
    from handlers.digest.jobs import daily_digest
    clock.set(MONDAY_0830)
    cfg = services.config.with_overrides({"quiet.holidays": ["2030-03-04"]})
    job = JobContext(config=cfg, session_factory=services.session_factory, clock=clock)
    assert daily_digest(job) == 0


def test_release_rules():
    from zoneinfo import ZoneInfo

    from models.notice import QuietRules, release_at
    tz = ZoneInfo("Asia/Shanghai")
    rules = QuietRules.parse("21:00-08:00", True, ["2030-03-11"])
    assert release_at(datetime(2030, 3, 4, 12, 0, tzinfo=tz), rules) is None
    assert release_at(datetime(2030, 3, 4, 7, 0, tzinfo=tz), rules) == datetime(2030, 3, 4, 8, 0, tzinfo=tz)
    # Friday night → Saturday, Sunday off → Monday is a holiday → Tuesday 08:00
    assert release_at(datetime(2030, 3, 8, 22, 0, tzinfo=tz), rules) == datetime(2030, 3, 12, 8, 0, tzinfo=tz)
    mute = datetime(2030, 3, 5, 10, 0, tzinfo=tz)
    assert release_at(datetime(2030, 3, 4, 12, 0, tzinfo=tz), rules, mute) == mute
    assert release_at(datetime(2030, 3, 4, 12, 0, tzinfo=tz), QuietRules.parse("off", False, [])) is None


def test_the_digest_is_the_one_message_of_the_day(sim, services, job, clock):
    """The weekly summary rides on Monday's digest; the quarter's last two weeks add the teams still
    behind for the secretary; the quarterly reminder and weekly digest jobs are off."""
    from handlers.digest.jobs import daily_digest
    from scheduler.registry import job_specs

    assert {"talk_reminders", "talk_reminders_mid", "talk_reminders_end", "weekly_digest"}.isdisjoint(
        s.id for s in job_specs(services.config))
    seed(services, clock)
    clock.set(MONDAY_0830 + timedelta(days=1))                       # a Tuesday: no weekly summary
    daily_digest(job)
    [tuesday] = digest_of(sim, "liqiang")
    assert "【每周简报】" not in tuesday and "尚未谈完" not in tuesday
    assert digest_of(sim, "chenjing") == []                          # owes nothing on a Tuesday
    clock.set(datetime(2030, 3, 18, 0, 30, tzinfo=UTC))              # Monday 03-18: 2030Q1 ends in two weeks
    daily_digest(job)
    [monday] = digest_of(sim, "liqiang")
    assert "· 本季度将于 03-31 结束，尚未谈完：五车间班组 4 人、四车间班组 1 人" in monday
    assert monday.count("【每日待办】") == 1 and "【每周简报】外航维修党支部" in monday
    [chen] = digest_of(sim, "chenjing")
    assert chen.startswith("【每日待办】03-18") and "尚未谈完：部件一班组 5 人、部件二班组 5 人" in chen
