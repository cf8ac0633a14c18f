"""Learning commands: 发布学习 (publish), 学习 (list/open), 学完 (studied, 心得), 学习情况 / 学习心得 (publisher's view)."""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import or_, select

from bot.args import load_numbered
from bot.context import Context
from bot.forms import Invalid
from bot.messages import Button, Card
from bot.router import Router
from models.enums import Role
from models.learning import REFLECTION_MAX, Material
from models.org import Unit
from models.policy import can, scopes

from . import service
from .cards import LearnData
from .forms import PUBLISH_FORM, MaterialAnswers, parse_category, parse_material_deadline

__all__ = ["load_material", "mark_studied", "open_material", "router"]

router = Router("learning")

ONE_LINE = "发布学习 标题 | 内容或链接 [| 受众单位] [| 类别:党史] [| 截止:12-05]"


def _publish_allowed(ctx: Context) -> bool:
    return can(ctx.person, "publish")


def _local(ctx: Context, moment: datetime) -> str:
    return moment.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")


def _resolve_audience(ctx: Context, name: str) -> Unit | None:
    """The unit named `name` inside the sender's publishing scopes (or the first scope if no name)."""
    own = scopes(ctx.me, Role.SECRETARY, Role.COMMITTEE)
    if not name:
        return own[0] if own else None
    name = name.strip().strip("/")
    conds = [Unit.name == name, Unit.full_name == name, Unit.full_name.like(f"%/{name}")]
    candidates = ctx.db.scalars(select(Unit).where(or_(*conds), Unit.active.is_(True)).order_by(Unit.path)).all()
    inside = [u for u in candidates if any(s.contains(u) for s in own)]
    found = inside or candidates
    return found[0] if found else None


KEY_RE = re.compile(r"^(类别|分类|类型|截止|截止日期)\s*[:：]\s*(.*)$")


def _one_line(ctx: Context, parts: list[str]) -> MaterialAnswers | None:
    """The `|` shortcut → the dialog's answers (replies and returns None when a part is wrong)."""
    title, content = parts[0], parts[1]
    if len(title) > 200:
        ctx.reply("标题太长了（最多 200 字）。")
        return None
    if len(content) > 5000:
        ctx.reply("内容太长了（最多 5000 字），长文请发链接。")
        return None
    answers: MaterialAnswers = {"title": title, "content": content, "category": "其他", "deadline": None}
    unit_name = ""
    try:
        for part in parts[2:]:
            m = KEY_RE.match(part)
            if m and m.group(1).startswith("截止"):
                answers["deadline"] = parse_material_deadline(ctx, m.group(2))
            elif m:
                answers["category"] = parse_category(m.group(2))
            elif part:
                unit_name = part
    except Invalid as exc:
        ctx.reply(str(exc))
        return None
    audience = _resolve_audience(ctx, unit_name)
    if audience is None:
        ctx.reply(f"没有找到受众单位“{unit_name}”。")
        return None
    if not ctx.require("publish", audience, what=f"抱歉，您无权向“{audience.name}”发布学习材料。"):
        return None
    answers["audience"] = audience.id
    return answers


@router.command("发布学习", "publish-material", help="发布学习材料（逐项引导，或一行写完）",
                usage=f"只发“发布学习”逐项填写；一行写完：{ONE_LINE}", allowed=_publish_allowed)
def publish(ctx: Context, args: str) -> None:
    """Start the step-by-step dialog, or publish at once from the one-line `|` form."""
    parts = [p.strip() for p in re.split(r"[|｜]", args)] if args else []
    if len(parts) < 2:
        PUBLISH_FORM.start(ctx, {"title": parts[0][:200]} if parts and parts[0] else {})
        return
    if not parts[0] or not parts[1]:
        ctx.reply(f"格式：{ONE_LINE}\n例：发布学习 党章学习 | https://example.com/dangzhang | 类别:两学一做 | 截止:12-05\n"
                  "或只发“发布学习”逐项填写。")
        return
    answers = _one_line(ctx, parts)
    if answers is not None:
        PUBLISH_FORM.start(ctx, answers)   # a push to many people: straight to the confirmation ("将发送给 N 人")


def load_material(ctx: Context, raw: str | int) -> Material | None:
    hint = "发送“学习”查看我的学习材料。"
    m, _rest = load_numbered(ctx, Material, str(raw), noun="学习材料", ask=f"请写上材料编号，例如：学习 3。{hint}", hint=hint)
    if m is None or not ctx.require("learning.study", m, what=f"这份学习材料不是发给您所在单位的。{hint}"):
        return None
    return m


def open_material(ctx: Context, m: Material) -> None:
    row = service.record_open(ctx.db, ctx.me, m, ctx.now())
    studied = row.studied_at is not None
    body = m.text or ("请点击链接学习。" if m.link else "")
    fields = [("类别", m.category), ("发布人", m.publisher.name), ("发布时间", _local(ctx, m.published_at))]
    if m.deadline is not None:
        fields.append(("截止", _local(ctx, m.deadline)))
    if m.link:
        fields.append(("链接", m.link))
    if m.file_ref:
        fields.append(("附件", m.file_ref))
    if row.studied_at is not None:   # (studied)
        fields.append(("状态", f"已于 {_local(ctx, row.studied_at)} 学完"))
    if row.reflection:
        fields.append(("我的心得", row.reflection))
    ctx.reply(Card(title=f"学习材料：{m.title}", body=body, fields=tuple(fields), url=m.link,
                   buttons=() if studied else (Button("已学习", LearnData(m.id, "done").pack()),),
                   card_id=f"learn-open-{m.id}"))
    if not studied:
        ctx.reply(f"学完后请点“已学习”，或发送“学完 {m.id}”；也可以附上心得：学完 {m.id} 心得 ……")


