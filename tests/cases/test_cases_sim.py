"""The whole case flow in the simulator: flag → secretary card → care request → committee →
helper → progress → closed, with the polite refusals and the history."""
from __future__ import annotations

from bot.messages import Card, Text
from tests.case_helpers import answer_care_form, load, request_care, sim_say
from tests.case_helpers import flag_talk as _flag_talk


def flag_talk(sim, services, **kw):
    case_id = _flag_talk(services, **kw)
    sim.outbox.drain()
    return case_id


def cards_in(items):
    return [i for i in items if isinstance(i, Card)]


def test_full_flow_in_simulator(sim, services):
    case_id = flag_talk(sim, services)
    flag_cards = cards_in(sim.inbox("liqiang"))
    assert len(flag_cards) == 1 and f"事项 {case_id}" in flag_cards[0].title and "张三" in flag_cards[0].title
    assert [b.text for b in flag_cards[0].buttons] == ["确认收到", "安排跟进谈话", "发起关爱申请", "查看谈话"]
    assert sim.inbox("chenjing") == [] and sim.inbox("wangwei") == []  # other branch, committee: nothing yet

    out = sim.press("liqiang", "确认收到")
    assert "已确认收到" in out.text
    assert out.card_updates and "李强" in dict(out.card_updates[0].fields)["状态"]
    assert load(services, case_id).state == "acknowledged"
    again = sim.press("liqiang", "确认收到", card=flag_cards[0])
    assert "无需再确认" in again.text and "李强" in again.text

    out = sim.press("liqiang", "发起关爱申请", card=flag_cards[0])
    assert "关爱类型" in out.text
    assert "已提交关爱申请" in answer_care_form(sim_say(sim), "liqiang", out.text, 关爱需求="家属住院，需探望慰问并申请困难补助")
    care = cards_in(sim.inbox("wangwei"))
    assert len(care) == 1 and dict(care[0].fields)["需求"].startswith("家属住院")
    zcard = cards_in(sim.inbox("zhaomin"))[0]

    out = sim.press("wangwei", "同意")
    assert "已同意关爱申请" in out.text and out.card_updates[0].done_text == "已同意"
    updates = sim.inbox("zhaomin")  # zhaomin's copy is replaced: greyed, names the decider
    assert any(isinstance(u, Card) and u.done_text == "已同意" and "王伟" in dict(u.fields)["结果"] for u in updates)
    late = sim.press("zhaomin", "驳回", card=zcard)
    assert "已由王伟" in late.text and "同意" in late.text and "无需重复审批" in late.text

    approved = cards_in(sim.inbox("liqiang"))
    assert approved and approved[-1].title.startswith("关爱申请已同意")
    out = sim.press("liqiang", "指派帮扶人", card=approved[-1])
    assert "帮扶人姓名" in out.text
    out = sim.say("liqiang", "王五")  # not a Party member
    assert "没有找到" in out.text
    out = sim.say("liqiang", "李四")
    assert "已指派李四" in out.text
    helper = cards_in(sim.inbox("lisi"))
    assert helper and helper[0].title.startswith(f"帮扶任务 · 事项 {case_id}")

    out = sim.say("lisi", "进展 已上门探望，送去慰问金")
    assert "已记录" in out.text
    assert any(isinstance(t, Text) and "已上门探望" in t.text for t in sim.inbox("liqiang"))
    assert "仅对" in sim.say("zhangsan", f"进展 {case_id} 我自己说").text        # not a Party member
    assert "不是事项" in sim.say("sunqi", f"进展 {case_id} 我来汇报").text        # a Party member, not the helper

    out = sim.say("liqiang", f"结案 {case_id} 已发放困难补助，家属康复出院")
    assert "确认结案" in out.text and "李四" in out.text and load(services, case_id).state != "closed"
    out = sim.say("liqiang", "确认")
    assert "已结案" in out.text
    case = load(services, case_id)
    assert case.state == "closed" and case.outcome.startswith("已发放") and case.helper.name == "李四"
    assert [(e.from_state, e.to_state) for e in case.events if e.kind == "transition"] == [
        (None, "reported"), ("reported", "acknowledged"), ("acknowledged", "care_requested"),
        ("care_requested", "approved"), ("approved", "helper_assigned"), ("helper_assigned", "in_progress"),
        ("in_progress", "closed")]

    history = sim.say("liqiang", f"案件 {case_id}").text
    assert "已结案" in history and "王伟" in history and "李四" in history and "已上门探望" in history
    assert "没有权限" in sim.say("chenjing", f"案件 {case_id}").text  # other branch's secretary
    assert "仅对" in sim.say("zhangsan", f"案件 {case_id}").text      # an employee


