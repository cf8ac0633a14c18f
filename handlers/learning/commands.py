"""Learning commands: 发布学习 (publish), 学习 (list/open), 学完 (studied), 学习情况 (completion)."""
from __future__ import annotations

import re

from sqlalchemy import or_, select

from bot.args import not_found, split_item_number
from bot.context import Context
from bot.forms import Form, Step, choice_card, pick_option
from bot.messages import Button, Card
from bot.router import Router
from models.enums import Role
from models.learning import Material
from models.org import Unit
from models.outbox import Priority
from models.policy import can, scopes

from . import service
from .cards import LearnData, material_card

__all__ = ["load_material", "mark_studied", "open_material", "router"]

router = Router("learning")

URL_RE = re.compile(r"https?://\S+")
FILE_PREFIXES = ("文件:", "文件：", "file:")
TITLE_MAX = 200
TEXT_MAX = 5000


def _publish_allowed(ctx: Context) -> bool:
    return can(ctx.person, "publish")


def _local(ctx: Context, moment) -> str:
    return moment.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")


def _resolve_audience(ctx: Context, name: str) -> Unit | None:
    """The unit named `name` inside the sender's publishing scopes (or the first scope if no name)."""
    own = scopes(ctx.person, Role.SECRETARY, Role.COMMITTEE)
    if not name:
        return own[0] if own else None
    name = name.strip().strip("/")
    conds = [Unit.name == name, Unit.full_name == name, Unit.full_name.like(f"%/{name}")]
    candidates = ctx.db.scalars(select(Unit).where(or_(*conds), Unit.active.is_(True)).order_by(Unit.path)).all()
    inside = [u for u in candidates if any(s.contains(u) for s in own)]
    return (inside or candidates or [None])[0]


@router.command("发布学习", "publish-material", help="发布学习材料给本支部/本单位",
                usage="例：发布学习 党章学习 | 第一章 总纲……（或链接）| 外航维修党支部", allowed=_publish_allowed)
def publish(ctx: Context, args: str) -> None:
    parts = [p.strip() for p in re.split(r"[|｜]", args)] if args else []
    if len(parts) < 2 or not parts[0] or not parts[1]:
        ctx.reply("格式：发布学习 标题 | 内容或链接 [| 受众单位]\n例：发布学习 党章学习 | https://example.com/dangzhang")
        return
    title, content = parts[0], parts[1]
    if len(title) > TITLE_MAX:
        ctx.reply(f"标题太长了（最多 {TITLE_MAX} 字）。")
        return
    if len(content) > TEXT_MAX:
        ctx.reply(f"内容太长了（最多 {TEXT_MAX} 字），长文请发链接。")
        return
    audience = _resolve_audience(ctx, parts[2] if len(parts) > 2 else "")
    if audience is None:
        ctx.reply(f"没有找到受众单位“{parts[2] if len(parts) > 2 else ''}”。")
        return
    if not ctx.require("publish", audience, what=f"抱歉，您无权向“{audience.name}”发布学习材料。"):
        return
    # a push to many people: confirmed once, stating how many it reaches
    ctx.start_form(PUBLISH_FORM, {"title": title, "content": content, "audience": audience.id})


def _ask_confirm(ctx: Context, a: dict) -> Card:
    audience = ctx.db.get(Unit, a["audience"])
    n = len(service.audience_of(ctx.db, audience))
    preview = a["content"] if len(a["content"]) <= 60 else a["content"][:60] + "…"
    return choice_card(ctx, "确认发布学习材料？", CONFIRM_OPTIONS,
                       body=f"《{a['title']}》\n{preview}\n确认后将推送给“{audience.name}”共 {n} 人。")


def _done(ctx: Context, a: dict) -> None:
    if a.get("confirm") != "publish":
        ctx.reply("已放弃，学习材料没有发布。")
        return
    audience = ctx.db.get(Unit, a["audience"])
    if audience is None or not ctx.require("publish", audience):
        return
    title, content = a["title"], a["content"]
    link = file_ref = None
    if content.startswith(FILE_PREFIXES):
        file_ref = content.split(":", 1)[-1].split("：", 1)[-1].strip()
        content = ""
    else:
        found = URL_RE.search(content)
        if found:
            link = found.group(0)
            if content.strip() == link:
                content = ""
    m = Material(title=title, text=content, link=link, file_ref=file_ref, audience_unit_id=audience.id,
                 audience_unit=audience, publisher_id=ctx.person.id, publisher=ctx.person, published_at=ctx.now())
    ctx.db.add(m)
    ctx.db.flush()
    people = service.audience_of(ctx.db, audience)
    ctx.notify(people, material_card(m), ref=f"material:{m.id}", idem_key=f"material:{m.id}",
               priority=Priority.BULK)
    ctx.audit("create", "material", m.id, detail=f"audience={audience.id} n={len(people)}")
    ctx.reply(f"已发布学习材料《{title}》（编号 {m.id}），推送给“{audience.name}”共 {len(people)} 人。"
              f"发送“学习情况 {m.id}”查看学习进度。")