def mark_studied(ctx: Context, m: Material, reflection: str | None = None) -> bool:
    row, new = service.record_studied(ctx.db, ctx.me, m, ctx.now())
    kept = ""
    if reflection:
        updated = row.reflection is not None
        row.reflection = reflection
        kept = f"心得已{'更新' if updated else '保存'}（{len(reflection)} 字）。"
    if new:
        ctx.reply(f"已记录：《{m.title}》已学习。{kept}")
    elif kept:
        ctx.reply(f"《{m.title}》您之前已学习，{kept}")
    else:
        ctx.reply(f"《{m.title}》您之前已经标记为已学习。可以补写心得：学完 {m.id} 心得 ……")
    return new


@router.command("学习", "learn", help="我的学习材料（未学完的在前）", usage="学习 N 打开第 N 号材料")
def learn(ctx: Context, args: str) -> None:
    if args:
        m = load_material(ctx, args)
        if m is not None:
            open_material(ctx, m)
        return
    items = service.materials_for(ctx.db, ctx.me)
    if not items:
        ctx.reply("目前没有发给您的学习材料。")
        return
    todo = sum(1 for _m, r in items if r is None or r.studied_at is None)
    lines = [f"我的学习材料（{todo} 份未学完）："]
    for m, r in items:
        state = "已学习" if r is not None and r.studied_at else ("已打开" if r is not None else "未读")
        due = ""
        if m.deadline is not None and not (r is not None and r.studied_at):
            due = "，已过截止" if m.deadline <= ctx.now() else f"，截止 {_local(ctx, m.deadline)[5:10]}"
        lines.append(f"[{m.id}] {m.title} — {state}（{m.category}，{_local(ctx, m.published_at)[:10]}{due}）")
    lines.append("发送“学习 编号”打开，“学完 编号 [心得 …]”标记已学习。")
    ctx.reply("\n".join(lines))


@router.command("学完", "studied", help="标记学习材料已学习，可附心得", usage="学完 N [心得 不超过500字]")
def studied(ctx: Context, args: str) -> None:
    m_args = re.match(r"^#?(\S+?)(?:\s+|$|(?=心得))(.*)$", args.strip(), re.S)
    if not m_args:
        ctx.reply("请写上材料编号，例如：学完 3；附心得：学完 3 心得 ……")
        return
    reflection = re.sub(r"^(心得|体会)\s*[:：]?\s*", "", m_args.group(2).strip()).strip()
    if len(reflection) > REFLECTION_MAX:
        ctx.reply(f"心得最多 {REFLECTION_MAX} 字，这次有 {len(reflection)} 字，请精简后再发（没有记录）。")
        return
    m = load_material(ctx, m_args.group(1))
    if m is not None:
        mark_studied(ctx, m, reflection or None)


def _stats_allowed(ctx: Context) -> bool:
    return can(ctx.person, "publish") or can(ctx.person, "stats.view")


def _published_material(ctx: Context, args: str, usage: str) -> Material | None:
    """The material numbered in `args` if the sender published it or may see its statistics (学习情况, 学习心得)."""
    m, _rest = load_numbered(ctx, Material, args, noun="学习材料", ask=f"请写上材料编号，例如：{usage}。")
    if m is None or (m.publisher_id != ctx.me.id and not ctx.require("stats.view", m)):
        return None
    return m


@router.command("学习情况", "material-stats", help="学习材料的完成情况（按单位）", usage="学习情况 N",
                allowed=_stats_allowed)
def material_stats(ctx: Context, args: str) -> None:
    from reports.queries.learning import material_completion

    m = _published_material(ctx, args, "学习情况 3")
    if m is None:
        return
    total, rows = material_completion(ctx.db, m, "team" if m.audience_unit.kind == "branch" else "branch")
    lines = [f"《{m.title}》学习情况：应学 {total.assigned} 人，已打开 {total.opened} 人，"
             f"已学完 {total.studied} 人（{total.rate:.0%}）"]
    notes = service.reflection_count(ctx.db, m)
    extra = [f"类别：{m.category}"] + ([f"截止：{_local(ctx, m.deadline)}"] if m.deadline else [])
    extra += [f"心得 {notes} 篇（发送“学习心得 {m.id}”查看）"] if notes else []
    lines.append("，".join(extra))
    for r in rows:
        if r.assigned:
            lines.append(f"· {r.name}：{r.studied}/{r.assigned}（{r.rate:.0%}），已打开 {r.opened}")
    ctx.reply("\n".join(lines))


@router.command("学习心得", "reflections", help="查看学习材料的心得（发布人、书记、党委）", usage="学习心得 N",
                allowed=_stats_allowed)
def reflections(ctx: Context, args: str) -> None:
    """The reflections written on one material, newest first (publisher and those who see its statistics)."""
    m = _published_material(ctx, args, "学习心得 3")
    if m is None:
        return
    rows = service.reflections(ctx.db, m, limit=20)
    ctx.audit("read", "material_reflections", m.id, detail=f"n={len(rows)}")
    if not rows:
        ctx.reply(f"《{m.title}》还没有人写心得。")
        return
    lines = [f"《{m.title}》的学习心得（最新 {len(rows)} 篇）："]
    lines += [f"· {p.name}（{p.unit.name if p.unit else '—'}）：{text}" for p, text in rows]
    ctx.reply("\n".join(lines))
