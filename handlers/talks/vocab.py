"""Words users type for talk kinds, states of mind, flags and categories, and the one-line parser.

`谈话 张三 昨天 季度 稳定 本月绩效调整有疑问 #关注 #薪酬 需求:希望解释绩效规则 跟进:12`
- the first word is the person's name;
- kind and mood words and the day of the talk (昨天, 11-28, 上周五; default today) may follow
  in any order (each once);
- the first other word starts the summary, which runs until a #tag, `需求:` or `跟进:`;
- `#关注`/`#紧急` flag the talk, `#薪酬`/`#家庭`/`#健康`/`#工作`/`#关系`/`#其他` give the category;
- `需求:` takes the rest of the line up to the next #tag or `跟进:`; `跟进:N` links talk N.
Whatever is missing is asked in the guided dialog; whatever cannot be understood is named in
the error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.args import not_found, parse_item_number
from models.talk import CATEGORY_LABELS, FLAG_LABELS, KIND_LABELS, MOOD_LABELS, Category, Flag, Mood, TalkKind

from .dates import looks_like_day

__all__ = [
    "CATEGORY_WORDS",
    "FLAG_WORDS",
    "KEEP_WORDS",
    "KIND_WORDS",
    "MOOD_WORDS",
    "SKIP_WORDS",
    "TAG_HELP",
    "OneLine",
    "OneLineError",
    "category_options",
    "flag_options",
    "kind_options",
    "mood_options",
    "parse_one_line",
]

KIND_WORDS = {"季度": TalkKind.QUARTERLY, "季度谈心": TalkKind.QUARTERLY, "谈心": TalkKind.QUARTERLY,
              "quarterly": TalkKind.QUARTERLY,
              "专项": TalkKind.SPECIAL, "专项谈话": TalkKind.SPECIAL, "special": TalkKind.SPECIAL,
              "走访": TalkKind.HOME_VISIT, "家访": TalkKind.HOME_VISIT, "visit": TalkKind.HOME_VISIT}
MOOD_WORDS = {"稳定": Mood.STABLE, "平稳": Mood.STABLE, "stable": Mood.STABLE,
              "波动": Mood.SOME_CONCERN, "有些波动": Mood.SOME_CONCERN, "一般": Mood.SOME_CONCERN,
              "some": Mood.SOME_CONCERN,
              "较大": Mood.SERIOUS_CONCERN, "波动较大": Mood.SERIOUS_CONCERN, "不稳定": Mood.SERIOUS_CONCERN,
              "serious": Mood.SERIOUS_CONCERN}
FLAG_WORDS = {"无": Flag.NONE, "不标记": Flag.NONE, "none": Flag.NONE, "关注": Flag.WATCH, "watch": Flag.WATCH,
              "紧急": Flag.URGENT, "urgent": Flag.URGENT}
CATEGORY_WORDS = {"薪酬": Category.PAY, "绩效": Category.PAY, "薪酬绩效": Category.PAY, "pay": Category.PAY,
                  "家庭": Category.FAMILY, "family": Category.FAMILY,
                  "健康": Category.HEALTH, "health": Category.HEALTH,
                  "工作": Category.WORKLOAD, "负荷": Category.WORKLOAD, "工作负荷": Category.WORKLOAD,
                  "workload": Category.WORKLOAD,
                  "关系": Category.RELATIONS, "人际": Category.RELATIONS, "人际关系": Category.RELATIONS,
                  "relations": Category.RELATIONS,
                  "其他": Category.OTHER, "other": Category.OTHER}
SKIP_WORDS = {"无", "没有", "跳过", "不需要", "skip", "none", "no", "-"}
KEEP_WORDS = {"不变", "保留", "同上", "keep", "same"}
TAG_HELP = "标记：#关注 #紧急；分类：#薪酬 #家庭 #健康 #工作 #关系 #其他"

_NEEDS = re.compile(r"^(需求|needs?)[:：]", re.I)
_FOLLOW = re.compile(r"^(跟进|follow)[:：]#?(\d+)$", re.I)


def kind_options() -> list[tuple[str, str]]:
    return [(k.value, label) for k, label in KIND_LABELS.items()]


def mood_options() -> list[tuple[str, str]]:
    return [(m.value, label) for m, label in MOOD_LABELS.items()]


def flag_options() -> list[tuple[str, str]]:
    return [(f.value, label) for f, label in FLAG_LABELS.items()]


def category_options() -> list[tuple[str, str]]:
    return [(c.value, label) for c, label in CATEGORY_LABELS.items()]


class OneLineError(ValueError):
    """Parts of a one-line talk that were not understood; the message names them (never the summary)."""


@dataclass
class OneLine:
    name: str = ""
    kind: str | None = None
    mood: str | None = None
    day: str | None = None            # the date word as typed (handlers.talks.dates.parse_day reads it)
    flag: str | None = None
    category: str | None = None
    summary: str = ""
    needs: str | None = None
    follows_up_id: int | None = None
    problems: list[str] = field(default_factory=list)


def _tag(word: str) -> str | None:
    if word[:1] in ("#", "＃"):
        return word[1:]
    return None


def parse_one_line(args: str) -> OneLine:
    """Split `张三 季度 稳定 摘要… #关注 #薪酬 需求:… 跟进:N` into parts (see module docstring)."""
    words = args.split()
    out = OneLine()
    if not words:
        return out
    out.name = words[0]
    summary: list[str] = []
    needs: list[str] | None = None
    started = False
    for word in words[1:]:
        tag = _tag(word)
        follow = _FOLLOW.match(word)
        if tag is not None:
            if tag in FLAG_WORDS and FLAG_WORDS[tag] is not Flag.NONE:
                _set(out, "flag", FLAG_WORDS[tag].value, word)
            elif tag in CATEGORY_WORDS:
                _set(out, "category", CATEGORY_WORDS[tag].value, word)
            else:
                out.problems.append(f"不认识的标签“{word[:12]}”（{TAG_HELP}）")
            _end_needs(out, needs)  # a tag ends the needs text
            needs = None
            continue
        if follow:
            _end_needs(out, needs)
            needs = None
            out.follows_up_id = parse_item_number(follow.group(2))
            if out.follows_up_id is None:
                out.problems.append(not_found("谈话", follow.group(2)))
            continue
        if word.startswith(("跟进:", "跟进：")):
            out.problems.append("“跟进:”后面应是谈话编号，例如 跟进:12")
            continue
        m = _NEEDS.match(word)
        if m:
            needs = [word[m.end():]] if word[m.end():] else []
            continue
        if needs is not None:
            needs.append(word)
            continue
        if not started and word in KIND_WORDS and out.kind is None:
            out.kind = KIND_WORDS[word].value
            continue
        if not started and word in MOOD_WORDS and out.mood is None:
            out.mood = MOOD_WORDS[word].value
            continue
        if not started and out.day is None and looks_like_day(word):
            out.day = word
            continue
        started = True
        summary.append(word)
    _end_needs(out, needs)
    out.summary = " ".join(summary)
    return out


def _set(out: OneLine, attr: str, value: str, word: str) -> None:
    if getattr(out, attr) not in (None, value):
        what = "标记" if attr == "flag" else "分类"
        out.problems.append(f"{what}写了两次（“{word[:12]}”），只能选一个")
    setattr(out, attr, value)


def _end_needs(out: OneLine, needs: list[str] | None) -> None:
    if needs is None:
        return
    text = " ".join(w for w in needs if w).strip()
    if not text:
        out.problems.append("“需求:”后面没有内容")
    elif text in SKIP_WORDS:
        out.needs = ""
    else:
        out.needs = text