CONFIRM_OPTIONS = [("publish", "确认发布"), ("drop", "放弃")]
PUBLISH_FORM = "learning.publish"
router.form(Form(PUBLISH_FORM, "发布学习材料", [
    Step("confirm", _ask_confirm, lambda ctx, text, a: pick_option(text, CONFIRM_OPTIONS, {
        "是": "publish", "确认": "publish", "发布": "publish", "yes": "publish", "否": "drop", "no": "drop"}),
        free_text=False)], _done))


def load_material(ctx: Context, raw: str | int) -> Material | None:
    mid, _rest, typed = split_item_number(str(raw))
    if not typed:
        ctx.reply("请写上材料编号，例如：学习 3。发送“学习”查看我的学习材料。")
        return None
    m = ctx.db.get(Material, mid) if mid is not None else None
    if m is None:
        ctx.reply(not_found("学习材料", typed, "发送“学习”查看我的学习材料。"))
        return None
    if not ctx.require("learning.study", m, what="这份学习材料不是发给您所在单位的。发送“学习”查看我的学习材料。"):
        return None
    return m


def open_material(ctx: Context, m: Material) -> None:
    row = service.record_open(ctx.db, ctx.person, m, ctx.now())
    studied = row.studied_at is not None
    body = m.text or ("请点击链接学习。" if m.link else "")
    fields = [("发布人", m.publisher.name), ("发布时间", _local(ctx, m.published_at))]
    if m.link:
        fields.append(("链接", m.link))
    if m.file_ref:
        fields.append(("附件", m.file_ref))
    if studied:
        fields.append(("状态", f"已于 {_local(ctx, row.studied_at)} 学完"))
    ctx.reply(Card(title=f"学习材料：{m.title}", body=body, fields=tuple(fields), url=m.link,
                   buttons=() if studied else (Button("已学习", LearnData(m.id, "done").pack()),),
                   card_id=f"learn-open-{m.id}"))
    if not studied:
        ctx.reply(f"学完后请点“已学习”，或发送“学完 {m.id}”。")


def mark_studied(ctx: Context, m: Material) -> bool:
    _row, new = service.record_studied(ctx.db, ctx.person, m, ctx.now())
    if new:
        ctx.reply(f"已记录：《{m.title}》已学习。")
    else:
        ctx.reply(f"《{m.title}》您之前已经标记为已学习。")
    return new


@router.command("学习", "learn", help="我的学习材料（未学完的在前）", usage="学习 N 打开第 N 号材料")
def learn(ctx: Context, args: str) -> None:
    if args:
        m = load_material(ctx, args)
        if m is not None:
            open_material(ctx, m)
        return
    items = service.materials_for(ctx.db, ctx.person)
    if not items:
        ctx.reply("目前没有发给您的学习材料。")
        return
    todo = sum(1 for _m, r in items if r is None or r.studied_at is None)
    lines = [f"我的学习材料（{todo} 份未学完）："]
    for m, r in items:
        state = "已学习" if r is not None and r.studied_at else ("已打开" if r is not None else "未读")
        lines.append(f"[{m.id}] {m.title} — {state}（{_local(ctx, m.published_at)[:10]}）")
    lines.append("发送“学习 编号”打开，“学完 编号”标记已学习。")
    ctx.reply("\n".join(lines))


@router.command("学完", "studied", help="标记学习材料已学习", usage="学完 N")
def studied(ctx: Context, args: str) -> None:
    if not args:
        ctx.reply("请写上材料编号，例如：学完 3。")
        return
    m = load_material(ctx, args)
    if m is not None:
        mark_studied(ctx, m)


def _stats_allowed(ctx: Context) -> bool:
    return can(ctx.person, "publish") or can(ctx.person, "stats.view")


@router.command("学习情况", "material-stats", help="学习材料的完成情况（按单位）", usage="学习情况 N",
                allowed=_stats_allowed)
def material_stats(ctx: Context, args: str) -> None:
    from reports.queries.learning import material_completion

    mid, _rest, typed = split_item_number(args)
    if not typed:
        ctx.reply("请写上材料编号，例如：学习情况 3。")
        return
    m = ctx.db.get(Material, mid) if mid is not None else None
    if m is None:
        ctx.reply(not_found("学习材料", typed))
        return
    if m.publisher_id != ctx.person.id and not ctx.require("stats.view", m):
        return
    total, rows = material_completion(ctx.db, m, "team" if m.audience_unit.kind == "branch" else "branch")
    lines = [f"《{m.title}》学习情况：应学 {total.assigned} 人，已打开 {total.opened} 人，"
             f"已学完 {total.studied} 人（{total.rate:.0%}）"]
    for r in rows:
        if r.assigned:
            lines.append(f"· {r.name}：{r.studied}/{r.assigned}（{r.rate:.0%}），已打开 {r.opened}")
    ctx.reply("\n".join(lines))
