"""Learning with categories, deadlines and reflections (issue 18), by chat on both stacks: the
step-by-step 发布学习 with its "将发送给 N 人" confirmation, the `|` shortcut, 学完 N 心得…, the
deadline in the daily digest, and per-unit completion in 统计."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.messages import Card
from models.learning import Material, MaterialRead
from models.org import Person

MONDAY_0830 = datetime(2030, 3, 4, 0, 30, tzinfo=UTC)      # 2030-03-04 08:30 in Shanghai


@pytest.fixture(autouse=True)
def _monday(clock):
    clock.set(MONDAY_0830)


def _material(services, title: str) -> Material:
    with services.session_factory() as db:
        m = db.scalars(select(Material).where(Material.title == title)).one()
        db.expunge(m)
        return m


def test_publish_in_steps_confirms_the_number_of_recipients(sim, services):
    out = sim.say("liqiang", "发布学习")
    assert "请输入标题" in out.text
    card = sim.say("liqiang", "党史学习：遵义会议").replies[0]
    assert card.title == "学习类别？" and [b.text for b in card.buttons] == ["两学一做", "党史", "业务", "安全", "其他"]
    assert "学习内容" in sim.press("liqiang", "党史").text
    assert "学习截止日期" in sim.say("liqiang", "https://example.com/zunyi").text
    assert "日期“02-30”不存在" in sim.say("liqiang", "02-30").text                 # asked again
    assert "截止时间已经过去了" in sim.say("liqiang", "2030-03-01").text
    card = sim.say("liqiang", "03-15").replies[0]
    assert card.title == "发给哪个范围？" and [b.text for b in card.buttons] == ["外航维修党支部", "四车间班组", "五车间班组"]
    confirm = sim.press("liqiang", "四车间班组").replies[0]
    assert confirm.title == "确认发布这份学习材料？"
    assert "类别：党史" in confirm.body and "截止：2030-03-15 23:59" in confirm.body
    assert "将发送给 7 人。" in confirm.body                      # 四车间班组 only, not the whole branch
    assert not sim.inbox("zhangsan")                            # nothing sent before the confirmation
    out = sim.press("liqiang", "确认发布")
    assert "已发布学习材料《党史学习：遵义会议》" in out.text and "截止 03-15 23:59" in out.text and "共 7 人" in out.text
    pushed = [r for r in sim.inbox("zhangsan") if isinstance(r, Card)][-1]
    assert ("类别", "党史") in pushed.fields and ("截止", "03-15 23:59") in pushed.fields
    assert not sim.inbox("wugang")                              # 五车间班组 is outside the chosen audience
    m = _material(services, "党史学习：遵义会议")
    assert m.category == "党史" and m.link == "https://example.com/zunyi"
    assert m.deadline == datetime(2030, 3, 15, 15, 59, tzinfo=UTC)


def test_back_and_drop_in_the_dialog_publish_nothing(sim, services):
    sim.say("liqiang", "发布学习 安全生产月")                    # the title given on the command line
    sim.say("liqiang", "自定义类别太长了超过十个字")
    assert "类别请选一个" in sim.say("liqiang", "自定义类别太长了超过十个字").text
    sim.say("liqiang", "廉政")                                  # a short own category is accepted
    assert sim.say("liqiang", "返回").replies[0].title == "学习类别？"
    sim.say("liqiang", "4")
    sim.say("liqiang", "第一条 安全第一")
    sim.say("liqiang", "无")
    sim.say("liqiang", "1")
    confirm = sim.say("liqiang", "否")
    assert "已放弃" in confirm.text
    with services.session_factory() as db:
        assert db.scalars(select(Material)).all() == []


def test_one_line_shortcut_takes_category_and_deadline(sim, services):
    line = "发布学习 两学一做 第3讲 | https://example.com/3 | 类别:两学一做 | 截止:03-10"
    assert "将发送给 14 人" in sim.say("liqiang", line).text
    out = sim.say("liqiang", "确认发布")
    assert "已发布学习材料《两学一做 第3讲》" in out.text and "两学一做，截止 03-10 23:59" in out.text
    assert "共 14 人" in out.text
    m = _material(services, "两学一做 第3讲")
    assert m.category == "两学一做" and m.audience_unit.name == "外航维修党支部"
    assert "截止时间已经过去了" in sim.say("liqiang", "发布学习 旧材料 | 内容 | 截止:2030-01-01").text
    assert "类别：其他" in sim.say("liqiang", "发布学习 无类别 | 内容").text
    sim.say("liqiang", "确认发布")
    assert _material(services, "无类别").category == "其他" and _material(services, "无类别").deadline is None


def test_studied_with_a_reflection_and_who_reads_reflections(sim, services):
    sim.say("liqiang", "发布学习 党章学习 | 第一章 总纲 | 类别:两学一做")
    sim.say("liqiang", "确认发布")
    mid = _material(services, "党章学习").id
    assert f"学完 {mid} 心得" in sim.say("zhangsan", f"学习 {mid}").text
    too_long = "很" * 501
    out = sim.say("zhangsan", f"学完 {mid} 心得 {too_long}")
    assert "心得最多 500 字，这次有 501 字" in out.text
    with services.session_factory() as db:
        assert db.scalars(select(MaterialRead.studied_at)).all() == [None]      # opened, not studied
    out = sim.say("zhangsan", f"学完 {mid} 心得：要把党章学深学透")
    assert "已记录：《党章学习》已学习。心得已保存（8 字）" in out.text
    out = sim.say("zhangsan", f"学完{mid}心得 联系工作实际")
    assert "您之前已学习，心得已更新（6 字）" in out.text
    sim.say("lisi", f"学完 {mid}")                               # no reflection
    card = next(r for r in sim.say("zhangsan", f"学习 {mid}").replies if isinstance(r, Card))
    assert ("我的心得", "联系工作实际") in card.fields
    out = sim.say("liqiang", f"学习情况 {mid}")
    assert "已学完 2 人" in out.text and "类别：两学一做" in out.text and f"心得 1 篇（发送“学习心得 {mid}”查看）" in out.text
    out = sim.say("liqiang", f"学习心得 {mid}")
    assert "· 张三（四车间班组）：联系工作实际" in out.text and "李四" not in out.text
    assert "仅对有相应职责的同志开放" in sim.say("zhangsan", f"学习心得 {mid}").text
    assert "无权" in sim.say("chenjing", f"学习心得 {mid}").text or "抱歉" in sim.say("chenjing", f"学习心得 {mid}").text
    assert "请写上材料编号" in sim.say("zhangsan", "学完 心得 好").text


def test_deadline_reminders_in_the_daily_digest(sim, services, clock):
    sim.say("liqiang", "发布学习 安全规程 | 第一条 | 类别:安全 | 截止:03-30")
    sim.say("liqiang", "确认发布")
    sim.say("liqiang", "发布学习 党史 | 内容 | 类别:党史")          # no deadline: the usual 14 days
    sim.say("liqiang", "确认发布")
    ids = {m.title: m.id for m in (_material(services, "安全规程"), _material(services, "党史"))}
    sim.say("lisi", f"学完 {ids['安全规程']}")
    text = sim.say("zhangsan", "每日提醒").text
    assert f"学习截止 03-30 23:59（还剩 26 天）：《安全规程》未学完，发送“学习 {ids['安全规程']}”" in text
    assert "未学习：《党史》" in text
    assert text.index("安全规程") < text.index("《党史》")              # the deadline first
    assert "安全规程" not in sim.say("lisi", "每日提醒").text             # studied: no reminder
    clock.advance(days=20)                                           # 03-24: out of the 14 days, deadline 6 days away
    assert sim.say("zhangsan", "每日提醒").text == "您今天没有待办事项。"
    clock.advance(days=4)                                            # 03-28: the last 3 days before the deadline
    assert "学习截止 03-30 23:59（还剩 2 天）：《安全规程》" in sim.say("zhangsan", "每日提醒").text
    clock.advance(days=2)                                            # 03-30 08:30
    assert "（今天截止）" in sim.say("zhangsan", "每日提醒").text
    clock.advance(days=1)                                            # past the deadline: no more reminders
    assert "安全规程" not in sim.say("zhangsan", "每日提醒").text
    assert "已过截止" in sim.say("zhangsan", "学习").text


def test_stats_show_learning_completion_per_unit(sim, services):
    sim.say("liqiang", "发布学习 党章学习 | 第一章")
    sim.say("liqiang", "确认发布")
    mid = _material(services, "党章学习").id
    for user in ("zhangsan", "lisi", "wugang"):
        sim.say(user, f"学完 {mid}")
    text = sim.say("liqiang", "统计").text
    assert "学习完成：3/14（21%）" in text
    assert "  · 四车间班组 2/7（29%）" in text and "  · 五车间班组 1/6（17%）" in text
    text = sim.say("wangwei", "统计").text                          # committee: per branch
    assert "  · 外航维修党支部 3/14（21%）" in text
    with services.session_factory() as db:
        assert db.scalars(select(Person).where(Person.wecom_userid == "zhangsan")).one().active
