"""发布学习 in steps (title, category, content or link, deadline, audience, confirm), and the publishing itself.

The one-line form (`发布学习 标题 | 内容或链接 [| 受众单位] [| 类别:党史] [| 截止:12-05]`) fills
the same answers and publishes at once: it is the shortcut for those who type it on a keyboard.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import TypedDict

from bot.args import parse_item_number
from bot.context import Context
from bot.forms import Form, Invalid, Step, choice_step
from bot.router import Router
from bot.steps import publish_done, publish_step, required_text
from handlers.activities.parsing import audience_step
from handlers.activities.service import audience_count  # who a push to a unit's subtree reaches
from models.learning import CATEGORIES, CATEGORY_MAX, Material
from models.org import Unit
from models.outbox import Priority

from . import service
from .cards import material_card

__all__ = ["PUBLISH_FORM", "MaterialAnswers", "parse_category", "parse_material_deadline", "publish_material", "split_content"]

router = Router("learning")

URL_RE = re.compile(r"https?://\S+")
FILE_PREFIXES = ("文件:", "文件：", "file:")
TITLE_MAX = 200
TEXT_MAX = 5000
NO_DEADLINE = {"无", "没有", "不限", "none", "-", "否"}


class MaterialAnswers(TypedDict, total=False):
    """发布学习's answers (the one-line form fills all but confirm)."""
    title: str
    category: str
    content: str             # text, a link, or "文件：名称" (split_content)
    deadline: str | None     # ISO UTC (parse_material_deadline), None: no deadline
    audience: int            # unit id
    confirm: str             # a value of bot.steps.PUBLISH_OPTIONS


def split_content(content: str) -> tuple[str, str | None, str | None]:
    """What was typed → (text, link, file reference): a lone link has no text; "文件：名称" is a file."""
    content = content.strip()
    if content.startswith(FILE_PREFIXES):
        return "", None, content.split(":", 1)[-1].split("：", 1)[-1].strip()
    found = URL_RE.search(content)
    if found is None:
        return content, None, None
    link = found.group(0)
    return ("" if content == link else content), link, None


def parse_category(text: str) -> str:
    """One of CATEGORIES (or its number), or a short own word such as 廉政."""
    t = text.strip().strip(":：")
    n = parse_item_number(t)
    if n is not None and n <= len(CATEGORIES):
        return CATEGORIES[n - 1]
    if not t or len(t) > 10 or any(c in t for c in "|｜\n"):
        raise Invalid(f"类别请选一个（{'、'.join(CATEGORIES)}），或写一个不超过 10 字的类别。")
    return t[:CATEGORY_MAX]


def parse_material_deadline(ctx: Context, text: str) -> str | None:
    """"12-05" (end of that local day), "2026-12-05 18:00", or 无 → ISO UTC or None; never in the past."""
    from handlers.activities.parsing import parse_date, parse_time

    t = text.strip().removeprefix("截止").strip(":： ")
    if t.lower() in NO_DEADLINE:
        return None
    pieces = t.split()
    day = parse_date(pieces[0], ctx.local_now().date()) if pieces else None
    if day is None:
        raise Invalid("截止日期请写成 12-05 或 2026-12-05 18:00；不设截止请回复“无”。")
    clock = parse_time(pieces[1]) if len(pieces) > 1 else time(23, 59)
    at = datetime.combine(day, clock, tzinfo=ctx.tz).astimezone(UTC)
    if at <= ctx.now():
        raise Invalid("截止时间已经过去了，请写将来的日期；不设截止请回复“无”。")
    return at.isoformat()


def publish_material(ctx: Context, a: MaterialAnswers) -> Material | None:
    """Create the material and push its card to the whole audience (through the outbox)."""
    audience = ctx.db.get(Unit, a["audience"])
    if audience is None or not ctx.require("publish", audience,
                                           what="抱歉，您无权向这个单位发布学习材料。"):
        return None
    text, link, file_ref = split_content(a["content"])
    iso = a.get("deadline")
    deadline = datetime.fromisoformat(iso) if iso else None
    m = Material(title=a["title"], category=a.get("category") or "其他", text=text, link=link, file_ref=file_ref,
                 deadline=deadline, audience_unit_id=audience.id, audience_unit=audience,
                 publisher_id=ctx.me.id, publisher=ctx.me, published_at=ctx.now())
    ctx.db.add(m)
    ctx.db.flush()
    people = service.audience_of(ctx.db, audience)
    ctx.notify(people, material_card(m, tz=ctx.tz), ref=f"material:{m.id}", idem_key=f"material:{m.id}",
               priority=Priority.BULK)
    ctx.audit("create", "material", m.id, detail=f"audience={audience.id} n={len(people)} category={m.category}")
    due = f"，截止 {deadline.astimezone(ctx.tz):%m-%d %H:%M}" if deadline else ""
    ctx.reply(f"已发布学习材料《{m.title}》（编号 {m.id}，{m.category}{due}），推送给“{audience.name}”共 {len(people)} 人。"
              f"发送“学习情况 {m.id}”查看学习进度。")
    return m


# --- the steps ----------------------------------------------------------------------------------

def _parse_title(ctx: Context, text: str, a: MaterialAnswers) -> str:
    return required_text(text, "标题", TITLE_MAX)


def _parse_content(ctx: Context, text: str, a: MaterialAnswers) -> str:
    t = text.strip()
    if not t:
        raise Invalid("请发学习内容或链接。")
    if len(t) > TEXT_MAX:
        raise Invalid(f"内容太长了（最多 {TEXT_MAX} 字），长文请发链接。")
    return t


def _confirm_body(ctx: Context, a: MaterialAnswers) -> str:
    unit = ctx.db.get(Unit, a["audience"])
    n = audience_count(ctx.db, unit) if unit else 0
    text, link, file_ref = split_content(a["content"])
    iso = a.get("deadline")
    deadline = datetime.fromisoformat(iso).astimezone(ctx.tz) if iso else None
    lines = [f"标题：{a['title']}", f"类别：{a['category']}"]
    if link:
        lines.append(f"链接：{link}")
    if file_ref:
        lines.append(f"附件：{file_ref}")
    if text:
        lines.append(f"内容：{text[:100]}{'…' if len(text) > 100 else ''}")
    lines += [f"截止：{deadline:%Y-%m-%d %H:%M}" if deadline else "截止：不设",
              f"范围：{unit.full_name if unit else '?'}", f"将发送给 {n} 人。"]
    return "\n".join(lines)


PUBLISH_FORM = router.form(Form[MaterialAnswers](
    name="learning.publish",
    title="发布学习",
    steps=[
        Step("title", lambda ctx, a: "发布学习：请输入标题（例如：党章第一章学习）。随时回复“取消”退出。",
             _parse_title),
        choice_step("category", "学习类别？", lambda: [(c, c) for c in CATEGORIES],
                    keep=lambda a, step, text: parse_category(text)),
        Step("content", lambda ctx, a: "学习内容：发一个链接，或直接输入文字（最多 5000 字）；附件请写“文件：名称”。",
             _parse_content),
        Step("deadline", lambda ctx, a: "学习截止日期？例如 12-05 或 2026-12-05 18:00；截止前未学完的人会在每日待办中收到提醒。"
             "不设截止请回复“无”。", lambda ctx, text, a: parse_material_deadline(ctx, text)),
        audience_step("学习材料", ""),
        publish_step("确认发布这份学习材料？", _confirm_body),
    ],
    done=publish_done("已放弃，学习材料没有发布。", publish_material),
))
