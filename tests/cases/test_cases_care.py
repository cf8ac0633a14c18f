"""Care requests as the organisations run them (issue 18) and every card step by text (issue 15),
through the real dispatcher in the simulator, on both storage stacks."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from bot.messages import Card, Text
from models.audit import AuditEvent
from models.enums import Role
from models.handover import hand_over
from models.org import Unit
from models.orgtree import grant
from tests.case_helpers import answer_care_form, flag_talk, load, person, request_care, sim_say


def cards_in(items):
    return [i for i in items if isinstance(i, Card)]


def texts_in(items):
    return "\n".join(i.text for i in items if isinstance(i, Text))


def opened(services, sim, **kw) -> int:
    case_id = flag_talk(services, **kw)
    sim.outbox.drain()
    return case_id


def give_role(services, uid: str, role: Role, unit_name: str = "技术公司党委") -> None:
    with services.session_factory() as db:
        unit = db.scalars(select(Unit).where(Unit.full_name == unit_name)).one()
        grant(db, person(db, uid), str(role), unit)
        db.commit()


# --- every button by text ----------------------------------------------------------------------

def test_text_commands_do_what_the_buttons_do(sim, services):
    case_id = opened(services, sim)
    [card] = cards_in(sim.inbox("liqiang"))
    assert f"确认 {case_id}" in card.body and dict(card.fields)["谈话"].startswith("#")
    assert "没有权限" in sim.say("chenjing", f"确认 {case_id}").text           # the same policy as the button
    out = sim.say("liqiang", f"确认 {case_id}")
    assert "已确认收到" in out.text
    assert "无需再确认" in sim.say("liqiang", f"确认 {case_id}").text        # the same idempotence
    assert "无需再确认" in sim.press("liqiang", "确认收到", card=card).text
    # the one answer for a number that names nothing (bot.args.not_found: a long number shown cut)
    assert "没有编号为 999999999999… 的关爱事项" in sim.say("liqiang", "确认 99999999999999999999999").text
    assert "跟进谈话" in sim.say("liqiang", f"跟进 {case_id}").text
    usage = sim.say("liqiang", "帮助 确认").text
    assert "确认 事项号" in usage
    for word in ("同意", "驳回"):
        assert f"{word} 事项号" in sim.say("wangwei", f"帮助 {word}").text
    assert "关爱 事项号" in sim.say("liqiang", "帮助 关爱").text


def test_the_item_reads_as_a_care_item_with_its_talk(sim, services):
    case_id = opened(services, sim)
    detail = sim.say("liqiang", f"事项 {case_id}").text
    assert detail.startswith(f"关爱事项 {case_id}") and "谈话 #" in detail and "紧急·家庭" in detail
    assert "案件" not in detail
    assert sim.say("liqiang", f"案件 {case_id}").text == detail                 # the old word still works
    assert "案件" not in sim.say("liqiang", "帮助").text


def test_view_talk_button_shows_the_summary_to_those_allowed_and_audits_it(sim, services):
    case_id = opened(services, sim)
    [card] = cards_in(sim.inbox("liqiang"))
    out = sim.press("liqiang", "查看谈话", card=card)
    assert "家属住院，情绪低落" in out.text
    talk_id = load(services, case_id).talk_id
    with services.session_factory() as db:
        reads = db.scalars(select(AuditEvent).where(AuditEvent.action == "read", AuditEvent.target_type == "talk")).all()
        assert [r.target_id for r in reads] == [str(talk_id)]
    assert "仅对" in sim.say("sunqi", f"谈话详情 {talk_id}").text                 # a party member: not allowed


def test_lost_card_is_resent(sim, services):
    case_id = opened(services, sim)
    request_care(sim_say(sim), "liqiang", case_id)
    sim.inbox("wangwei")
    assert "已重发" in sim.say("wangwei", f"卡片 {case_id}").text
    [again] = cards_in(sim.inbox("wangwei"))
    assert [b.text for b in again.buttons][:2] == ["同意", "驳回"]
    assert "已同意" in sim.press("wangwei", "同意", card=again).text
    assert "没有需要您操作的卡片" in sim.say("wangwei", f"卡片 {case_id}").text


# --- the approval chain: three configurations --------------------------------------------------

def test_small_condolence_is_approved_by_the_secretary_alone(sim, services):
    case_id = opened(services, sim)
    text = request_care(sim_say(sim), "liqiang", case_id, "慰问 生病 300 家属住院，探望慰问")
    assert "已直接批准" in text
    case = load(services, case_id)
    assert (case.state, case.care_type, case.care_reason, case.amount, case.approval_chain) == (
        "approved", "condolence", "illness", 300, "secretary")
    assert cards_in(sim.inbox("wangwei")) == [] and cards_in(sim.inbox("zhaomin")) == []
    assert "指派" in sim.say("liqiang", "待办").text


@pytest.mark.parametrize("config_overrides", [{"care.approval_chain": [{"levels": ["committee"]}]}])
def test_committee_reject_updates_every_card(sim, services, config_overrides):
    case_id = opened(services, sim)
    assert "已提交" in request_care(sim_say(sim), "liqiang", case_id, "慰问 生病 300 家属住院")
    [wcard] = cards_in(sim.inbox("wangwei"))
    assert len(cards_in(sim.inbox("zhaomin"))) == 1 and "请党委审批" in wcard.body
    out = sim.say("zhaomin", f"驳回 {case_id} 请补充诊断证明")
    assert "已驳回" in out.text
    mine = [c for c in cards_in(sim.inbox("zhaomin")) if c.done_text]
    theirs = [c for c in cards_in(sim.inbox("wangwei")) if c.done_text]
    assert mine and mine[-1].done_text == "已驳回"                          # the rejecter's own card too
    assert theirs and "赵敏" in dict(theirs[-1].fields)["结果"] and "请审批" not in theirs[-1].body
    assert "请补充诊断证明" in texts_in(sim.inbox("liqiang"))
    late = sim.press("wangwei", "同意", card=wcard)
    assert "已由赵敏" in late.text and "驳回" in late.text and load(services, case_id).state == "rejected"


def test_committee_then_union_each_sees_who_approved_before(sim, services):
    give_role(services, "sunqi", Role.UNION)
    case_id = opened(services, sim)
    text = request_care(sim_say(sim), "liqiang", case_id, "困难帮扶 2000 家属住院，医疗费用高")
    assert "等待党委审批" in text and "党委 → 工会" in text
    assert cards_in(sim.inbox("sunqi")) == []                                   # not yet
    zcard, wcard = cards_in(sim.inbox("zhaomin"))[0], cards_in(sim.inbox("wangwei"))[0]
    out = sim.press("wangwei", "同意", card=wcard)
    assert "已转工会审批" in out.text and "孙七" in out.text
    assert any(c.done_text == "已同意" and "王伟" in dict(c.fields)["结果"] for c in cards_in(sim.inbox("zhaomin")))
    [ucard] = cards_in(sim.inbox("sunqi"))
    assert "王伟" in dict(ucard.fields)["审批"] and "第 2/2 级" in dict(ucard.fields)["审批"]
    assert "查看谈话" not in [b.text for b in ucard.buttons]                    # the union may not read talks
    assert "无需重复审批" in sim.press("zhaomin", "同意", card=zcard).text       # the committee level is decided
    assert "无需重复审批" in sim.say("wangwei", f"同意 {case_id}").text
    assert load(services, case_id).state == "care_requested"
    assert "待我审批" in sim.say("sunqi", "待办").text
    out = sim.say("sunqi", f"同意 {case_id}")
    assert "已同意关爱申请" in out.text
    case = load(services, case_id)
    assert case.state == "approved" and case.decided_by.name == "孙七"
    assert [(e.kind, e.actor_id is not None) for e in case.events if e.kind == "approval"] == [("approval", True)]
    approved = cards_in(sim.inbox("liqiang"))
    assert approved and approved[-1].title.startswith("关爱申请已同意")


def test_a_level_without_approvers_is_refused_before_submitting(sim, services):
    from models.org import RoleAssignment

    with services.session_factory() as db:     # the demo's one 工会 approver (孙丽) steps down
        db.execute(delete(RoleAssignment).where(RoleAssignment.person_id == person(db, "sunli").id))
        db.commit()
    case_id = opened(services, sim)
    text = request_care(sim_say(sim), "liqiang", case_id, "困难帮扶 2000 医疗费用高")
    assert "还没有工会审批人" in text and "未提交" in text
    assert load(services, case_id).state == "reported"


def test_youth_matters_go_to_the_youth_league(sim, services):
    give_role(services, "chenchen", Role.YOUTH)
    case_id = opened(services, sim)
    text = request_care(sim_say(sim), "liqiang", case_id, "子女就学 孩子入学", **{"35 岁": "是"})
    assert "等待团委审批" in text and "陈晨" in text
    assert cards_in(sim.inbox("chenchen")) and cards_in(sim.inbox("wangwei")) == []


# --- the requester: withdraw, remind -----------------------------------------------------------

def test_withdraw_and_remind(sim, services, clock):
    case_id = opened(services, sim)
    request_care(sim_say(sim), "liqiang", case_id)
    [wcard] = cards_in(sim.inbox("wangwei"))
    assert "已提醒" in sim.say("liqiang", f"催办 {case_id}").text
    assert "【催办】" in texts_in(sim.inbox("wangwei")) and "【催办】" in texts_in(sim.inbox("zhaomin"))
    assert "每天最多催办一次" in sim.say("liqiang", f"催办 {case_id}").text
    clock.advance(hours=25)
    assert "已提醒" in sim.say("liqiang", f"催办 {case_id}").text
    assert "没有权限" in sim.say("chenjing", f"撤回 {case_id}").text
    out = sim.say("liqiang", f"撤回 {case_id}")
    assert "已撤回" in out.text and load(services, case_id).state == "acknowledged"
    assert any(c.done_text == "已撤回" for c in cards_in(sim.inbox("wangwei")))
    assert "撤回" in sim.press("wangwei", "同意", card=wcard).text and load(services, case_id).state == "acknowledged"
    assert "不能撤回" in sim.say("liqiang", f"撤回 {case_id}").text


# --- loops closed ------------------------------------------------------------------------------

def test_the_leader_hears_back_and_close_is_confirmed(sim, services):
    case_id = opened(services, sim)
    sim.inbox("zhouli")
    sim.say("liqiang", f"确认 {case_id}")
    heard = texts_in(sim.inbox("zhouli"))
    assert "已由李强确认收到" in heard and "情绪低落" not in heard
    out = sim.say("liqiang", f"结案 {case_id} 已谈心，情绪平稳")
    assert "确认结案" in out.text and "周丽" in out.text and load(services, case_id).state == "acknowledged"
    assert "已结案" in sim.say("liqiang", "确认").text
    heard = texts_in(sim.inbox("zhouli"))
    assert "已由李强办结" in heard and "情绪平稳" not in heard


def test_helper_replaced_after_confirmation_and_the_employee_told(sim, services):
    case_id = opened(services, sim)
    request_care(sim_say(sim), "liqiang", case_id)
    sim.say("wangwei", f"同意 {case_id}")
    sim.say("liqiang", f"指派 {case_id} 李四")
    assert "李四将与您联系" in texts_in(sim.inbox("zhangsan"))
    out = sim.say("liqiang", f"指派 {case_id} 孙七")
    assert "确认改派" in out.text and "李四" in out.text and load(services, case_id).helper.name == "李四"
    assert "已指派孙七" in sim.say("liqiang", "确认").text
    assert "改派孙七" in texts_in(sim.inbox("lisi"))


def test_discretion_keeps_the_employee_uninformed(sim, services):
    case_id = opened(services, sim)
    request_care(sim_say(sim), "liqiang", case_id, **{"告知本人": "保密"})
    sim.say("wangwei", f"同意 {case_id}")
    assert "未通知本人" in sim.say("liqiang", f"指派 {case_id} 李四").text
    assert texts_in(sim.inbox("zhangsan")) == ""


def test_unflagging_the_talk_closes_an_early_item(sim, services):
    from tests.case_helpers import edit_flag
    case_id = opened(services, sim)
    sim.inbox("liqiang")
    edit_flag(services, case_id, "none")
    sim.outbox.drain()
    case = load(services, case_id)
    assert case.state == "closed" and any("取消标记" in (e.comment or "") for e in case.events)
    assert "已自动结束" in texts_in(sim.inbox("liqiang"))


def test_unflagging_a_running_request_leaves_a_note(sim, services):
    from tests.case_helpers import edit_flag
    case_id = opened(services, sim)
    request_care(sim_say(sim), "liqiang", case_id)
    edit_flag(services, case_id, "none")
    sim.outbox.drain()
    case = load(services, case_id)
    assert case.state == "care_requested" and any(e.kind == "note" for e in case.events)
    assert "关爱流程" in texts_in(sim.inbox("liqiang"))


def test_a_departed_helper_hands_the_duty_back_to_the_secretary(sim, services):
    case_id = opened(services, sim)
    request_care(sim_say(sim), "liqiang", case_id)
    sim.say("wangwei", f"同意 {case_id}")
    sim.say("liqiang", f"指派 {case_id} 李四")
    sim.inbox("liqiang")
    with services.session_factory() as db:
        lisi = person(db, "lisi")
        lisi.active = False
        assert hand_over(db, [lisi.id], services.clock.now(), platforms=["sim"]) == 1
        db.commit()
    sim.outbox.drain()
    case = load(services, case_id)
    assert case.state == "approved" and case.helper_id is None
    assert f"指派 {case_id}" in texts_in(sim.inbox("liqiang"))


@pytest.mark.parametrize("config_overrides", [{"care.approval_chain": [{"levels": ["committee"]}]}])
def test_photos_of_documents_are_kept_and_counted_never_shown(sim, services, config_overrides):
    """A photo sent at the 证明材料 step is that step's answer (not "暂不支持图片"); outside it, it is."""
    from dataclasses import replace

    from bot.adapters.simulator import sim_incoming

    def photo(user: str, media_id: str) -> str:
        incoming = replace(sim_incoming(user, text=""), unsupported="image", media_id=media_id)
        return "\n".join(r.text for r in services.dispatcher.handle(incoming).replies if isinstance(r, Text))

    assert photo("liqiang", "M0") == "暂不支持图片，请发送文字。"
    case_id = opened(services, sim)
    text = sim.say("liqiang", f"关爱申请 {case_id} 慰问 生病 300 家属住院").text
    for _ in range(5):
        if "证明材料" in text:
            break
        text = sim.say("liqiang", "否").text
    assert "证明材料" in text
    assert photo("liqiang", "MEDIA-1").startswith("已收到第 1 张照片。")
    assert "已收到 2 张" in photo("liqiang", "MEDIA-2")
    assert "已提交" in answer_care_form(sim_say(sim), "liqiang", sim.say("liqiang", "好了").text)
    assert load(services, case_id).media_ids == ["MEDIA-1", "MEDIA-2"]
    [card] = cards_in(sim.inbox("wangwei"))
    shown = card.title + card.body + str(card.fields)
    assert "证明材料 2 张" in shown and "MEDIA-1" not in shown
