"""What talk messages look like: the confirmation card, saved notice, history, details, coverage.

Cards travel through the outbox (a database table, stored as JSON) on WeCom and DingTalk, so no
card carries summary or needs text: the confirmation card shows lengths, and the summary is
echoed (shortened) in the passive text reply, which is never stored. Note text is shown only in
passive text replies kept under WeCom's 2,048-byte limit (history lines are shortened, details
are paged), so it is never split into outbox rows either.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.callbacks import CallbackData
from bot.messages import Button, Card
from models.talk import CATEGORY_LABELS, FLAG_LABELS, KIND_LABELS, MOOD_LABELS, Category, Flag, Mood, Talk, TalkKind
from reports.queries.coverage import TeamCoverage

__all__ = [
    "REPLY_BYTES",
    "TalkConfirm",
    "confirm_card",
    "coverage_text",
    "detail_pages",
    "history_text",
    "label",
    "preview",
    "saved_text",
]

REPLY_BYTES = 1900        # note text stays in one WeCom passive reply (the dispatcher splits at 2,000 bytes)
HISTORY_SNIPPET = 36


@dataclass(frozen=True)
class TalkConfirm(CallbackData):
    """保存 / 返回 / 取消 on the confirmation card; bound to the dialog instance (stale cards refused)."""

    prefix = "tk"
    form_id: str
    op: str


def label(kind: str, value: str | None) -> str:
    if value is None:
        return "—"
    tables: dict[str, tuple[type[StrEnum], Mapping[Any, str]]] = {   # (each label table is keyed by its own enum)
        "kind": (TalkKind, KIND_LABELS), "mood": (Mood, MOOD_LABELS), "flag": (Flag, FLAG_LABELS),
        "category": (Category, CATEGORY_LABELS)}
    table = tables[kind]
    try:
        return table[1][table[0](value)]
    except ValueError:
        return value


def preview(text: str | None, n: int) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "…"


def confirm_card(form_id: str, *, subject: str, kind: str, mood: str, flag: str, category: str | None,
                 summary_len: int, needs_len: int, follows_up_id: int | None, editing: int | None,
                 hint: str = "", day: str = "", photos: int = 0) -> Card:
    fields = [("对象", subject), ("类型", label("kind", kind)), ("思想状态", label("mood", mood)),
              ("标记", label("flag", flag) + (f"（{label('category', category)}）" if flag != "none" else "")),
              ("谈话内容", f"{summary_len} 字"), ("需求", f"{needs_len} 字" if needs_len else "无")]
    if photos:
        fields.append(("照片", f"{photos} 张"))
    if follows_up_id:
        fields.append(("跟进", f"谈话 #{follows_up_id}"))
    body = f"谈话日期：{day}\n" if day else ""
    body += "请核对后保存。内容保存后加密存储，卡片中不显示正文。"
    if not editing:
        body += "\n日期不对？回复实际日期修改（如：昨天、11-28、上周五）。"
    if editing:
        body = f"修改谈话 #{editing}：" + body
    if hint:
        body += "\n" + hint
    buttons = (Button("保存", TalkConfirm(form_id, "save").pack(), 1),
               Button("返回", TalkConfirm(form_id, "back").pack(), 2),
               Button("取消", TalkConfirm(form_id, "cancel").pack(), 3))
    return Card(title="确认谈话记录" if not editing else "确认修改谈话", body=body, fields=tuple(fields),
                buttons=buttons, card_id=f"tk_{form_id}_{uuid.uuid4().hex[:6]}")  # WeCom task ids never repeat


def local_date(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")


def local_time(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def saved_text(talk: Talk, subject_name: str, tz: str, edit_hours: int, edited: bool = False) -> str:
    head = f"已修改谈话 #{talk.id}（第 {talk.version} 版）" if edited else f"已保存谈话 #{talk.id}"
    lines = [f"{head}：{subject_name}，{label('kind', talk.kind)}，{local_date(talk.occurred_at, tz)}，"
             f"{talk.quarter}。"]
    if talk.flag != Flag.NONE:
        lines.append(f"已标记为「{label('flag', talk.flag)}·{label('category', talk.category)}」，支部书记会收到提醒。")
    lines.append(f"{edit_hours} 小时内可发送“修改谈话 {talk.id}”修改。")
    return "\n".join(lines)


def history_text(subject_name: str, talks: list[Talk], tz: str) -> tuple[str, list[Talk]]:
    """One entry per talk with a shortened summary, as many as fit one passive reply.

    Returns the text and the talks actually shown (the caller audits exactly those).
    """
    entries: list[str] = []
    shown: list[Talk] = []
    footer = "发送“谈话详情 编号”查看全文。"
    used = len(footer.encode()) + 120          # room for the header line
    for t in talks:
        flag = f" [{label('flag', t.flag)}·{label('category', t.category)}]" if t.flag != Flag.NONE else ""
        follow = f" 跟进#{t.follows_up_id}" if t.follows_up_id else ""
        entry = (f"#{t.id} {local_date(t.occurred_at, tz)} {label('kind', t.kind)} "
                 f"{label('mood', t.mood)}{flag}{follow}（{t.author.name}）\n  {preview(t.summary, HISTORY_SNIPPET)}")
        size = len(entry.encode()) + 1
        if used + size > REPLY_BYTES:
            break
        entries.append(entry)
        shown.append(t)
        used += size
    head = f"{subject_name} 的谈话记录（共 {len(talks)} 条，显示最近 {len(shown)} 条）："
    return "\n".join([head, *entries, footer]), shown


def detail_pages(talk: Talk, tz: str) -> list[str]:
    """The full talk as pages that each fit one passive reply (REPLY_BYTES), never the outbox."""
    head = "\n".join([
        f"谈话 #{talk.id}：{talk.subject.name}（记录人 {talk.author.name}）",
        f"时间：{local_time(talk.occurred_at, tz)}（{talk.quarter}） 类型：{label('kind', talk.kind)}"
        + (f" 照片 {len(talk.media_ids)} 张" if talk.media_ids else ""),
        f"思想状态：{label('mood', talk.mood)} 标记：{label('flag', talk.flag)}"
        + (f"·{label('category', talk.category)}" if talk.flag != Flag.NONE else "")
        + (f" 跟进：#{talk.follows_up_id}" if talk.follows_up_id else "")
        + (f" 版本：{talk.version}" if talk.version > 1 else "")])
    body = f"内容：{talk.summary}" + (f"\n需求：{talk.needs}" if talk.needs else "")
    footer_room = 120                          # "（第 n/m 页，发送“谈话详情 N n+1”看下一页）"
    chunks: list[str] = []
    start, first = 0, True
    while start < len(body) or not chunks:
        budget = REPLY_BYTES - footer_room - len((head if first else f"谈话 #{talk.id}（续）").encode()) - 1
        end, used = start, 0
        while end < len(body) and used + len(body[end].encode()) <= budget:
            used += len(body[end].encode())
            end += 1
        chunks.append(body[start:end])
        start, first = end, False
    pages = []
    for n, chunk in enumerate(chunks, 1):
        page = (head if n == 1 else f"谈话 #{talk.id}（续）") + "\n" + chunk
        if len(chunks) > 1:
            more = f"，发送“谈话详情 {talk.id} {n + 1}”看下一页）" if n < len(chunks) else "）"
            page += f"\n（第 {n}/{len(chunks)} 页" + more
        pages.append(page)
    return pages


def coverage_text(quarter: str, teams: list[TeamCoverage], tz: str, detailed: bool,
                  names: dict[int, str] | None = None) -> str:
    """`names`: person id → display name (two people of one name told apart)."""
    names = names or {}
    if not teams:
        return "您名下没有班组。"
    lines = [f"{quarter} 谈心谈话覆盖情况："]
    for cov in teams:
        lines.append(f"【{cov.name}】已谈 {len(cov.talked)}/{cov.total}")
        if not detailed:
            if cov.missing:
                shown = "、".join(names.get(m.person_id, m.name) for m in cov.missing[:8])
                shown += "等" if len(cov.missing) > 8 else ""
                lines.append(f"  未谈：{shown}")
            continue
        for m in cov.members:
            last = local_date(m.last_talk_at, tz) if m.last_talk_at else "从未"
            mark = "✓" if m.talked else "✗"
            lines.append(f"  {mark} {names.get(m.person_id, m.name)}  最近一次：{last}")
    if detailed and any(c.missing for c in teams):
        lines.append("发送“谈话 姓名”开始记录。")
    return "\n".join(lines)
