"""Activities never lose a seat to a stale card (issue 15): 取消候补 pressed after a promotion changes
nothing, giving up a confirmed seat is asked once more, nothing is cancelled after check-in; both stacks."""
from __future__ import annotations

from datetime import timedelta

from models.activity import Activity
from tests.activities.test_activities import publish, statuses


def test_an_old_waitlist_card_never_gives_away_a_confirmed_seat(sim_at, services):
    act_id = publish(sim_at)
    for user in ("zhangsan", "lisi", "wangwu"):
        sim_at.inbox(user)                                          # the card each one got
    sim_at.press("zhangsan", "报名")
    sim_at.press("lisi", "报名")
    waitlist_card = sim_at.press("wangwu", "报名").card_updates[0]
    assert [b.text for b in waitlist_card.buttons] == ["取消候补"]
    sim_at.say("zhangsan", f"取消报名 {act_id} 确认")                 # wangwu is promoted
    assert statuses(services, act_id)["wangwu"] == "confirmed"
    out = sim_at.press("wangwu", "取消候补", card=waitlist_card)       # the old card, pressed later
    assert "这张卡片已过期，没有做任何更改" in out.text and "已报名（候补已递补成功）" in out.text
    assert [b.text for b in out.card_updates[0].buttons] == ["取消报名"]   # the card shows the seat now
    assert statuses(services, act_id)["wangwu"] == "confirmed"


def test_giving_up_a_confirmed_seat_asks_first_by_button_and_by_text(sim_at, services):
    act_id = publish(sim_at)
    sim_at.inbox("zhangsan")
    sim_at.press("zhangsan", "报名")
    out = sim_at.press("zhangsan", "取消报名")
    assert "确认取消报名" in out.text and "取消报名 1 确认" in out.text
    assert statuses(services, act_id)["zhangsan"] == "confirmed"
    assert "已取消「周末义务植树」的报名" in sim_at.press("zhangsan", "确认取消报名").text
    assert statuses(services, act_id)["zhangsan"] == "cancelled"
    # the confirmation pressed again (or late) cancels nothing more
    assert "您没有报名「周末义务植树」，无需取消" in sim_at.press("zhangsan", "确认取消报名").text


def test_no_cancelling_after_check_in(sim_at, services, clock):
    act_id = publish(sim_at)
    sim_at.say("zhangsan", f"报名 {act_id}")
    with services.session_factory() as db:
        act = db.get(Activity, act_id)
        code, starts = act.checkin_code, act.starts_at
    clock.set(starts - timedelta(minutes=10))
    assert "签到成功" in sim_at.say("zhangsan", f"签到 {code}").text
    out = sim_at.say("zhangsan", f"取消报名 {act_id} 确认")
    assert "您已在「周末义务植树」签到，不能再取消报名" in out.text
    assert statuses(services, act_id)["zhangsan"] == "confirmed"
    assert "已签到 1" in sim_at.say("liqiang", f"报名名单 {act_id}").text
