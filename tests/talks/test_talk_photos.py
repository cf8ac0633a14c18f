"""走访照片 through the real dispatcher on both storage stacks: a photo is the answer only at the
photos step of a home visit; it is stored as a media id, shown as a count, never shown or logged."""
from __future__ import annotations

import logging
from dataclasses import replace

from sqlalchemy import select

from bot.adapters.simulator import sim_incoming
from bot.messages import Card, Text
from models.talk import Talk

UNSUPPORTED = "暂不支持图片，请发送文字。"


def photo(services, user: str, media_id: str) -> str:
    incoming = replace(sim_incoming(user, text=""), unsupported="image", media_id=media_id)
    return "\n".join(r.text for r in services.dispatcher.handle(incoming).replies if isinstance(r, Text))


def talks(services) -> list[Talk]:
    with services.session_factory() as db:
        return list(db.scalars(select(Talk).order_by(Talk.id)))


def visit_until_photos(sim) -> str:
    sim.say("zhouli", "走访 李四")
    sim.say("zhouli", "家中老人住院，已慰问")
    sim.press("zhouli", "稳定")
    sim.press("zhouli", "无")
    return sim.say("zhouli", "无").text                 # needs


def test_visit_photos_are_kept_counted_and_never_shown(sim, services, caplog):
    caplog.set_level(logging.DEBUG)
    assert photo(services, "zhouli", "MEDIA-0") == UNSUPPORTED            # no dialog running
    sim.say("zhouli", "走访 李四")
    assert photo(services, "zhouli", "MEDIA-X").startswith(UNSUPPORTED)   # the summary step takes text
    text = visit_until_photos(sim)
    assert "如有走访照片请发送" in text and "好了" in text
    assert photo(services, "zhouli", "MEDIA-1").startswith("已收到第 1 张照片。")
    assert "已收到 2 张" in photo(services, "zhouli", "MEDIA-2")
    assert "只收照片" in sim.say("zhouli", "这是什么").text                 # stray text is not "done"
    out = sim.say("zhouli", "好了")
    card = out.replies[-1]
    assert isinstance(card, Card) and card.title == "确认谈话记录"
    assert dict(card.fields)["照片"] == "2 张"
    assert "MEDIA" not in out.text + card.as_text()
    sim.press("zhouli", "保存")
    [talk] = talks(services)
    assert talk.kind == "home_visit" and talk.media_ids == ["MEDIA-1", "MEDIA-2"]
    detail = sim.say("zhouli", f"谈话详情 {talk.id}").text
    assert "照片 2 张" in detail and "MEDIA" not in detail
    assert photo(services, "zhouli", "MEDIA-3") == UNSUPPORTED            # dialog over
    assert talks(services)[0].media_ids == ["MEDIA-1", "MEDIA-2"]
    logged = caplog.text + "".join(str(vars(r)) for r in caplog.records)
    assert "talk.recorded" in logged                                      # the path was logged…
    assert "MEDIA-1" not in logged and "MEDIA-2" not in logged            # …without the media ids


def test_back_from_the_card_returns_to_the_photos_kept_so_far(sim, services):
    visit_until_photos(sim)
    photo(services, "zhouli", "MEDIA-1")
    sim.say("zhouli", "好了")
    out = sim.say("zhouli", "返回")
    assert "已收到 1 张" in out.text
    photo(services, "zhouli", "MEDIA-2")
    assert dict(sim.say("zhouli", "好了").replies[-1].fields)["照片"] == "2 张"
    sim.press("zhouli", "保存")
    assert talks(services)[0].media_ids == ["MEDIA-1", "MEDIA-2"]


def test_other_kinds_edits_and_one_liners_never_ask_for_photos(sim, services):
    sim.say("zhouli", "谈话 张三")
    sim.press("zhouli", "季度谈心")
    sim.say("zhouli", "本季度工作顺利")
    sim.press("zhouli", "稳定")
    sim.press("zhouli", "无")
    out = sim.say("zhouli", "无")                         # needs → straight to the card
    assert "走访照片" not in out.text and out.replies[-1].title == "确认谈话记录"
    assert "照片" not in dict(out.replies[-1].fields)
    assert photo(services, "zhouli", "MEDIA-9").startswith(UNSUPPORTED)
    sim.press("zhouli", "保存")
    out = sim.say("zhouli", "走访 李四 稳定 家中一切安好")     # one line: card at once
    assert "走访照片" not in out.text and out.replies[-1].title == "确认谈话记录"
    sim.press("zhouli", "保存")
    first, visit = talks(services)
    assert first.media_ids == [] and visit.kind == "home_visit" and visit.media_ids == []
    sim.say("zhouli", f"修改谈话 {visit.id}")
    for _ in range(6):
        out = sim.say("zhouli", "不变")
        assert "走访照片" not in out.text
        if isinstance(out.replies[-1], Card) and out.replies[-1].title == "确认修改谈话":
            break
    assert out.replies[-1].title == "确认修改谈话"
    sim.press("zhouli", "保存")
    assert talks(services)[1].version == 2