def test_reject_asks_for_reason_and_tells_the_secretary(sim, services):
    case_id = flag_talk(sim, services, subject="zhengyi", author="wugang", flag="watch", category="pay")
    sim.inbox("liqiang")
    request_care(sim_say(sim), "liqiang", case_id, "其他 绩效扣减后生活困难")
    sim.inbox("zhaomin")
    out = sim.press("zhaomin", "驳回")
    assert "理由" in out.text and load(services, case_id).state == "care_requested"
    out = sim.say("zhaomin", "请先核实绩效情况")
    assert "已驳回" in out.text
    case = load(services, case_id)
    assert case.state == "rejected" and case.reject_reason == "请先核实绩效情况" and case.decided_by.name == "赵敏"
    assert any(isinstance(t, Text) and "请先核实绩效情况" in t.text for t in sim.inbox("liqiang"))
    late = sim.press("wangwei", "同意", card=cards_in(sim.inbox("wangwei"))[0])
    assert "已由赵敏" in late.text and "驳回" in late.text


def test_invalid_transition_is_refused_in_chinese(sim, services):
    case_id = flag_talk(sim, services)
    out = sim.say("liqiang", f"指派 {case_id} 李四")
    assert "同意后才能指派" in out.text and "待确认" in out.text
    assert load(services, case_id).state == "reported"


def test_todo_lists_what_each_person_must_do(sim, services):
    case_id = flag_talk(sim, services)
    assert f"事项 {case_id}" in sim.say("liqiang", "待办").text and f"确认 {case_id}" in sim.say("liqiang", "待办").text
    assert "没有待办" in sim.say("chenjing", "待办").text
    request_care(sim_say(sim), "liqiang", case_id, "其他 需要慰问")
    todo = sim.say("wangwei", "待办").text
    assert "待我审批" in todo and f"同意 {case_id}" in todo and f"驳回 {case_id} 理由" in todo
    assert "待我审批" in sim.say("zhaomin", "待办").text


def test_secretary_opens_a_care_request_directly(sim, services):
    assert "已提交关爱申请" in request_care(sim_say(sim), "chenjing", "杨帆", "其他 父亲重病，需要困难补助")
    assert cards_in(sim.inbox("wangwei"))
    assert "没有找到" in sim.say("chenjing", "关爱申请 张三 需要慰问").text  # not in her branch


def test_the_same_talk_flagged_twice_opens_one_case(sim, services):
    from sqlalchemy import func, select

    from bot.context import Context
    from bot.messages import Incoming
    from models.case import Case
    from tests.case_helpers import person

    case_id = flag_talk(sim, services)
    assert len(sim.inbox("liqiang")) == 1
    with services.session_factory() as db:
        talk_id = db.get(Case, case_id).talk_id
        ctx = Context(incoming=Incoming(platform="sim", user_id="zhouli", time=services.clock.now(), message_id="m2"),
                      person=person(db, "zhouli"), db=db, config=services.config, registry=services.registry,
                      clock=services.clock)
        ctx.emit("talk.flagged", talk_id=talk_id)   # an edit re-emits the event
        db.commit()
        assert db.scalar(select(func.count()).select_from(Case)) == 1
    sim.outbox.drain()
    assert sim.inbox("liqiang") == []  # no second card


def test_a_talk_flagged_in_the_talks_dialog_reaches_the_secretary(sim, services):
    sim.say("zhouli", "谈话 张三 季度 波动 家里老人生病 #紧急 #家庭")
    sim.press("zhouli", "保存")
    [card] = cards_in(sim.inbox("liqiang"))
    assert "【紧急】" in card.title and "张三" in card.title and dict(card.fields)["标记"] == "紧急·家庭"
    assert "老人生病" not in card.as_text()   # the notes stay out of the card
    assert sim.inbox("chenjing") == []
    assert "已确认收到" in sim.press("liqiang", "确认收到").text
