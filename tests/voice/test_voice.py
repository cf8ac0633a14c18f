"""心声 by chat on both stacks: raise named or anonymous, the secretary replies and closes, the
sender gets the reply without the secretary learning who they are; limits and small branches."""
from __future__ import annotations

from sqlalchemy import select

from bot.messages import Card, Text
from models.db import session_scope
from models.enums import Role
from models.org import Person
from models.orgtree import add_person, ensure_unit_path, grant
from models.voice import Voice


def cards(replies) -> list[Card]:
    return [r for r in replies if isinstance(r, Card)]


def texts(replies) -> str:
    return "\n".join(r.text if isinstance(r, Text) else r.as_text() for r in replies)


def test_anonymous_voice_reaches_the_secretary_and_the_reply_reaches_the_sender(sim, services):
    assert "请写下您想向支部反映的情况" in sim.say("zhangsan", "心声").text
    out = sim.say("zhangsan", "夜班交接时间太紧，希望调整")
    choice = cards(out.replies)[0]
    assert [b.text for b in choice.buttons] == ["实名", "匿名"] and "看不到您的身份" in choice.body
    assert "不足" not in choice.body                       # a branch of 14: no weak-anonymity warning
    out = sim.press("zhangsan", "匿名")
    assert "已匿名提交给外航维修党支部" in out.text

    card = cards(sim.inbox("liqiang"))[0]
    assert card.title.startswith("员工心声 #") and card.body == "夜班交接时间太紧，希望调整"
    assert dict(card.fields)["来自"] == "匿名" and "张三" not in card.as_text()
    assert [b.text for b in card.buttons] == ["回复", "办结"]
    assert sim.inbox("chenjing") == [] and sim.inbox("zhouli") == []   # other branch, the team leader: nothing

    assert "请输入对心声" in sim.press("liqiang", "回复", card=card).text
    out = sim.say("liqiang", "已向车间反映，下周起交接延长十分钟")
    assert "回复已送达提出人" in out.text and "张三" not in out.text
    got = texts(sim.inbox("zhangsan"))
    assert "收到外航维修党支部书记的回复" in got and "交接延长十分钟" in got

    listing = sim.say("liqiang", "心声列表").text
    assert "[已回复] 匿名：夜班交接时间太紧" in listing and "张三" not in listing
    voice_id = card.title.split("#")[1]
    assert "已办结" in sim.say("liqiang", f"办结心声 {voice_id} 已调整交接时间").text
    assert "已办结：已调整交接时间" in texts(sim.inbox("zhangsan"))
    assert "已经办结" in sim.say("liqiang", f"办结心声 {voice_id}").text
    assert "已办结" in sim.press("liqiang", "回复", card=card).text      # the old card's button
    assert "没有待处理" in sim.say("liqiang", "心声列表").text
    with session_scope(services.session_factory) as db:
        voice = db.get(Voice, int(voice_id))
        assert voice.anonymous and voice.sender_id is None and voice.state == "closed"


def test_named_voice_in_one_line_names_the_sender(sim, services):
    out = sim.say("wangwu", "心声 实名 食堂晚饭太咸")
    assert "已实名提交" in out.text
    card = cards(sim.inbox("liqiang"))[0]
    assert dict(card.fields)["来自"].startswith("王五")
    out = sim.say("liqiang", f"回复心声 {card.title.split('#')[1]} 已转告食堂")
    assert "回复已送达" in out.text
    assert "已转告食堂" in texts(sim.inbox("wangwu"))


def test_only_the_branch_secretary_handles_a_voice(sim, services):
    sim.say("zhangsan", "心声 匿名 设备老化")
    voice_id = cards(sim.inbox("liqiang"))[0].title.split("#")[1]
    assert "没有权限" in sim.say("chenjing", f"回复心声 {voice_id} 我来回").text   # another branch's secretary
    assert "仅对" in sim.say("wangwei", f"办结心声 {voice_id}").text               # committee: not theirs
    assert "心声列表" not in sim.say("zhouli", "帮助").text                        # a team leader is not shown it
    assert "没有编号为 999" in sim.say("liqiang", "回复心声 999 好").text
    assert "请写上心声编号" in sim.say("liqiang", "回复心声 abc").text


def test_voices_are_rate_limited_per_employee(sim, services):
    for n in range(3):
        assert "已匿名提交" in sim.say("zhaoliu", f"心声 匿名 第{n}件事情").text
    assert "24 小时内已提交 3 条" in sim.say("zhaoliu", "心声 匿名 第四件").text
    assert "24 小时内已提交 3 条" in sim.say("zhaoliu", "心声").text
    assert "已匿名提交" in sim.say("sunqi", "心声 匿名 别人的事").text              # the limit is per person
    services.clock.advance(hours=25)
    assert "已匿名提交" in sim.say("zhaoliu", "心声 匿名 第二天的事").text


def test_a_small_branch_warns_that_anonymity_is_weak(sim, services):
    with session_scope(services.session_factory) as db:
        branch = ensure_unit_path(db, "技术公司党委/小支部")
        branch.kind = "branch"
        team = ensure_unit_path(db, "技术公司党委/小支部/小班组")
        sec = add_person(db, name="钱书记", unit=branch, wecom_userid="qianshuji", party=True)
        grant(db, sec, Role.SECRETARY.value, branch)
        add_person(db, name="孙小", unit=team, wecom_userid="sunxiao")
    sim.say("sunxiao", "心声")
    out = sim.say("sunxiao", "宿舍太吵")
    assert "小支部不足 5 人，匿名也可能被猜到是谁" in cards(out.replies)[0].body
    sim.press("sunxiao", "匿名")
    assert cards(sim.inbox("qianshuji"))


def test_bad_voice_input_gets_a_clear_answer(sim, services):
    sim.say("zhangsan", "心声")
    assert "太短" in sim.say("zhangsan", "a").text
    assert "太长" in sim.say("zhangsan", "长" * 1001).text
    sim.say("zhangsan", "正常的内容")
    assert "没有这个选项" in sim.say("zhangsan", "也许").text
    assert "已实名提交" in sim.say("zhangsan", "1").text
    with session_scope(services.session_factory) as db:
        assert db.scalars(select(Person).where(Person.wecom_userid == "zhangsan")).one().id == \
            db.scalars(select(Voice)).one().sender_id


def test_an_unanswered_voice_reminds_the_secretary_then_goes_up(sim, services):
    from handlers.voice.jobs import voice_sla
    from scheduler.context import JobContext

    sim.say("zhangsan", "心声 匿名 设备老化没人修")
    sim.inbox("liqiang")
    job = JobContext(config=services.config, session_factory=services.session_factory, clock=services.clock)
    services.clock.advance(hours=47)
    assert voice_sla(job) == 0
    services.clock.advance(hours=2)
    assert voice_sla(job) == 1 and voice_sla(job) == 0               # once
    sim.outbox.drain()
    reminder = texts(sim.inbox("liqiang"))
    assert "【超时提醒】员工心声" in reminder and "张三" not in reminder
    services.clock.advance(hours=24)
    assert voice_sla(job) == 1
    sim.outbox.drain()
    assert "【超时上报】外航维修党支部的员工心声" in texts(sim.inbox("wangwei"))
    assert voice_sla(job) == 0
