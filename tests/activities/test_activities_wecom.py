"""Activities end to end through the encrypted WeCom webhook and a faked WeCom API.

publish → the card reaches exactly the audience (message/send calls of ≤ 1,000 user ids, one
task_id per call) → join (template_card_event) → that user's card is updated → full →
waitlist → cancel → the first waitlisted person gets the promotion message.
"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from bot.cli.demo import BRANCH_A
from models.activity import Activity, Signup
from models.db import session_scope
from models.org import Person
from models.orgtree import ensure_unit_path
from tests.helpers import FakeWeComAPI

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
LINE = "发布活动 周末义务植树 2026-12-05 09:00-12:00 @浦东基地 名额2 截止12-03 范围:外航维修党支部"
BRANCH_A_PEOPLE = {"liqiang", "zhouli", "zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi", "zhangsanfeng",
                   "wugang", "zhengyi", "fengxue", "chenchen", "weilan", "jiangtao"}


@pytest.fixture
def config_overrides() -> dict:
    return {"delivery.platforms": ["wecom"]}


def activity_cards(api: FakeWeComAPI) -> list[dict]:
    return [m for m in api.sent if m.get("msgtype") == "template_card"
            and m["template_card"]["main_title"]["title"].startswith("【活动】")]


def test_publish_join_full_waitlist_cancel_promotion_over_wecom(wecom, services, api, clock):
    clock.set(T0)
    drain = services.outbox_dispatcher().drain
    assert wecom.say("liqiang", LINE) == ""          # the confirmation card comes through the API
    assert wecom.say("liqiang", "确认发布") == ""     # and so does the management card
    drain()
    sends = activity_cards(api)
    recipients = [u for m in sends for u in m["touser"].split("|")]
    assert sorted(recipients) == sorted(BRANCH_A_PEOPLE)   # exactly the audience, each once
    card = sends[0]["template_card"]
    assert card["card_type"] == "button_interaction"
    assert [b["text"] for b in card["button_list"]] == ["报名", "取消报名"]
    manage = [c for c in api.cards_to("liqiang") if c["main_title"]["title"].startswith("【管理】")]
    assert manage and "签到码" in manage[0]["sub_title_text"]
    join_key, leave_key, task = card["button_list"][0]["key"], card["button_list"][1]["key"], card["task_id"]

    assert "报名成功" in wecom.click("zhangsan", join_key, task, response_code="RC-zs")
    drain()
    update = api.updates[-1]
    assert update["userids"] == ["zhangsan"] and update["response_code"] == "RC-zs"
    assert update["template_card"]["task_id"] == task
    assert "您已报名成功" in update["template_card"]["sub_title_text"]
    assert [b["text"] for b in update["template_card"]["button_list"]] == ["取消报名"]

    assert "报名成功" in wecom.click("lisi", join_key, task)
    assert "候补第 1 位" in wecom.click("wangwu", join_key, task, response_code="RC-ww")
    drain()
    # (updates to different people go out concurrently: find wangwu's)
    [ww] = [u for u in api.updates if u.get("response_code") == "RC-ww"]
    assert "候补第 1 位" in ww["template_card"]["sub_title_text"]
    assert "候补第 2 位" in wecom.click("zhaoliu", join_key, task)
    # WeCom re-delivers a click it thinks we missed: handled once (empty answer)
    clock.advance(seconds=1)
    first = wecom.click("zhaoliu", join_key, task, create=int(clock.now().timestamp()))
    again = wecom.click("zhaoliu", join_key, task, create=int(clock.now().timestamp()))
    assert "无需重复报名" in first and again == ""

    assert "取消报名 1 确认" in wecom.click("zhangsan", leave_key, task)     # a confirmed seat: asked once more
    drain()
    confirm = [c for c in api.cards_to("zhangsan") if c["main_title"]["title"].startswith("确认取消报名")][-1]
    assert "已取消" in wecom.click("zhangsan", confirm["button_list"][0]["key"], confirm["task_id"])
    drain()
    promoted = api.texts_to("wangwu")
    assert len(promoted) == 1 and "候补转正" in promoted[0] and "周末义务植树" in promoted[0]
    assert api.texts_to("zhaoliu") == []
    with services.session_factory() as db:
        rows = dict(db.execute(select(Person.wecom_userid, Signup.status)
                               .join(Person, Person.id == Signup.person_id)).all())
        assert db.scalars(select(Activity)).one().seats_taken == 2
    assert rows == {"zhangsan": "cancelled", "lisi": "confirmed", "wangwu": "confirmed", "zhaoliu": "waitlisted"}
    # an outsider pressing a forwarded card is refused
    assert "不在报名范围内" in wecom.click("hanmei", join_key, task)


def test_card_to_2500_people_goes_in_batches_of_at_most_1000(wecom, services, api, clock):
    clock.set(T0)
    with session_scope(services.session_factory) as db:
        unit = ensure_unit_path(db, f"{BRANCH_A}/机库大班组")
        db.execute(insert(Person), [{"name": f"员工{i}", "name_pinyin": "", "wecom_userid": f"w{i:04d}",
                                     "unit_id": unit.id, "active": True, "is_party_member": False}
                                    for i in range(2500)])
        db.execute(insert(Person), [{"name": "离职者", "name_pinyin": "", "wecom_userid": "gone",
                                     "unit_id": unit.id, "active": False, "is_party_member": False}])
    wecom.say("liqiang", LINE)
    wecom.say("liqiang", "确认发布")
    services.outbox_dispatcher().drain()
    sends = activity_cards(api)
    sizes = [len(m["touser"].split("|")) for m in sends]
    assert len(sends) == 3 and max(sizes) <= 1000 and sum(sizes) == 2500 + len(BRANCH_A_PEOPLE)
    recipients = [u for m in sends for u in m["touser"].split("|")]
    assert len(set(recipients)) == len(recipients)               # nobody twice
    assert set(recipients) == BRANCH_A_PEOPLE | {f"w{i:04d}" for i in range(2500)}   # not "gone"
    assert len({m["template_card"]["task_id"] for m in sends}) == 3  # task_id never repeats
    # one click from the big audience works like any other
    card = sends[-1]["template_card"]
    user = sends[-1]["touser"].split("|")[0]
    assert "报名成功" in wecom.click(user, card["button_list"][0]["key"], card["task_id"])
