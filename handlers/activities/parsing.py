"""Parsing what a publisher types (one line or one step): dates, times, seats, deadline, audience.

One line (every part but the title and the time is optional; missing required parts are asked):
    发布活动 周末义务植树 2026-12-05 09:00-12:00 @浦东基地 名额30 截止12-03 范围:外航维修党支部
    publish 青年读书会 12-10 19:00-21:00 @三楼会议室 名额不限 类型:青年 说明:自带一本书
Parts: date (2026-12-05, 12-05, 12/05, 12月5日) + time range (09:00-12:00, or one time = 2 hours);
@地点; 名额N / 名额不限; 截止MM-DD [HH:MM] (default: the start); 范围:单位名;
类型:主题党日|党课|组织生活会|团队|志愿|青年 (the first three: Party members of the audience only);
组织者:姓名; 不候补 (refuse when full instead of queueing); 说明:… (the rest of the line).
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.args import parse_item_number
from bot.context import Context
from bot.forms import A, Invalid, Step, choice_card
from bot.messages import Card
from bot.steps import required_text
from models.activity import KIND_LABELS, ActivityKind
from models.enums import Role
from models.org import Person, Unit
from models.policy import can, scopes

__all__ = ["USAGE", "ActivityAnswers", "When", "parse_deadline", "parse_one_line", "parse_when"]

USAGE = ("发布活动 周末义务植树 2026-12-05 09:00-12:00 @浦东基地 名额30 截止12-03 范围:外航维修党支部"
         "（可选：类型:志愿 组织者:张三 不候补 说明:…；只发“发布活动”则逐项引导）")

KIND_ALIASES = {"主题党日": "party_day", "党日": "party_day", "party-day": "party_day", "党课": "party_lesson",
                "party-lesson": "party_lesson", "组织生活会": "org_life", "组织生活": "org_life", "org-life": "org_life",
                "团队": "team", "团队活动": "team", "team": "team", "志愿": "volunteer", "志愿服务": "volunteer",
                "volunteer": "volunteer", "义务": "volunteer", "青年": "youth", "青年活动": "youth", "youth": "youth",
                "团建": "team"}
KIND_OPTIONS = [(k.value, KIND_LABELS[k]) for k in ActivityKind]
TITLE_MAX = 100     # the same rule in the dialog and the one line (bot.steps.required_text)
PLACE_MAX = 200     # the column's size



class When(TypedDict):
    start: str     # ISO, UTC
    end: str


class ActivityAnswers(TypedDict, total=False):
    """The publish dialog's answers (the one-line form prefills them)."""
    title: str
    kind: str                 # an ActivityKind value
    when: When
    place: str
    seats: int | None         # None: no limit
    deadline: str             # ISO, UTC
    audience: int             # unit id
    description: str
    confirm: str              # a value of bot.steps.PUBLISH_OPTIONS
    organiser: int            # person id (one-line form; else the sender)
    waitlist: bool            # False: 不候补 (one-line form)
    _deadline_raw: str        # parse_one_line's own, read once the time is known


DATE_RE = re.compile(r"^(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?$")
TIME_RE = re.compile(r"^(\d{1,2})[:：](\d{2})$")
RANGE_RE = re.compile(r"^(\d{1,2}[:：]\d{2})(?:\s*[-~～至到]\s*(\d{1,2}[:：]\d{2}))?$")
KEYVAL_RE = re.compile(r"^([^:：]+)[:：](.+)$")
UNLIMITED = {"不限", "无限", "不限名额", "unlimited", "无", "0"}


# --- small parsers (local time in, UTC out) -----------------------------------------------------

def _tz(ctx: Context) -> ZoneInfo:
    return ctx.tz


def parse_date(text: str, today: date) -> date | None:
    m = DATE_RE.match(text.strip())
    if not m:
        return None
    year, month, day = m.group(1), int(m.group(2)), int(m.group(3))
    try:
        d = date(int(year) if year else today.year, month, day)
    except ValueError:
        raise Invalid(f"日期“{text}”不存在，请检查月份和日期。") from None
    if not year and d < today - timedelta(days=31):
        d = d.replace(year=d.year + 1)   # "01-05" typed in December means next January
    return d


