"""Learning materials by chat: publish to an audience, list, open, mark studied, completion."""
from __future__ import annotations

from sqlalchemy import select

from bot.cli.demo import BRANCH_A
from bot.messages import Card
from models.db import session_scope
from models.learning import Material, MaterialRead
from models.org import Person
from models.orgtree import add_person, ensure_unit_path
from models.outbox import OutboxMessage


def _cards(replies):
    return [r for r in replies if isinstance(r, Card)]


def test_publish_pushes_cards_to_the_audience_only(sim, services):
    out = sim.say("liqiang", "发布学习 党章学习 | 第一章 总纲 https://example.com/dangzhang")
    assert "将发送给 14 人" in out.text and not sim.inbox("zhangsan")   # asked first
    out = sim.press("liqiang", "确认发布")
    assert "已发布学习材料《党章学习》" in out.text and "共 14 人" in out.text
    card = _cards(sim.inbox("zhangsan"))[-1]
    assert card.title == "学习材料：党章学习" and card.url == "https://example.com/dangzhang"
    assert [b.text for b in card.buttons] == ["打开学习", "已学习"]
    assert _cards(sim.inbox("wugang"))            # the other team of branch A
    assert not sim.inbox("yangfan")               # branch B is not in the audience
    with services.session_factory() as db:
        m = db.scalars(select(Material)).one()
        assert m.audience_unit.full_name == BRANCH_A and m.link == "https://example.com/dangzhang"
        assert m.text.startswith("第一章")


def test_list_open_and_study(sim, services):
    sim.say("liqiang", "发布学习 党章学习 | 第一章 总纲")
    sim.say("liqiang", "确认发布")
    sim.say("wangwei", "发布学习 二十大报告 | https://example.com/report")
    sim.say("wangwei", "确认发布")
    with services.session_factory() as db:
        ids = {m.title: m.id for m in db.scalars(select(Material))}
    out = sim.say("zhangsan", "学习")
    assert "2 份未学完" in out.text
    assert f"[{ids['党章学习']}] 党章学习 — 未读" in out.text and f"[{ids['二十大报告']}] 二十大报告 — 未读" in out.text
    out = sim.say("zhangsan", f"学习 {ids['党章学习']}")
    card = _cards(out.replies)[0]
    assert card.body == "第一章 总纲" and [b.text for b in card.buttons] == ["已学习"]
    out = sim.say("zhangsan", "学习")
    assert f"[{ids['党章学习']}] 党章学习 — 已打开" in out.text
    out = sim.press("zhangsan", "已学习")
    assert "已记录：《党章学习》已学习" in out.text
    assert "之前已经标记为已学习" in sim.say("zhangsan", f"学完 {ids['党章学习']}").text
    out = sim.say("zhangsan", "学习")
    assert "1 份未学完" in out.text
    # not studied first: the report comes before the studied 党章学习
    assert out.text.index("二十大报告") < out.text.index("党章学习 — 已学习")
    # the pushed card's own 已学习 button records it too and greys the card
    card = next(c for c in _cards(sim.inbox("lisi")) if c.title == "学习材料：二十大报告")
    out = sim.press("lisi", "已学习", card=card)
    assert "已学习" in out.text and out.card_updates and out.card_updates[0].done_text == "已学习 ✓"
    with services.session_factory() as db:
        rows = {(db.get(Person, r.person_id).wecom_userid, r.material_id): r for r in db.scalars(select(MaterialRead))}
        assert set(rows) == {("zhangsan", ids["党章学习"]), ("lisi", ids["二十大报告"])}
        assert rows[("zhangsan", ids["党章学习"])].studied_at is not None
        assert rows[("lisi", ids["二十大报告"])].studied_at is not None
    out = sim.say("liqiang", f"学习情况 {ids['党章学习']}")
    assert "应学 14 人，已打开 1 人，已学完 1 人（7%）" in out.text
    assert "四车间班组：1/7（14%），已打开 1" in out.text


def test_refusals_and_bad_input(sim):
    assert "仅对有相应职责的同志开放" in sim.say("zhangsan", "发布学习 标题 | 内容").text
    assert "格式：发布学习" in sim.say("liqiang", "发布学习 | 只有内容").text
    assert sim.say("liqiang", "发布学习 只有标题").replies[0].title == "学习类别？"   # the dialog, title kept
    assert "已取消「发布学习」" in sim.say("liqiang", "取消").text
    assert "无权向“附件修理党支部”发布" in sim.say("liqiang", "发布学习 标题 | 内容 | 附件修理党支部").text
    sim.say("chenjing", "发布学习 B支部材料 | 内容")
    sim.say("chenjing", "确认发布")
    out = sim.say("zhangsan", "学习")
    assert "没有发给您的学习材料" in out.text
    assert "不是发给您所在单位的" in sim.say("zhangsan", "学习 1").text
    assert "没有编号为 99 的学习材料" in sim.say("zhangsan", "学习 99").text
    assert "请写上材料编号" in sim.say("zhangsan", "学习 abc").text


def test_large_audience_is_batched_per_1000(embedded, clock):
    from bot.cli.demo import seed_demo
    from bot.cli.wiring import build_services
    from tests.conftest import make_config

    engine, r = embedded
    svc = build_services(make_config(engine.url.render_as_string(hide_password=False)), redis_client=r,
                         clock=clock, engine=engine)
    with session_scope(svc.session_factory) as db:
        seed_demo(db)
        team = ensure_unit_path(db, BRANCH_A + "/大班组")
        for i in range(2100):
            add_person(db, name=f"员工{i}", unit=team, wecom_userid=f"u{i}")
    from bot.adapters.simulator import sim_incoming

    out = svc.dispatcher.handle(sim_incoming("liqiang", text="发布学习 大材料 | 内容"))
    assert "将发送给 2114 人" in out.text
    out = svc.dispatcher.handle(sim_incoming("liqiang", text="确认发布"))
    assert "已发布" in out.text
    with svc.session_factory() as db:
        rows = db.scalars(select(OutboxMessage).where(OutboxMessage.ref.like("material:%"))).all()
        assert sorted(len(r.recipients) for r in rows) == [114, 1000, 1000]
