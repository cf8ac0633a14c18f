"""Dialog engine: a declared form continues across app instances; cancel, back, stale cards, expiry."""
from __future__ import annotations

import pytest

from bot.cli.wiring import build_services, create_app
from bot.forms import Form, Invalid, Step, choice_card, pick_option
from bot.router import Registry, Router
from handlers import build_registry
from tests.conftest import make_config
from tests.helpers import WeComPlatform
from tests.transcript import Press, transcript

COLOURS = [("red", "红"), ("blue", "蓝")]
saved: list[dict] = []


def _ask_name(ctx, answers):
    return "请问您的昵称？"


def _parse_name(ctx, text, answers):
    if len(text) < 2:
        raise Invalid("昵称至少两个字。")
    return text


def _ask_colour(ctx, answers):
    return choice_card(ctx, "喜欢的颜色？", COLOURS)


def _parse_colour(ctx, text, answers):
    return pick_option(text, COLOURS)


def _ask_note(ctx, answers):
    return "最后，说一句话："


def _done(ctx, answers):
    saved.append(dict(answers))
    ctx.reply(f"已保存：{answers['name']}/{answers['colour']}/{answers['note']}")


survey = Form(name="test.survey", title="测试问卷", steps=[
    Step("name", _ask_name, _parse_name),
    Step("colour", _ask_colour, _parse_colour),
    Step("note", _ask_note, lambda ctx, t, a: t),
], done=_done)

router = Router("test-dialogs")
router.form(survey)


@router.command("问卷", "survey", help="测试问卷")
def start_survey(ctx, args):
    ctx.start_form("test.survey")


def registry() -> Registry:
    base = build_registry()
    return Registry([*base.routers, router])


@pytest.fixture(autouse=True)
def _clear():
    saved.clear()


@pytest.fixture
def two_apps(stack, clock):
    """Two app instances (own engines, services, stores) sharing one database and one Redis."""
    from bot.cli.demo import seed_demo
    from models.db import make_engine, make_session_factory, session_scope

    engine, r = stack
    url = engine.url.render_as_string(hide_password=False)
    config = make_config(url)
    with session_scope(make_session_factory(engine)) as db:
        seed_demo(db)
    apps = []
    for _ in range(2):
        svc = build_services(config, redis_client=r, clock=clock, engine=make_engine(url))
        svc.dispatcher.registry = registry()
        app = create_app(config, services=svc)
        apps.append(WeComPlatform(app.test_client(), config, clock))
    yield apps
    for platform in apps:
        platform.client.application.extensions["lianxin"].engine.dispose()


def queued_card_titles(platform: WeComPlatform, user: str) -> list[str]:
    """Cards cannot be a passive WeCom reply: they wait in the outbox for message/send."""
    from sqlalchemy import select

    from models.outbox import OutboxMessage

    svc = platform.client.application.extensions["lianxin"]
    with svc.session_factory() as db:
        rows = db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [r.payload["title"] for r in rows if user in r.recipients and r.payload["type"] == "card"]


def test_dialog_continues_across_two_app_instances(two_apps):
    a, b = two_apps
    assert "昵称" in a.say("zhangsan", "问卷")
    assert b.say("zhangsan", "小张") == ""                  # instance B continues: the next question is a card
    assert queued_card_titles(b, "zhangsan") == ["喜欢的颜色？"]
    assert "说一句话" in a.say("zhangsan", "2")             # typed number picks option 2 on instance A
    assert "已保存：小张/blue/你好" in b.say("zhangsan", "你好")
    assert saved == [{"name": "小张", "colour": "blue", "note": "你好"}]


def test_invalid_answer_reasks_and_back_and_cancel(two_apps):
    a, b = two_apps
    a.say("lisi", "survey")
    assert "至少两个字" in b.say("lisi", "x")
    a.say("lisi", "老李")
    assert "昵称" in b.say("lisi", "返回")                   # back to the first question
    a.say("lisi", "李老师")
    reply = b.say("lisi", "取消")
    assert "已取消「测试问卷」" in reply
    assert "没有听懂" in a.say("lisi", "2")                 # the dialog is really gone
    assert saved == []


@pytest.fixture
def sim_with_survey(sim, services):
    services.dispatcher.registry = registry()
    return sim


COLOUR_CARD = "【喜欢的颜色？】\n可点按钮，或回复序号/文字；回复“返回”上一步，“取消”退出。\n  [1] 红\n  [2] 蓝"


def test_stale_card_button_is_refused(sim_with_survey, services):
    sim = sim_with_survey
    transcript(sim, [
        ("wangwu", "问卷", "请问您的昵称？"),
        ("wangwu", "老王", COLOUR_CARD),
    ])
    old_card = sim.last_cards["wangwu"]
    transcript(sim, [
        ("wangwu", "返回", "请问您的昵称？"),
        ("wangwu", "王老师", COLOUR_CARD),                              # the colour question again, same dialog
        ("wangwu", Press("红", old_card), "最后，说一句话："),          # same dialog and step: the earlier card answers it
        ("wangwu", "取消", "已取消「测试问卷」，没有保存任何内容。"),
        ("wangwu", "问卷", "请问您的昵称？"),
        ("wangwu", "王五", COLOUR_CARD),
        ("wangwu", Press("蓝", old_card),                                # a card from the cancelled dialog
         "这张卡片已过期，请按最新的提问回答。\n\n" + COLOUR_CARD),
    ])
    assert saved == []


def test_idle_dialog_expires_with_a_notice(sim_with_survey, services):
    sim = sim_with_survey
    sim.say("zhaoliu", "问卷")
    services.redis.delete("conv:sim:zhaoliu")           # what the TTL does after conversation.ttl_seconds
    transcript(sim, [("zhaoliu", "老赵", "您之前的「测试问卷」对话因长时间未操作已自动结束，未保存的内容已丢弃。\n\n"
                                        "没有听懂“老赵”。发送“帮助”查看可用命令。")])
    assert saved == []
