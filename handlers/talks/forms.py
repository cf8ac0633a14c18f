"""The talk dialog as a step table: person → kind → summary → mood → flag → category → needs →
photos (home visits only) → follow-up (only when the person has an open flagged talk) → confirmation card.

Answers are JSON primitives: person id, enum values, and the summary/needs as Fernet tokens
(`service.seal`), so the dialog state in Redis never holds note text in clear. The same form
edits a talk: `_edit` holds the talk id and `_orig` the current values; every step then accepts
“不变” to keep the old value.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any, Literal, TypedDict

from bot.context import Context
from bot.forms import Form, Invalid, Step, choice_card, choice_step, pick_option, pick_step
from bot.messages import Card, Text
from bot.router import Router
from bot.steps import photo_step
from models.directory import display_name, display_names
from models.org import Person
from models.policy import can
from models.talk import Flag, Talk, TalkKind

from . import service
from .cards import confirm_card, label, local_date, preview, saved_text
from .dates import DateRules, parse_day, talk_moment
from .vocab import (
    CATEGORY_WORDS,
    FLAG_WORDS,
    KEEP_WORDS,
    KIND_WORDS,
    MOOD_WORDS,
    SKIP_WORDS,
    category_options,
    flag_options,
    kind_options,
    mood_options,
)

__all__ = ["TALK_FORM", "TalkAnswers", "router", "save_answers", "summary_max", "talk_form"]

TALK_FORM = "talk.record"
SAVE_WORDS = {"保存", "确认", "确定", "是", "好", "save", "ok", "yes", "1"}
PHOTOS_DONE = {"好了", "好", "完成", "发完了", "没有", "无", "跳过", "不用", "done", "ok", "skip", "no", "none"}


class TalkAnswers(TypedDict, total=False):
    """The talk dialog's answers (JSON in the dialog state): the steps, then the dialog's own notes."""
    person: int
    kind: str                        # a TalkKind value
    summary: str                     # a Fernet token (service.seal)
    mood: str                        # a Mood value
    flag: str                        # a Flag value
    category: str | None             # a Category value (flagged talks)
    needs: str                       # a Fernet token, "" for none
    photos: list[str]                # media ids (home visits)
    follows_up: int                  # the talk followed up, 0: none
    confirm: Literal["save"]
    late_reason: str
    date: str                        # ISO day of the talk (absent: today)
    _edit: int                       # the talk being edited
    _orig: dict[str, str | None]     # its current values, by step name (“不变”)
    _open: list[list[int | str]]     # [talk id, label] of the person's open flagged talks
    _media: list[str]                # photos received so far (bot.steps.photo_step)
    _late: int                       # days since the talk, when entered late
    _cands: list[list[int | str]]    # bot.forms.CANDIDATES: [person id, label] to pick from


def summary_max(ctx: Context) -> int:
    limit: int = ctx.config.get("talks.summary_max_chars", int)
    return limit


def edit_hours(ctx: Context) -> int:
    hours: int = ctx.config.get("talks.edit_window_hours", int)
    return hours


def _keep(answers: TalkAnswers, step: str, text: str) -> tuple[bool, str | None]:
    """In an edit, “不变” keeps the current value of this step."""
    if answers.get("_edit") and text.strip().lower() in KEEP_WORDS:
        return True, answers["_orig"][step]
    return False, None


def _kept(answers: TalkAnswers, step: str, text: str) -> str | None:
    return _keep(answers, step, text)[1]


def _was(answers: TalkAnswers, step: str, shown: str) -> str:
    return f"（原为：{shown}；回复“不变”保留）" if answers.get("_edit") else ""


def _choice(name: str, title: str, options: Callable[[], list[tuple[str, str]]], words: dict[str, Any],
            intro: str = "", **kw: Any) -> Step[TalkAnswers]:
    """A choice step of the talk dialog; in an edit it shows the old value and accepts “不变”."""
    def body(ctx: Context, answers: TalkAnswers) -> str:
        return intro + _was(answers, name, label(name, answers.get("_orig", {}).get(name)))
    return choice_step(name, title, options, aliases=_aliases(words), body=body, keep=_kept, **kw)


def _aliases(words: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v.value for k, v in words.items()}


# --- person -----------------------------------------------------------------------------------

def _ask_person(ctx: Context, answers: TalkAnswers) -> str:
    return "请输入谈话对象的姓名（可只写名字的一部分或拼音）。回复“取消”退出。"


def _accept_person(ctx: Context, pid: int, answers: TalkAnswers) -> int:
    person = ctx.db.get(Person, pid)
    if person is None or not can(ctx.person, "talk.record", person):
        raise Invalid("无法为这位同志记录谈话，请重新输入姓名。")
    note_open_flags(ctx, person, answers)
    return person.id


def person_label(ctx: Context, p: Person) -> str:
    """Name, unit and account id: a list to choose from or a confirmation shows who exactly."""
    return display_name(ctx.db, p, always=True)


def person_labels(ctx: Context, people: list[Person]) -> list[tuple[int, str]]:
    labels = display_names(ctx.db, people, always=True)
    return [(p.id, labels[p.id]) for p in people]


def find_people(ctx: Context, query: str, answers: TalkAnswers) -> list[tuple[int, str]]:
    """The people the sender may record a talk with matching `query`; none → a clear error (refusals audited)."""
    if not query:
        raise Invalid("请输入姓名。")
    found = service.candidates(ctx.db, ctx.me, query)
    if found.allowed:
        return person_labels(ctx, found.allowed)
    if found.refused:
        p = found.refused[0]
        ctx.deny("talk.record", p, what=refusal_text(p, ctx.person))
        raise Invalid("请输入您负责班组内同志的姓名，或回复“取消”退出。")
    raise Invalid(f"在您负责的班组中没有找到“{query[:10]}”，请检查姓名后重新输入。")


def _editing(answers: TalkAnswers) -> bool:
    return bool(answers.get("_edit"))


PERSON_STEP = replace(pick_step("person", prompt=_ask_person, find=find_people, accept=_accept_person,
                        several=lambda q, n: f"“{q[:10]}”有 {n} 位相符的同志，请选择。",
                        choose_title="请选择谈话对象", choose_body=lambda n: f"找到 {n} 位相符的同志："),
                      fixed_if=_editing)


def refusal_text(p: Person, author: Person | None = None) -> str:
    if author is not None and p.id == author.id:
        return "不能为自己记录谈话。请输入您负责班组内其他同志的姓名。"
    return f"{p.name}不在您负责的班组（或支部）中，您不能为其记录谈话。"


def note_open_flags(ctx: Context, person: Person, answers: TalkAnswers) -> None:
    if answers.get("_edit") or "follows_up" in answers:
        return
    open_talks = service.open_flagged(ctx.db, person.id)
    tz = ctx.config.timezone
    answers["_open"] = [[t.id, f"#{t.id} {local_date(t.occurred_at, tz)} {label('category', t.category)}"]
                        for t in open_talks if can(ctx.person, "talk.read", t)]


# --- kind, summary, mood, flag, category, needs, follow-up ------------------------------------

def ask_summary(ctx: Context, answers: TalkAnswers) -> str:
    head = f"请输入谈话内容（不超过 {summary_max(ctx)} 字）。内容加密保存，只有您、支部书记和上级党委可以查看。"
    if answers.get("_edit"):
        old = service.unseal(answers["_orig"]["summary"]) or ""
        head += f"\n原内容：{preview(old, 120)}\n回复“不变”保留原内容。"
    return head


def parse_summary(ctx: Context, text: str, answers: TalkAnswers) -> str | None:
    kept, value = _keep(answers, "summary", text)
    if kept:
        return value
    return seal_checked(ctx, text, "谈话内容")


def seal_checked(ctx: Context, text: str, what: str) -> str:
    t = text.strip()
    limit = summary_max(ctx)
    if len(t) < 2:
        raise Invalid(f"{what}太短了，请至少写两个字。")
    if len(t) > limit:
        raise Invalid(f"{what}共 {len(t)} 字，超过了 {limit} 字的上限，请精简后重新发送。")
    return service.seal(t)


def ask_needs(ctx: Context, answers: TalkAnswers) -> str:
    text = "对方有什么需求或诉求？没有请回复“无”（或“跳过”）。"
    if answers.get("_edit"):
        old = service.unseal(answers["_orig"].get("needs") or None)
        text += f"\n原需求：{preview(old, 80) if old else '无'}；回复“不变”保留。"
    return text


def parse_needs(ctx: Context, text: str, answers: TalkAnswers) -> str | None:
    kept, value = _keep(answers, "needs", text)
    if kept:
        return value
    if text.strip().lower() in SKIP_WORDS:
        return ""
    return seal_checked(ctx, text, "需求")


def _no_photos(answers: TalkAnswers) -> bool:
    return answers.get("kind") != TalkKind.HOME_VISIT or bool(answers.get("_edit"))


def ask_follow(ctx: Context, answers: TalkAnswers) -> Card:
    options = [(str(tid), str(text)) for tid, text in answers["_open"]][:5] + [("0", "不是跟进")]
    return choice_card(ctx, "这次谈话是跟进以前的标记谈话吗？", options,
                       body="该同志有尚未跟进的标记谈话：")


def parse_follow(ctx: Context, text: str, answers: TalkAnswers) -> int:
    options = [(str(tid), str(text)) for tid, text in answers["_open"]][:5] + [("0", "不是跟进")]
    aliases = {"否": "0", "不是": "0", "no": "0", "无": "0"}
    t = text.strip().lstrip("#")
    return int(pick_option(t, options, aliases))


# --- confirmation and saving ------------------------------------------------------------------

def today(ctx: Context) -> date:
    return ctx.local_now().date()


def talk_day(ctx: Context, answers: TalkAnswers) -> date:
    """The day the talk took place: answers["date"] (ISO) or today."""
    return date.fromisoformat(answers["date"]) if answers.get("date") else today(ctx)


def day_label(ctx: Context, day: date) -> str:
    words = {0: "今天", 1: "昨天", 2: "前天"}
    n = (today(ctx) - day).days
    return f"{day:%Y-%m-%d}" + (f"（{words[n]}）" if n in words else f"（{n} 天前）")


def checked_day(ctx: Context, word: str) -> date | None:
    """The day `word` names if it is one the talk may be dated to; raises Invalid with the reason."""
    try:
        day = parse_day(word, today(ctx))
    except ValueError:
        raise Invalid(f"“{word[:12]}”不是有效的日期，例如：昨天、11-28、上周五。") from None
    if day is None:
        return None
    refusal = DateRules.from_config(ctx.config).refusal(day, ctx.now())
    if refusal:
        raise Invalid(refusal)
    return day


def ask_confirm(ctx: Context, answers: TalkAnswers) -> Card:
    subject = service.subject_of(ctx.db, answers["person"])
    summary = service.unseal(answers["summary"]) or ""
    needs = service.unseal(answers.get("needs") or None) or ""
    hint = ""
    if not answers.get("follows_up") and answers.get("_open") is None and not answers.get("_edit"):
        open_talks = [t for t in service.open_flagged(ctx.db, subject.id) if can(ctx.person, "talk.read", t)]
        if open_talks:
            hint = f"提示：该同志有未跟进的标记谈话 #{open_talks[0].id}，如为跟进可返回后在命令中加“跟进:{open_talks[0].id}”。"
    if not ctx.incoming.action:
        # echo only in answer to a typed message: that reply is passive on WeCom and goes by
        # sessionWebhook on DingTalk, whereas replies to clicks can travel through the outbox table
        ctx.reply(Text(f"内容预览：{preview(summary, 200)}"))
    state = ctx.state
    return confirm_card(state.form_id if state else "", subject=person_label(ctx, subject), kind=answers["kind"],
                        mood=answers["mood"], flag=answers["flag"], category=answers.get("category"),
                        summary_len=len(summary), needs_len=len(needs), photos=len(answers.get("photos") or []),
                        follows_up_id=answers.get("follows_up") or None,
                        editing=answers.get("_edit"), hint=hint,
                        day="" if answers.get("_edit") else day_label(ctx, talk_day(ctx, answers)))


def parse_confirm(ctx: Context, text: str, answers: TalkAnswers) -> Literal["save"]:
    """保存 (then the late-entry reason if the talk is old), or a new date for the talk."""
    t = text.strip()
    if t.lower() in SAVE_WORDS:
        if not answers.get("_edit"):
            rules = DateRules.from_config(ctx.config)
            day = talk_day(ctx, answers)
            refusal = rules.refusal(day, ctx.now())
            if refusal:
                raise Invalid(refusal)
            answers["_late"] = rules.late(day, ctx.now())
        return "save"
    if not answers.get("_edit"):
        word = t.removeprefix("日期").strip(" ：:")
        new_day = checked_day(ctx, word)
        if new_day is not None:
            answers["date"] = new_day.isoformat()
            raise Invalid(f"谈话日期已改为 {day_label(ctx, new_day)}。")
    raise Invalid("请点“保存”（或回复“保存”）；回复“返回”修改上一项，回复“取消”放弃。")


def ask_late_reason(ctx: Context, answers: TalkAnswers) -> str:
    days = DateRules.from_config(ctx.config).late_after_days
    return (f"这次谈话发生在 {answers['_late']} 天前，超过 {days} 天才记录，属于补录。"
            "请简要说明补录原因（不超过 100 字，例如：外出培训，回来后补记）。")


def parse_late_reason(ctx: Context, text: str, answers: TalkAnswers) -> str:
    t = " ".join(text.split())
    if len(t) < 2:
        raise Invalid("补录原因太短了，请至少写两个字。")
    if len(t) > 100:
        raise Invalid(f"补录原因共 {len(t)} 字，请控制在 100 字以内。")
    return t


def save_answers(ctx: Context, answers: TalkAnswers) -> None:
    """Create or edit the talk from the confirmed answers; emit talk.flagged for a flagged talk."""
    subject = service.subject_of(ctx.db, answers["person"])
    flag = answers["flag"]
    category = answers.get("category") if flag != Flag.NONE else None
    summary = service.unseal(answers["summary"])
    needs = service.unseal(answers.get("needs") or None) or None
    try:
        if answers.get("_edit"):
            talk = ctx.db.get_one(Talk, answers["_edit"])
            before_flag, before_category = talk.flag, talk.category
            talk = service.edit_talk(ctx.db, talk, editor=ctx.me, now=ctx.now(), hours=edit_hours(ctx),
                                     kind=answers["kind"], summary=summary, mood=answers["mood"], flag=flag,
                                     category=category, needs=needs, via=ctx.command or "修改谈话")
            newly_flagged = getattr(talk, "_newly_flagged", False)
            flag_changed = not newly_flagged and (before_flag, before_category) != (talk.flag, talk.category)
        else:
            tz = ctx.config.timezone
            talk = service.record_talk(ctx.db, author=ctx.me, subject=subject, kind=answers["kind"],
                                       summary=summary, mood=answers["mood"], flag=flag, category=category,
                                       needs=needs, occurred_at=talk_moment(talk_day(ctx, answers), ctx.now(), tz),
                                       tz=tz, follows_up_id=answers.get("follows_up") or None,
                                       via=ctx.command or "谈话", entered_at=ctx.now(),
                                       late_reason=answers.get("late_reason"),
                                       media_ids=list(answers.get("photos") or []))
            newly_flagged, flag_changed = flag != Flag.NONE, False
    except service.TalkError as exc:
        ctx.reply(str(exc))
        return
    ctx.reply(saved_text(talk, subject.name, ctx.config.timezone, edit_hours(ctx), edited=bool(answers.get("_edit"))))
    if newly_flagged:
        ctx.emit("talk.flagged", talk_id=talk.id)
    elif flag_changed:   # unflagged, or another flag / category: the care item follows
        ctx.emit("talk.flag_changed", talk_id=talk.id)
    if not answers.get("_edit"):
        ctx.emit("talk.saved", talk_id=talk.id)     # 抽查回访 may sample it (handlers.sampling)


talk_form = Form[TalkAnswers](
    name=TALK_FORM,
    title="记录谈心谈话",
    steps=[
        PERSON_STEP,
        _choice("kind", "谈话类型？", kind_options, KIND_WORDS),
        Step("summary", ask_summary, parse_summary),
        _choice("mood", "对方的思想状态？", mood_options, MOOD_WORDS),
        _choice("flag", "是否标记？", flag_options, FLAG_WORDS,
                intro="需要支部书记关注吗？“关注”：书记近期跟进；“紧急”：书记立即处理。"),
        _choice("category", "问题属于哪一类？", category_options, CATEGORY_WORDS, clean=lambda t: t.lstrip("#＃"),
                skip_if=lambda a: a.get("flag") in (None, Flag.NONE)),
        Step("needs", ask_needs, parse_needs),
        photo_step("photos", "如有走访照片请发送", done_words=PHOTOS_DONE, skip_if=_no_photos),
        Step("follows_up", ask_follow, parse_follow, skip_if=lambda a: not a.get("_open"), fixed_if=_editing),
        Step("confirm", ask_confirm, parse_confirm),
        Step("late_reason", ask_late_reason, parse_late_reason, skip_if=lambda a: not a.get("_late")),
    ],
    done=save_answers,
    back_to_prefilled=True,
)

router = Router("talks")
router.form(talk_form)
