"""End to end through the encrypted WeCom webhook and a faked WeCom API (responses):
flag → secretary card → acknowledge click → care request → committee approve click → helper →
progress → closed; the update_template_card bodies; a click replayed by WeCom."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models.case import Case, CaseEvent
from models.outbox import OutboxMessage
from tests.case_helpers import fill_care_form, flag_talk, load


@pytest.fixture
def config_overrides():
    return {"delivery.platforms": ["wecom"]}


def keys(card: dict) -> dict[str, str]:
    return {b["text"]: b["key"] for b in card["button_list"]}


def fields(card: dict) -> dict[str, str]:
    return {f["keyname"]: f["value"] for f in card.get("horizontal_content_list", [])}


def test_flag_to_closed_over_wecom(wecom, services, api):
    out = services.outbox_dispatcher()
    case_id = flag_talk(services, platform="wecom")
    out.drain()
    [card] = api.cards_to("liqiang")
    assert card["card_type"] == "button_interaction" and "张三" in card["main_title"]["title"]
    assert fields(card)["标记"] == "紧急·家庭" and fields(card)["记录人"] == "周丽"
    assert api.to("chenjing") == [] and api.to("wangwei") == [] and api.to("zhaomin") == []
    assert "家属住院" not in str(api.sent)  # talk notes never leave through a card

    reply = wecom.click("liqiang", keys(card)["确认收到"], card["task_id"], response_code="RC-ack")
    assert "已确认收到" in reply
    out.drain()
    upd = api.updates[-1]
    assert upd["response_code"] == "RC-ack" and upd["userids"] == ["liqiang"]
    assert upd["template_card"]["task_id"] == card["task_id"]
    assert "李强" in fields(upd["template_card"])["状态"] and "已确认" in fields(upd["template_card"])["状态"]
    assert [b["text"] for b in upd["template_card"]["button_list"]] == ["安排跟进谈话", "发起关爱申请", "查看谈话"]

    wecom.click("liqiang", keys(card)["发起关爱申请"], card["task_id"], response_code="RC-2")
    assert "已提交关爱申请" in fill_care_form(wecom.say, "liqiang", "家属住院，需探望慰问并申请困难补助")
    out.drain()
    [care] = api.cards_to("wangwei")
    assert api.cards_to("zhaomin") == [care]  # one message/send to both committee members
    with services.session_factory() as db:
        send_row = db.scalars(select(OutboxMessage).where(OutboxMessage.ref == care["task_id"])).one()
        send_code = send_row.response_code
    assert send_code and send_code.startswith("RCODE")  # returned by message/send, kept on the row

    reply = wecom.click("wangwei", keys(care)["同意"], care["task_id"], response_code="RC-w")
    assert "已同意关爱申请" in reply
    out.drain()
    mine, others = sorted(api.updates[-2:], key=lambda u: u["userids"] != ["wangwei"])
    assert mine["response_code"] == "RC-w" and mine["userids"] == ["wangwei"]
    assert others["response_code"] == send_code and others["userids"] == ["zhaomin"]
    for u in (mine, others):
        tc = u["template_card"]
        assert tc["task_id"] == care["task_id"] and tc["replace_text"] == "已同意"
        assert "王伟" in fields(tc)["结果"] and "已同意" in fields(tc)["结果"]
    with services.session_factory() as db:
        assert db.get(OutboxMessage, send_row.id).response_code is None  # single use: moved, not reused

    late = wecom.click("zhaomin", keys(care)["驳回"], care["task_id"], response_code="RC-z")
    assert "已由王伟" in late and "无需重复审批" in late
    out.drain()
    assert api.updates[-1]["response_code"] == "RC-z" and api.updates[-1]["template_card"]["replace_text"] == "已同意"

    approved = api.cards_to("liqiang")[-1]
    assert "帮扶人姓名" in wecom.click("liqiang", keys(approved)["指派帮扶人"], approved["task_id"], response_code="RC-a")
    assert "已指派李四" in wecom.say("liqiang", "李四")
    out.drain()
    [task] = api.cards_to("lisi")
    assert task["card_type"] == "text_notice" and f"进展 {case_id}" in task["sub_title_text"]

    assert "已记录" in wecom.say("lisi", "进展 已上门探望，送去慰问金")
    out.drain()
    assert any("已上门探望" in t for t in api.texts_to("liqiang"))
    wecom.say("liqiang", f"结案 {case_id} 已发放困难补助")
    out.drain()
    assert api.cards_to("liqiang")[-1]["main_title"]["title"] == "确认结案？"   # asked before it happens
    assert "已结案" in wecom.say("liqiang", "确认")
    out.drain()
    assert any("已由李强结案" in t for t in api.texts_to("lisi"))

    case = load(services, case_id)
    assert case.state == "closed"
    steps = [(e.from_state, e.to_state, e.actor.name if e.actor else None) for e in case.events]
    assert steps == [(None, "reported", "周丽"), ("reported", "acknowledged", "李强"),
                     ("acknowledged", "care_requested", "李强"), ("care_requested", "approved", "王伟"),
                     ("approved", "helper_assigned", "李强"), ("helper_assigned", "in_progress", "李四"),
                     ("in_progress", "closed", "李强")]
    with services.session_factory() as db:
        rows = db.scalars(select(OutboxMessage)).all()
        assert all(r.status == "sent" for r in rows)
        msgids = [r.platform_msgid for r in rows if r.kind == "send"]
        assert len(msgids) == len(set(msgids)) == len(api.sent)  # each message sent exactly once


def test_click_replayed_three_times_changes_state_once(wecom, services, api):
    case_id = flag_talk(services, platform="wecom")
    services.outbox_dispatcher().drain()
    [card] = api.cards_to("liqiang")
    create = int(services.clock.now().timestamp())
    replies = [wecom.click("liqiang", keys(card)["确认收到"], card["task_id"], create=create) for _ in range(3)]
    assert "已确认收到" in replies[0] and replies[1] == "" and replies[2] == ""  # WeCom retries: deduped
    # a real second tap (a new delivery) is answered politely and changes nothing
    again = wecom.click("liqiang", keys(card)["确认收到"], card["task_id"], create=create + 5)
    assert "无需再确认" in again
    with services.session_factory() as db:
        events = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                    CaseEvent.to_state == "acknowledged")).all()
        assert len(events) == 1 and db.get(Case, case_id).state == "acknowledged"


def test_second_secretary_copy_is_greyed_when_the_first_acknowledges(wecom, services, api):
    from bot.cli.demo import BRANCH_A
    from models.orgtree import find_unit, grant
    from tests.case_helpers import person

    with services.session_factory() as db:
        grant(db, person(db, "sunqi"), "secretary", find_unit(db, BRANCH_A))  # a deputy secretary
        db.commit()
    flag_talk(services, platform="wecom")
    out = services.outbox_dispatcher()
    out.drain()
    [card] = api.cards_to("liqiang")
    assert api.cards_to("sunqi") == [card] and api.to("sunqi")[0]["touser"] in ("liqiang|sunqi", "sunqi|liqiang")
    wecom.click("liqiang", keys(card)["确认收到"], card["task_id"], response_code="RC-l")
    out.drain()
    [other] = [u for u in api.updates if u["userids"] == ["sunqi"]]
    assert other["response_code"].startswith("RCODE") and other["template_card"]["replace_text"] == "李强已确认"
    late = wecom.click("sunqi", keys(card)["确认收到"], card["task_id"], response_code="RC-s")
    assert "已由李强" in late and "无需再确认" in late
