"""The publish dialog: one step per part the one-line form may leave out, then the card goes out."""
from __future__ import annotations

from datetime import datetime

from bot.context import Context
from bot.forms import Form, Step, choice_step
from bot.router import Router
from bot.steps import publish_done, publish_step, required_text
from models.activity import PARTY_ONLY_KINDS, Activity
from models.org import Person, Unit

from . import service
from .cards import activity_card, manage_card, new_card_id
from .parsing import (
    KIND_ALIASES,
    KIND_OPTIONS,
    PLACE_MAX,
    TITLE_MAX,
    ActivityAnswers,
    audience_step,
    parse_deadline,
    parse_seats,
    parse_when,
)

__all__ = ["PUBLISH_FORM", "publish_from_answers"]

router = Router("activities")


def publish_from_answers(ctx: Context, a: ActivityAnswers) -> Activity | None:
    """Create the activity and send its card to everyone in the audience (via the outbox)."""
    audience = ctx.db.get(Unit, a["audience"])
    if audience is None or not ctx.require("publish", audience):
        return None
    organiser = ctx.db.get_one(Person, a["organiser"]) if a.get("organiser") else ctx.me
    act = service.create_activity(
        ctx.db, creator=ctx.me, organiser=organiser, title=a["title"], kind=a["kind"],
        starts_at=datetime.fromisoformat(a["when"]["start"]), ends_at=datetime.fromisoformat(a["when"]["end"]),
        place=a["place"], seats=a["seats"], deadline=datetime.fromisoformat(a["deadline"]),
        audience=audience, description=a.get("description", ""), waitlist=a.get("waitlist", True))
    people = service.audience_people(ctx.db, act)
    card = activity_card(act, ctx.config.timezone, card_id=new_card_id(f"act{act.id}"), broadcast=True)
    ctx.broadcast(people, card, ref=f"activity:{act.id}", idem_key=f"act-publish:{act.id}")
    ctx.audit("activity.publish", "activity", act.id, f"audience {audience.id}, {len(people)} people")
    if organiser.id != ctx.me.id:
        ctx.notify(organiser, manage_card(act, ctx.config.timezone,
                                          note=f"{ctx.me.name}发布了这个活动，由您担任组织者。"),
                   ref=f"activity:{act.id}")
    who = f"{len(people)} 名党员" if act.party_only else f"{len(people)} 人"
    ctx.reply(manage_card(act, ctx.config.timezone,
                          note=f"✅ 已发布，活动卡片正在发送给{audience.name}的 {who}。"))
    return act


def _ask_title(ctx: Context, a: ActivityAnswers) -> str:
    return "发布活动：请输入活动名称（例如：周末义务植树）。随时回复“取消”退出。"


def _parse_title(ctx: Context, text: str, a: ActivityAnswers) -> str:
    return required_text(text, "活动名称", TITLE_MAX)


def _ask_when(ctx: Context, a: ActivityAnswers) -> str:
    return "活动时间？例如：2026-12-05 09:00-12:00（跨天：2026-12-05 09:00 到 2026-12-06 17:00）"


def _ask_place(ctx: Context, a: ActivityAnswers) -> str:
    return "活动地点？（例如：浦东基地三号机库）"


def _parse_place(ctx: Context, text: str, a: ActivityAnswers) -> str:
    return required_text(text.strip().lstrip("@＠"), "地点", PLACE_MAX)


def _ask_seats(ctx: Context, a: ActivityAnswers) -> str:
    return "名额多少人？回复数字，例如 30；不限名额回复“不限”。"


def _ask_deadline(ctx: Context, a: ActivityAnswers) -> str:
    return "报名截止时间？例如 12-03 或 12-03 18:00；活动开始前都可报名请回复“开始前”。"


def _parse_deadline(ctx: Context, text: str, a: ActivityAnswers) -> str:
    return parse_deadline(text, ctx, datetime.fromisoformat(a["when"]["start"]))


def _ask_description(ctx: Context, a: ActivityAnswers) -> str:
    return "活动说明（集合地点、着装、携带物品等），不需要请回复“无”。"


def _parse_description(ctx: Context, text: str, a: ActivityAnswers) -> str:
    t = text.strip()
    return "" if t in ("无", "没有", "none", "-") else t[:2000]


def _confirm_body(ctx: Context, a: ActivityAnswers) -> str:
    start = datetime.fromisoformat(a["when"]["start"]).astimezone(ctx.tz)
    end = datetime.fromisoformat(a["when"]["end"]).astimezone(ctx.tz)
    unit = ctx.db.get(Unit, a["audience"])
    lines = [f"名称：{a['title']}", f"类型：{dict(KIND_OPTIONS)[a['kind']]}",
             f"时间：{start:%Y-%m-%d %H:%M} – {end:%m-%d %H:%M}", f"地点：{a['place']}",
             f"名额：{'不限' if a['seats'] is None else a['seats']}",
             f"报名截止：{datetime.fromisoformat(a['deadline']).astimezone(ctx.tz):%m-%d %H:%M}",
             f"范围：{unit.full_name if unit else '?'}" + ("（仅党员）" if a["kind"] in PARTY_ONLY_KINDS else "")]
    if a.get("description"):
        lines.append(f"说明：{a['description'][:200]}")
    if unit is not None:
        lines.append(f"确认后，活动卡片将发送给 {service.audience_count(ctx.db, unit)} 人。")
    return "\n".join(lines)


PUBLISH_FORM = router.form(Form[ActivityAnswers](
    name="activity.publish",
    title="发布活动",
    steps=[
        Step("title", _ask_title, _parse_title),
        choice_step("kind", "活动类型？", lambda: KIND_OPTIONS, aliases=KIND_ALIASES),
        Step("when", _ask_when, lambda ctx, text, a: parse_when(text, ctx)),
        Step("place", _ask_place, _parse_place),
        Step("seats", _ask_seats, lambda ctx, text, a: parse_seats(text)),
        Step("deadline", _ask_deadline, _parse_deadline),
        audience_step("活动", "活动卡片"),
        Step("description", _ask_description, _parse_description),
        publish_step("确认发布这个活动？", _confirm_body),
    ],
    done=publish_done("已放弃，活动没有发布。", publish_from_answers),
))
