"""Quarterly talk reminders and the weekly digest with a controlled clock, on both storage stacks.

What a user notices: which leaders and secretaries get a message, and exactly which names it lists.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.messages import Text
from models.activity import Activity
from models.case import Case
from models.org import Person, Unit
from models.outbox import OutboxMessage
from models.talk import Talk, quarter_of
from scheduler.registry import find_spec
from scheduler.runner import Occurrences

LEADERS = ["zhouli", "wugang", "hanmei", "hefei"]
SECRETARIES = ["liqiang", "chenjing"]
TEAM_4 = ["张三", "李四", "王五", "赵六", "孙七", "张三丰"]          # 四车间班组 without the leader 周丽
TEAM_5 = ["郑毅", "冯雪", "陈晨", "卫兰", "蒋涛"]                   # 五车间班组 without 吴刚
Q4_START = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)         # 2026-10-01 09:00 Beijing


def _person(db, userid):
    return db.scalars(select(Person).where(Person.wecom_userid == userid)).one()


def talk(services, author: str, subject_names: list[str], at: datetime) -> None:
    with services.session_factory() as db:
        a = _person(db, author)
        for name in subject_names:
            s = db.scalars(select(Person).where(Person.name == name)).one()
            db.add(Talk(author_id=a.id, subject_id=s.id, kind="quarterly", occurred_at=at, quarter=quarter_of(at),
                        summary="谈心内容", mood="stable", flag="none"))
        db.commit()


def run(services, job_id: str, at: datetime, manual: bool = False):
    occ = Occurrences(services.config, services.session_factory, services.clock, redis=services.redis)
    return occ.execute(find_spec(services.config, job_id), at, manual=manual)


def inboxes(sim, users) -> dict[str, list[str]]:
    out = {}
    for u in users:
        msgs = sim.inbox(u)
        assert all(isinstance(m, Text) for m in msgs)
        out[u] = [m.text for m in msgs]
    return out


def listed(text: str) -> list[str]:
    """The names after the colon of the team line ("…未谈心谈话：A、B、C")."""
    line = next(line for line in text.splitlines() if "未谈心谈话" in line)
    return line.split("：", 1)[1].split("、")


def test_start_of_quarter_reminds_exactly_the_leaders_with_members_not_talked_to(services, sim, clock):
    clock.set(Q4_START)
    talk(services, "zhouli", TEAM_4, datetime(2026, 10, 1, 0, 30, tzinfo=UTC))  # team 4 complete
    talk(services, "wugang", ["郑毅", "冯雪"], datetime(2026, 10, 1, 0, 45, tzinfo=UTC))
    outcome = run(services, "talk_reminders", Q4_START)
    assert outcome.status == "ok" and outcome.result == 3
    sim.outbox.drain()
    got = inboxes(sim, LEADERS + SECRETARIES + ["zhangsan"])
    assert got["zhouli"] == []                            # complete team: nothing
    assert len(got["wugang"]) == 1
    assert "2026年第4季度开始了" in got["wugang"][0]
    assert sorted(listed(got["wugang"][0])) == sorted(["陈晨", "卫兰", "蒋涛"])
    assert "五车间班组本季度还有 3 人" in got["wugang"][0]
    assert len(got["hanmei"]) == 1 and len(listed(got["hanmei"][0])) == 5
    assert "韩梅" not in listed(got["hanmei"][0])         # a leader is not on her own list
    assert got["liqiang"] == [] and got["chenjing"] == [] and got["zhangsan"] == []


def test_quarter_boundary_is_in_shanghai_time(services, sim, clock):
    # 2026-09-30 23:30 Beijing (15:30 UTC) is Q3; 2026-10-01 00:30 Beijing (2026-09-30 16:30 UTC) is Q4
    talk(services, "zhouli", ["张三"], datetime(2026, 9, 30, 15, 30, tzinfo=UTC))
    talk(services, "zhouli", ["李四"], datetime(2026, 9, 30, 16, 30, tzinfo=UTC))
    # an occurrence at 00:40 Beijing on Oct 1 is still Sep 30 in UTC, but it is the Q4 run
    at = datetime(2026, 9, 30, 16, 40, tzinfo=UTC)
    clock.set(at)
    assert run(services, "talk_reminders", at).status == "ok"
    sim.outbox.drain()
    [text] = inboxes(sim, ["zhouli"])["zhouli"]
    assert "2026年第4季度" in text
    names = listed(text)
    assert "张三" in names and "李四" not in names          # the Q3 talk does not count in Q4
    # the Q3 end-of-quarter run (Sep 15) sees it the other way round
    at_q3 = datetime(2026, 9, 15, 1, 0, tzinfo=UTC)
    talk(services, "zhouli", ["王五"], datetime(2026, 7, 1, 0, 0, tzinfo=UTC))   # Q3 talk before
    assert run(services, "talk_reminders_end", at_q3).status == "ok"
    sim.outbox.drain()
    [text_q3] = inboxes(sim, ["zhouli"])["zhouli"]
    assert "2026年第3季度将于9月30日" in text_q3
    names_q3 = listed(text_q3)
    assert "张三" not in names_q3 and "王五" not in names_q3 and "李四" in names_q3


def test_end_of_quarter_tells_each_secretary_the_teams_still_behind(services, sim, clock):
    at = datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
    clock.set(at)
    talk(services, "zhouli", TEAM_4, datetime(2026, 11, 2, tzinfo=UTC))
    talk(services, "wugang", TEAM_5[:4], datetime(2026, 11, 3, tzinfo=UTC))
    assert run(services, "talk_reminders_end", at).result == 5      # 3 leaders + 2 secretaries
    sim.outbox.drain()
    got = inboxes(sim, LEADERS + SECRETARIES)
    assert got["zhouli"] == []
    assert listed(got["wugang"][0]) == ["蒋涛"]
    assert "12月31日（还剩 17 天）" in got["wugang"][0]
    [li] = got["liqiang"]
    assert "五车间班组：1/5 人未谈（班组长 吴刚）" in li and "四车间班组" not in li
    [chen] = got["chenjing"]
    assert "部件一班组：5/5 人未谈（班组长 韩梅）" in chen and "部件二班组：5/5 人未谈（班组长 何飞）" in chen


def test_a_rerun_sends_nothing_twice(services, sim, clock):
    clock.set(Q4_START)
    assert run(services, "talk_reminders", Q4_START).result == 4
    assert run(services, "talk_reminders", Q4_START).status == "skipped"      # same occurrence: claimed
    later = datetime(2026, 10, 2, 3, 0, tzinfo=UTC)
    clock.set(later)
    manual = run(services, "talk_reminders", later, manual=True)             # lianxin run-job, same phase
    assert manual.status == "ok" and manual.result == 0
    with services.session_factory() as db:
        assert len(db.scalars(select(OutboxMessage)).all()) == 4
    assert run(services, "talk_reminders_mid", datetime(2026, 11, 15, 1, 0, tzinfo=UTC)).result == 4


def test_weekly_digest_reaches_each_secretary_once(services, sim, clock):
    at = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)   # Monday 08:00 Beijing
    clock.set(at)
    talk(services, "zhouli", ["张三", "李四"], datetime(2026, 11, 27, tzinfo=UTC))
    talk(services, "hanmei", ["杨帆"], datetime(2026, 11, 10, tzinfo=UTC))      # not this week
    with services.session_factory() as db:
        lisi, liqiang = _person(db, "lisi"), _person(db, "liqiang")
        t = db.scalars(select(Talk).where(Talk.subject_id == lisi.id)).one()
        t.flag = "urgent"
        db.add(Case(talk_id=t.id, subject_id=lisi.id, unit_id=lisi.unit_id, flag="urgent", state="reported",
                    sla_step=1, secretary_id=liqiang.id))
        db.add(Case(subject_id=lisi.id, unit_id=lisi.unit_id, flag="watch", state="in_progress"))
        root = db.get(Unit, liqiang.unit.parent.parent_id)          # the committee: audience includes everyone
        for title, starts, status in [("植树志愿活动", at + timedelta(days=2), "open"),
                                      ("已取消的活动", at + timedelta(days=3), "cancelled"),
                                      ("下个月的活动", at + timedelta(days=20), "open")]:
            db.add(Activity(title=title, starts_at=starts, ends_at=starts + timedelta(hours=2), seats=30, seats_taken=4,
                            deadline=starts, audience_unit_id=root.id, organiser_id=liqiang.id,
                            created_by_id=liqiang.id, status=status, checkin_code="1234"))
        db.commit()
    assert run(services, "weekly_digest", at).result == 2
    assert run(services, "weekly_digest", at, manual=False).status == "skipped"
    sim.outbox.drain()
    got = inboxes(sim, SECRETARIES)
    [li], [chen] = got["liqiang"], got["chenjing"]
    assert "【每周简报】外航维修党支部" in li and "本周谈心谈话 2 次" in li and "紧急 1 条" in li
    assert "2026Q4 谈心覆盖 2/11 人" in li
    assert "在办事项 2 件（待确认 1、帮扶中 1）" in li and "其中超时未办 1 件" in li
    assert "未来一周活动 1 项" in li and "12月02日 08:00 植树志愿活动（已报名 4/30）" in li
    assert "已取消的活动" not in li and "下个月的活动" not in li
    assert "本周谈心谈话 0 次" in chen and "2026Q4 谈心覆盖 1/10 人" in chen and "在办事项 0 件" in chen