def parse_time(text: str) -> time:
    m = TIME_RE.match(text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise Invalid(f"时间“{text}”看不懂，请写成 09:00 这样的格式。")
    return time(int(m.group(1)), int(m.group(2)))


def _utc(d: date, t: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, t, tzinfo=tz).astimezone(UTC)


def parse_when(text: str, ctx: Context) -> When:
    """"2026-12-05 09:00-12:00" (or "12-05 09:00", or "12-05 09:00 到 12-06 17:00") → ISO start/end."""
    tz = _tz(ctx)
    today = ctx.local_now().date()
    parts = re.split(r"\s+|(?<=\d)\s*(?:到|至)\s*(?=\d)", text.strip())
    parts = [p for p in parts if p and p not in ("到", "至", "-")]
    if len(parts) >= 4 and (first := parse_date(parts[0], today)) and (last := parse_date(parts[2], today)):
        start = _utc(first, parse_time(parts[1]), tz)
        end = _utc(last, parse_time(parts[3]), tz)
    elif len(parts) >= 2 and (day := parse_date(parts[0], today)) and (m := RANGE_RE.match(parts[1])):
        start = _utc(day, parse_time(m.group(1)), tz)
        end = _utc(day, parse_time(m.group(2)), tz) if m.group(2) else start + timedelta(hours=2)
    else:
        raise Invalid("活动时间请写成：2026-12-05 09:00-12:00（跨天：2026-12-05 09:00 到 2026-12-06 17:00）")
    return _check_when(start, end, ctx)


def _check_when(start: datetime, end: datetime, ctx: Context) -> When:
    if end <= start:
        raise Invalid("结束时间要晚于开始时间。")
    if start <= ctx.now():
        raise Invalid("活动开始时间已经过去了，请填写将来的时间。")
    return {"start": start.isoformat(), "end": end.isoformat()}


def parse_seats(text: str) -> int | None:
    t = text.strip().removeprefix("名额").strip(":： ").removesuffix("人").strip()
    if t in UNLIMITED:
        return None
    n = parse_item_number(t) if t and t[0] not in "#＃第" else None
    if n is None or n > 100000:
        raise Invalid("名额请填一个正整数（例如 30），不限名额请回复“不限”。")
    return n


def parse_deadline(text: str, ctx: Context, start: datetime) -> str:
    """"12-03" (end of that day), "12-03 18:00", or "开始前" → ISO; never after the start."""
    t = text.strip()
    if t in ("开始前", "无", "不限", "开始", "-"):
        return start.isoformat()
    pieces = t.split()
    d = parse_date(pieces[0], ctx.local_now().date())
    if d is None:
        raise Invalid("报名截止请写成 12-03 或 12-03 18:00；活动开始前都可报名请回复“开始前”。")
    clock = parse_time(pieces[1]) if len(pieces) > 1 else time(23, 59)
    deadline = _utc(d, clock, ctx.tz)
    if deadline > start:
        deadline = start   # cannot sign up after the activity started
    if deadline <= ctx.now():
        raise Invalid("报名截止时间已经过去了。")
    return deadline.isoformat()


# --- audience ---------------------------------------------------------------------------------

def publishable_units(ctx: Context) -> list[Unit]:
    """Units the sender may publish to: their role scopes and the units directly below them."""
    roots = scopes(ctx.me, Role.SECRETARY, Role.COMMITTEE)
    out: list[Unit] = []
    for root in roots:
        out.append(root)
        out += ctx.db.scalars(select(Unit).where(Unit.parent_id == root.id, Unit.active.is_(True))
                              .order_by(Unit.id)).all()
    seen: set[int] = set()
    unique: list[Unit] = []
    for u in out:
        if u.id not in seen:
            seen.add(u.id)
            unique.append(u)
    return unique


def resolve_unit(ctx: Context, text: str) -> Unit:
    name = text.strip().strip(":：")
    matches = ctx.db.scalars(select(Unit).where(Unit.active.is_(True), (Unit.name == name) |
                                                (Unit.full_name == name))).all()
    if not matches:
        matches = ctx.db.scalars(select(Unit).where(Unit.active.is_(True), Unit.name.like(f"%{name}%"))
                                 .limit(10)).all()
    if not matches:
        raise Invalid(f"没有找到单位“{name}”，请写单位全称，例如：外航维修党支部。")
    if len(matches) > 1:
        raise Invalid(f"“{name}”对应多个单位：" + "、".join(u.full_name for u in matches[:5]) + "，请写得更具体。")
    unit = matches[0]
    if not can(ctx.person, "publish", unit):
        raise Invalid(f"您不能向“{unit.name}”发布活动（只能发布到您负责的单位及其下级）。")
    return unit


def audience_step(what: str, receives: str) -> Step[A]:
    """发给哪个范围 of a publish dialog: a unit the sender may publish `what` to (button, number or name)."""
    def ask(ctx: Context, answers: A) -> Card:
        return choice_card(ctx, "发给哪个范围？", [(f"u{u.id}", u.name) for u in publishable_units(ctx)],
                           body=f"该单位及其所有下级单位的人员都会收到{receives}。也可以直接回复单位名称。")

    def parse(ctx: Context, text: str, answers: A) -> int:
        t = text.strip()
        units = publishable_units(ctx)
        n = parse_item_number(t)
        if n is not None and n <= len(units):               # "2": the second option
            t = f"u{units[n - 1].id}"
        if re.fullmatch(r"u[0-9]+", t):                      # a pressed button
            unit_id = parse_item_number(t[1:])
            unit = ctx.db.get(Unit, unit_id) if unit_id is not None else None
            if unit is None or not can(ctx.person, "publish", unit):
                raise Invalid(f"您不能向这个单位发布{what}，请重新选择。")
            return unit.id
        return resolve_unit(ctx, t).id
    return Step("audience", ask, parse)


def resolve_person(ctx: Context, name: str) -> Person:
    from models.directory import search_people

    people = [p for p in search_people(ctx.db, name, limit=5) if p.name == name] or search_people(ctx.db, name, limit=5)
    if len(people) != 1:
        raise Invalid(f"组织者“{name}”" + ("没有找到。" if not people else "有重名，请写全名。"))
    return people[0]


# --- one line ---------------------------------------------------------------------------------

def parse_one_line(ctx: Context, text: str) -> ActivityAnswers:
    """Turn the one-line form into dialog answers (prefilled steps are skipped by the engine)."""
    answers: ActivityAnswers = {}
    text = text.strip()
    m = re.search(r"(?:^|\s)(?:说明|描述|desc)[:：]", text)
    if m:
        answers["description"] = text[m.end():].strip()
        text = text[:m.start()]
    tokens = text.split()
    title: list[str] = []
    day_tok = time_tok = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        kv = KEYVAL_RE.match(tok) if not RANGE_RE.match(tok) else None
        key, val = (kv.group(1), kv.group(2)) if kv else (tok, None)
        if tok.startswith(("@", "＠")) and len(tok) > 1:
            answers["place"] = required_text(tok[1:], "地点", PLACE_MAX)
        elif tok.startswith("名额") or tok in ("不限名额",):
            answers["seats"] = parse_seats(tok if tok != "不限名额" else "不限")
        elif tok.startswith("截止"):
            raw = tok[2:].strip(":：")
            if nxt and TIME_RE.match(nxt):
                raw, i = f"{raw} {nxt}", i + 1
            answers["_deadline_raw"] = raw
        elif key in ("范围", "对象", "audience") and val is not None:
            answers["audience"] = resolve_unit(ctx, val).id
        elif key in ("类型", "kind") and val is not None:
            kind = KIND_ALIASES.get(val.strip().lower())
            if kind is None:
                raise Invalid("类型可选：主题党日、党课、组织生活会、团队、志愿、青年。")
            answers["kind"] = kind
        elif key in ("组织者", "organiser", "organizer") and val is not None:
            answers["organiser"] = resolve_person(ctx, val.strip()).id
        elif tok in ("不候补", "无候补", "候补:无", "候补：无"):
            answers["waitlist"] = False
        elif day_tok is None and DATE_RE.match(tok):
            day_tok = tok
        elif day_tok is not None and time_tok is None and RANGE_RE.match(tok):
            time_tok = tok
        else:
            title.append(tok)
        i += 1
    if title:
        answers["title"] = required_text(" ".join(title), "活动名称", TITLE_MAX)   # not a silent cut
    if day_tok and time_tok:
        answers["when"] = parse_when(f"{day_tok} {time_tok}", ctx)
    elif day_tok or time_tok:
        raise Invalid("活动时间请写成：日期 开始-结束，例如 2026-12-05 09:00-12:00")
    if "_deadline_raw" in answers:
        raw = answers.pop("_deadline_raw")
        if "when" not in answers:
            raise Invalid("写了报名截止，也请写上活动时间。")
        answers["deadline"] = parse_deadline(raw, ctx, datetime.fromisoformat(answers["when"]["start"]))
    if {"title", "when", "place"} <= answers.keys():
        # a complete line: defaults for the rest; one confirmation (it goes to many people) and it is out
        answers.setdefault("seats", None)
        answers.setdefault("kind", ActivityKind.TEAM)
        answers.setdefault("description", "")
        answers.setdefault("deadline", answers["when"]["start"])
        if "audience" not in answers:
            units = publishable_units(ctx)
            if len(units) >= 1:
                answers["audience"] = units[0].id   # the sender's own scope
    return answers
