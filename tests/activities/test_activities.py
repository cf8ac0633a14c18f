"""Activities through the simulator: publish, the card to the audience, join, full, waitlist,
cancel and promotion, deadline, audience, organiser actions, check-in, reminders, export."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.messages import Card, Text
from models.activity import Activity, Attendance, Signup
from models.org import Person, Unit

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)        # 2026-12-01 10:00 in Shanghai
BRANCH_A_PEOPLE = {"liqiang", "zhouli", "zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi", "zhangsanfeng",
                   "wugang", "zhengyi", "fengxue", "chenchen", "weilan", "jiangtao"}
OTHERS = {"admin", "wangwei", "zhaomin", "chenjing", "hanmei", "yangfan", "hefei", "caoyu"}
LINE = "发布活动 周末义务植树 2026-12-05 09:00-12:00 @浦东基地 名额2 截止12-03 范围:外航维修党支部"


def cards_in(replies) -> list[Card]:
    return [r for r in replies if isinstance(r, Card)]


def texts_in(replies) -> str:
    return "\n".join(r.text for r in replies if isinstance(r, Text))


def statuses(services, activity_id: int) -> dict[str, str]:
    with services.session_factory() as db:
        rows = db.execute(select(Person.wecom_userid, Signup.status).join(Person, Person.id == Signup.person_id)
                          .where(Signup.activity_id == activity_id)).all()
    return dict(rows)


def publish(sim, line: str = LINE) -> int:
    """One line, then the one confirmation a broadcast takes (it states how many people it reaches)."""
    out = sim.say("liqiang", line)
    assert "确认后，活动卡片将发送给" in out.text, out.text
    out = sim.press("liqiang", "确认发布")
    assert "已发布" in out.text, out.text
    with sim.services.session_factory() as db:
        return db.scalar(select(func.max(Activity.id)))


def test_one_line_publish_sends_the_card_to_exactly_the_audience(sim_at, services):
    act_id = publish(sim_at)
    for user in BRANCH_A_PEOPLE:
        cards = cards_in(sim_at.inbox(user))
        assert [c.title for c in cards] == ["【活动】周末义务植树"], user
        assert [b.text for b in cards[0].buttons] == ["报名", "取消报名"]
        assert ("名额", "2 人，已报 0，剩余 2") in cards[0].fields
    for user in OTHERS:
        assert sim_at.inbox(user) == [], user
    with services.session_factory() as db:
        act = db.get(Activity, act_id)
        local = act.starts_at.astimezone(timezone(timedelta(hours=8)))
        assert (local.hour, local.minute, act.seats, act.place) == (9, 0, 2, "浦东基地")
        assert act.deadline.astimezone(timezone(timedelta(hours=8))).strftime("%m-%d %H:%M") == "12-03 23:59"


def test_join_full_waitlist_cancel_and_promotion(sim_at, services):
    act_id = publish(sim_at)
    for user in ("zhangsan", "lisi", "wangwu", "zhaoliu"):
        sim_at.inbox(user)
    out = sim_at.press("zhangsan", "报名")
    assert "报名成功" in out.text
    assert "您已报名成功" in out.card_updates[0].body
    assert [b.text for b in out.card_updates[0].buttons] == ["取消报名"]
    assert ("名额", "2 人，已报 1，剩余 1") in out.card_updates[0].fields   # the count after my seat
    assert "报名成功" in sim_at.press("lisi", "报名").text
    out = sim_at.press("wangwu", "报名")
    assert "候补第 1 位" in out.text and "候补第 1 位" in out.card_updates[0].body
    assert ("名额", "2 人，已报 2，剩余 0（已满）") in out.card_updates[0].fields
    assert [b.text for b in out.card_updates[0].buttons] == ["取消候补"]
    assert "候补第 2 位" in sim_at.press("zhaoliu", "报名").text
    # a repeated click (same card, same user) counts once
    assert "无需重复报名" in sim_at.press("zhangsan", "报名").text
    assert statuses(services, act_id) == {"zhangsan": "confirmed", "lisi": "confirmed",
                                          "wangwu": "waitlisted", "zhaoliu": "waitlisted"}
    # zhangsan cancels by command, asked once more: wangwu is promoted and told; zhaoliu moves up
    out = sim_at.say("zhangsan", f"取消报名 {act_id}")
    assert "确认取消报名" in out.text and statuses(services, act_id)["zhangsan"] == "confirmed"
    out = sim_at.say("zhangsan", f"取消报名 {act_id} 确认")
    assert "已取消「周末义务植树」的报名" in out.text
    promo = texts_in(sim_at.inbox("wangwu"))
    assert "候补转正" in promo and "周末义务植树" in promo
    assert statuses(services, act_id) == {"zhangsan": "cancelled", "lisi": "confirmed",
                                          "wangwu": "confirmed", "zhaoliu": "waitlisted"}
    assert "候补第1位" in sim_at.say("zhaoliu", "我的报名").text
    with services.session_factory() as db:
        assert db.get(Activity, act_id).seats_taken == 2
    # zhangsan joins again: to the back of the queue
    assert "候补第 2 位" in sim_at.say("zhangsan", f"报名 {act_id}").text
    # a waitlisted person leaving frees no seat and promotes nobody
    sim_at.say("zhaoliu", f"cancel {act_id}")
    assert sim_at.inbox("zhangsan") == []
    assert statuses(services, act_id)["zhangsan"] == "waitlisted"
    assert "您没有报名" in sim_at.say("zhaoliu", f"取消报名 {act_id}").text


def test_outside_audience_deadline_and_bad_input(sim_at, services, clock):
    act_id = publish(sim_at)
    assert "不在报名范围内" in sim_at.say("hanmei", f"报名 {act_id}").text
    assert "请写上活动编号" in sim_at.say("zhangsan", "报名").text
    assert "没有编号为 999" in sim_at.say("zhangsan", "报名 999").text
    clock.set(datetime(2026, 12, 3, 16, 1, tzinfo=UTC))  # 12-04 00:01 local, after the deadline
    assert "报名已截止" in sim_at.say("zhangsan", f"报名 {act_id}").text
    assert statuses(services, act_id) == {}


def test_only_publishers_may_publish_and_only_to_their_units(sim_at, services):
    assert "仅对有相应职责" in sim_at.say("zhangsan", LINE).text
    out = sim_at.say("chenjing", LINE)   # secretary of the other branch
    assert "不能向“外航维修党支部”发布" in out.text
    with services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Activity)) == 0


def test_bad_one_line_input_gets_a_clear_message(sim_at):
    assert "结束时间要晚于开始时间" in sim_at.say("liqiang", "发布活动 读书会 12-05 12:00-09:00 @三楼").text
    assert "已经过去" in sim_at.say("liqiang", "发布活动 读书会 2026-11-05 09:00-12:00 @三楼").text
    assert "名额请填一个正整数" in sim_at.say("liqiang", "发布活动 读书会 12-05 09:00-12:00 @三楼 名额abc").text
    assert "没有找到单位" in sim_at.say("liqiang", "发布活动 读书会 12-05 09:00-12:00 @三楼 范围:火星支部").text


def test_guided_dialog_publishes_unlimited_activity(sim_at, services):
    assert "活动名称" in sim_at.say("liqiang", "发布活动").text
    assert "活动类型" in sim_at.say("liqiang", "青年读书会").text
    assert "活动时间" in sim_at.press("liqiang", "青年活动").text
    assert "结束时间要晚于" in sim_at.say("liqiang", "2026-12-10 21:00-19:00").text
    assert "地点" in sim_at.say("liqiang", "2026-12-10 19:00-21:00").text
    assert "名额" in sim_at.say("liqiang", "三楼会议室").text
    assert "截止" in sim_at.say("liqiang", "不限").text
    out = sim_at.say("liqiang", "开始前")
    assert "发给哪个范围" in out.text
    assert "活动说明" in sim_at.press("liqiang", "四车间班组").text
    out = sim_at.say("liqiang", "自带一本书")
    assert "确认发布" in out.text and "四车间班组" in out.text
    out = sim_at.press("liqiang", "确认发布")
    assert "已发布" in out.text and "7 人" in out.text
    with services.session_factory() as db:
        act = db.scalars(select(Activity)).one()
        assert (act.kind, act.seats, act.description, act.deadline == act.starts_at) == ("youth", None, "自带一本书", True)
    assert cards_in(sim_at.inbox("zhangsan"))
    assert sim_at.inbox("wugang") == []   # 五车间班组 is outside
    assert "报名成功" in sim_at.say("zhangsan", f"报名 {act.id}").text


def test_activities_list_and_activity_card(sim_at):
    act_id = publish(sim_at)
    out = sim_at.say("zhangsan", "活动")
    assert f"#{act_id} 周末义务植树" in out.text and "余2/2" in out.text
    out = sim_at.say("zhangsan", f"活动 {act_id}")
    assert cards_in(out.replies)[0].title == "【活动】周末义务植树"
    assert "报名成功" in sim_at.press("zhangsan", "报名").text
    assert "✅已报名" in sim_at.say("zhangsan", "activities").text
    assert "目前没有面向您的活动" in sim_at.say("hanmei", "活动").text


def test_organiser_closes_reopens_and_cancels_everyone_is_told(sim_at, services):
    act_id = publish(sim_at)
    for u in ("zhangsan", "lisi", "wangwu"):
        sim_at.say(u, f"报名 {act_id}")
        sim_at.inbox(u)
    assert "仅对有相应职责" in sim_at.say("zhangsan", f"取消活动 {act_id}").text
    assert "已停止报名" in sim_at.say("liqiang", f"关闭报名 {act_id}").text
    assert "已停止报名" in sim_at.say("zhaoliu", f"报名 {act_id}").text
    assert "已重新开放" in sim_at.say("liqiang", f"重新开放 {act_id}").text
    out = sim_at.say("liqiang", f"活动 {act_id}")
    manage = next(c for c in cards_in(out.replies) if c.title.startswith("【管理】"))
    out = sim_at.press("liqiang", "取消活动", card=manage)
    out = sim_at.press("liqiang", "确认取消活动")
    assert "已通知报名和候补的 3 人" in out.text
    for u in ("zhangsan", "lisi", "wangwu"):
        assert "活动取消通知" in texts_in(sim_at.inbox(u)), u
    assert "已取消，不能报名" in sim_at.say("zhaoliu", f"报名 {act_id}").text
    # the committee (above the branch) may manage it too; a secretary of another branch may not
    assert "只有组织者或上级书记" in sim_at.say("chenjing", f"报名名单 {act_id}").text
    assert "报名名单" in sim_at.say("wangwei", f"报名名单 {act_id}").text


def test_checkin_by_code_and_by_organiser_list(sim_at, services, clock):
    act_id = publish(sim_at)
    for u in ("zhangsan", "lisi", "wangwu"):
        sim_at.say(u, f"报名 {act_id}")
    with services.session_factory() as db:
        code = db.get(Activity, act_id).checkin_code
    assert "签到在活动开始前 30 分钟" in sim_at.say("zhangsan", f"签到 {code}").text
    clock.set(datetime(2026, 12, 5, 1, 10, tzinfo=UTC))   # 09:10 local, during the activity
    assert "签到成功" in sim_at.say("zhangsan", f"签到 {code}").text
    assert "已经签到过" in sim_at.say("zhangsan", f"checkin {code}").text
    assert "仍在候补" in sim_at.say("wangwu", f"签到 {code}").text
    assert "签到码“0000000”不对" in sim_at.say("lisi", "签到 0000000").text
    out = sim_at.say("liqiang", f"签到名单 {act_id}")
    card = cards_in(out.replies)[0]
    assert [b.text for b in card.buttons] == ["李四", "刷新"] and "已签到 1/2" in card.body
    out = sim_at.press("liqiang", "李四", card=card)
    assert "✔ 李四 已签到" in out.card_updates[0].body and "全部已签到" in out.card_updates[0].body
    roster = sim_at.say("liqiang", f"roster {act_id}").text
    assert "张三（四车间班组） ✔已签到" in roster and "候补1. 王五" in roster
    with services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Attendance)) == 2


def test_reminders_are_sent_once_per_offset(sim_at, services, clock):
    from handlers.activities.jobs import activity_reminders
    from scheduler.context import JobContext

    act_id = publish(sim_at)
    sim_at.say("zhangsan", f"报名 {act_id}")
    sim_at.inbox("zhangsan")
    job = JobContext(config=services.config, session_factory=services.session_factory, clock=clock)
    assert activity_reminders(job) == 0                            # 4 days before: nothing due
    clock.set(datetime(2026, 12, 4, 1, 30, tzinfo=UTC))   # 23.5 hours before the start
    assert activity_reminders(job) == 1
    assert activity_reminders(job) == 0                            # a re-run sends nothing twice
    sim_at.outbox.drain()
    reminders = texts_in(sim_at.inbox("zhangsan"))
    assert reminders.count("活动提醒") == 1 and "23 小时后" in reminders
    assert "活动提醒" not in texts_in(sim_at.inbox("lisi"))         # not signed up
    clock.set(datetime(2026, 12, 5, 0, 30, tzinfo=UTC))   # 30 minutes before
    assert activity_reminders(job) == 1
    assert activity_reminders(job) == 0
    sim_at.outbox.drain()
    assert "30 分钟后" in texts_in(sim_at.inbox("zhangsan"))


def test_export_signups_to_excel(sim_at, services, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from openpyxl import load_workbook

    from bot.cli.activities import register
    from bot.cli.main import cli

    act_id = publish(sim_at)
    for u in ("zhangsan", "lisi", "wangwu"):
        sim_at.say(u, f"报名 {act_id}")
    register(cli)
    monkeypatch.setenv("DATABASE_URL", services.engine.url.render_as_string(hide_password=False))
    out = tmp_path / "名单.xlsx"
    result = CliRunner().invoke(cli, ["export-signups", str(act_id), str(out)])
    assert result.exit_code == 0, result.output
    rows = list(load_workbook(out).active.iter_rows(values_only=True))
    assert rows[0][:4] == ("序号", "姓名", "单位", "状态")
    assert [(r[1], r[3]) for r in rows[1:]] == [("张三", "已报名"), ("李四", "已报名"), ("王五", "候补1")]


def test_dialog_accepts_typed_option_numbers_back_and_drop(sim_at, services):
    out = sim_at.say("liqiang", "发布活动 读书会 12-10 19:00-21:00")  # title and time given: asked the rest
    assert "活动类型" in out.text
    assert "没有这个选项" in sim_at.say("liqiang", "三楼会议室").text
    assert "地点" in sim_at.say("liqiang", "2").text                     # 志愿服务
    assert "名额" in sim_at.say("liqiang", "三楼会议室").text
    assert "截止" in sim_at.say("liqiang", "10").text
    assert "发给哪个范围" in sim_at.say("liqiang", "12-09").text
    assert "截止" in sim_at.say("liqiang", "返回").text               # back one step
    sim_at.say("liqiang", "12-09 18:00")
    out = sim_at.say("liqiang", "3")                                     # the third option: 五车间班组
    assert "活动说明" in out.text
    out = sim_at.say("liqiang", "无")
    assert "五车间班组" in out.text and "12-09 18:00" in out.text
    assert "没有发布" in sim_at.press("liqiang", "放弃").text
    with services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Activity)) == 0


def test_weekly_digest_lists_each_activity_once(sim_at, services):
    """The coming week's activity is in the digest's list once; the week after, its attendance."""
    from scheduler.jobs.digest import SECTIONS, digest_text

    assert "handlers.activities.service:digest_lines" in SECTIONS
    act_id = publish(sim_at)
    sim_at.say("zhangsan", f"报名 {act_id}")
    tz = ZoneInfo("Asia/Shanghai")
    with services.session_factory() as db:
        unit = db.scalars(select(Unit).where(Unit.name == "外航维修党支部")).one()
        coming = digest_text(db, unit, T0 - timedelta(days=7), T0, "2026Q4", tz)
        after = digest_text(db, unit, T0, T0 + timedelta(days=7), "2026Q4", tz)
    assert coming.count("周末义务植树") == 1 and "已报名 1/2" in coming
    assert after.count("周末义务植树") == 1 and "本周活动：\n· 周末义务植树（12-05）签到 0/1" in after
