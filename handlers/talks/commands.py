"""Chat commands of the talks domain: 谈话/talk, 走访/visit, 修改谈话/edit, 我的班组/team,
谈话记录/history, 谈话详情/view."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.args import load_numbered, parse_item_number
from bot.context import Context
from bot.forms import CANDIDATES, Answers, Invalid
from bot.router import Router
from models.directory import display_names
from models.enums import Role
from models.policy import can
from models.quarters import current_quarter
from models.talk import Flag, Talk, TalkKind
from reports.queries.coverage import TeamCoverage, team_coverage, team_ids_for

from . import service
from .cards import coverage_text, detail_pages, history_text
from .forms import TALK_FORM, TalkAnswers, checked_day, edit_hours, person_labels, refusal_text, seal_checked, talk_form
from .vocab import TAG_HELP, parse_one_line

router = Router("talks")

USAGE = "例：谈话 张三 季度 稳定 本月绩效调整有疑问 #关注 #薪酬（不是今天的谈话在姓名后写日期：昨天、11-28、上周五）"


def _may_record(ctx: Context) -> bool:
    return can(ctx.person, "talk.record")


def _may_read(ctx: Context) -> bool:
    return can(ctx.person, "talk.read")


def _may_cover(ctx: Context) -> bool:
    return can(ctx.person, "team.coverage")


# --- recording --------------------------------------------------------------------------------

@router.command("谈话", "talk", help="记录谈心谈话（逐步引导，或一句话记录）", usage=USAGE, allowed=_may_record)
def start_talk(ctx: Context, args: str) -> None:
    """Start the talk dialog, or take a one-line talk to its confirmation card."""
    begin(ctx, args, TalkKind.QUARTERLY, preset_kind=False)


@router.command("走访", "visit", help="记录走访/家访", usage="例：走访 张三 稳定 家中老人住院，已慰问",
                allowed=_may_record)
def start_visit(ctx: Context, args: str) -> None:
    """Start the dialog with the kind preset to home visit."""
    begin(ctx, args, TalkKind.HOME_VISIT, preset_kind=True)


def begin(ctx: Context, args: str, default_kind: str, *, preset_kind: bool) -> None:
    answers: TalkAnswers = {"kind": default_kind} if preset_kind else {}
    if not args.strip():
        start(ctx, answers)
        return
    line = parse_one_line(args)
    if line.problems:
        ctx.reply("这句话有些部分没看懂：\n· " + "\n· ".join(line.problems) + f"\n{USAGE}\n{TAG_HELP}")
        return
    found = service.candidates(ctx.db, ctx.me, line.name)
    if not found.allowed:
        if found.refused:
            ctx.deny("talk.record", found.refused[0], what=refusal_text(found.refused[0], ctx.me))
        else:
            ctx.reply(f"在您负责的班组中没有找到“{line.name[:10]}”。请检查姓名，或只发送“谈话”逐步填写。")
        return
    if len(found.allowed) == 1:
        answers["person"] = found.allowed[0].id
    else:
        answers[CANDIDATES] = [list(c) for c in person_labels(ctx, found.allowed)]
    if line.day:
        try:
            day = checked_day(ctx, line.day)
        except Invalid as exc:          # no such day, a future day, a closed quarter
            ctx.reply(str(exc))
            return
        if day is not None:
            answers["date"] = day.isoformat()
    if line.kind:
        answers["kind"] = line.kind
    if line.mood:
        answers["mood"] = line.mood
    if line.summary:
        try:
            answers["summary"] = seal_checked(ctx, line.summary, "谈话内容")
        except Invalid as exc:  # too short / too long (the message names lengths only)
            ctx.reply(str(exc))
            return
        # a one-liner with content is complete unless something substantive is missing
        answers.setdefault("kind", default_kind)
        answers["needs"] = service.seal(line.needs) if line.needs else ""
        answers["follows_up"] = line.follows_up_id or 0
        answers["photos"] = []          # a one-liner goes straight to its card (no photo step)
        if line.flag:
            answers["flag"] = line.flag
        elif not line.category:
            answers["flag"] = Flag.NONE
        if line.category:
            answers["category"] = line.category
    elif line.flag or line.category or line.needs or line.follows_up_id:
        ctx.reply("一句话记录需要写上谈话内容。" + USAGE)
        return
    if line.follows_up_id and "person" in answers:
        original = ctx.db.get(Talk, line.follows_up_id)
        if original is None or original.subject_id != answers["person"] or not can(ctx.person, "talk.read", original):
            ctx.reply(f"没有找到可跟进的谈话 #{line.follows_up_id}（须是与同一位同志的、您可查看的谈话）。")
            return
    start(ctx, answers)


def start(ctx: Context, answers: Mapping[str, Any]) -> None:
    if ctx.state is not None and ctx.state.form != TALK_FORM:
        ctx.reply("已结束之前未完成的对话。")
    talk_form.start(ctx, answers)


# --- editing ----------------------------------------------------------------------------------

EDIT_FIELDS = {"类型": "kind", "内容": "summary", "谈话内容": "summary", "状态": "mood", "思想状态": "mood",
               "标记": "flag", "类别": "category", "问题类别": "category", "需求": "needs"}


@router.command("修改谈话", "edit", help="修改自己记录的谈话（记录后48小时内）；只改一项可一句话写完",
                usage="例：修改谈话 12（逐项）；修改谈话 12 状态 波动；可改：类型/内容/状态/标记/类别/需求",
                allowed=_may_record)
def edit(ctx: Context, args: str) -> None:
    """Run the dialog prefilled with the talk's current content; the old content becomes a version."""
    talk, rest = load_numbered(ctx, Talk, args, noun="谈话",
                               ask="请写上谈话编号，例如：修改谈话 12（编号见保存时的回复或“谈话记录 姓名”）。")
    if talk is None:
        return
    try:
        service.check_editable(talk, ctx.me, ctx.now(), edit_hours(ctx))
    except service.TalkError as exc:
        ctx.reply(str(exc))
        return
    service.read_talk(ctx.db, ctx.me, talk, via=ctx.command or "修改谈话")
    orig: dict[str, str | None] = {"kind": talk.kind, "summary": service.seal(talk.summary), "mood": talk.mood, "flag": talk.flag,
            "category": talk.category, "needs": service.seal(talk.needs) if talk.needs else ""}
    base: TalkAnswers = {"person": talk.subject_id, "follows_up": talk.follows_up_id or 0, "_edit": talk.id, "_orig": orig}
    if rest:
        edit_one_field(ctx, talk, rest, base)
        return
    ctx.reply(f"修改谈话 #{talk.id}（{talk.subject.name}）。每一步回复“不变”保留原来的内容。")
    start(ctx, base)


def edit_one_field(ctx: Context, talk: Talk, rest: str, base: TalkAnswers) -> None:
    """“修改谈话 5 状态 波动”: every other answer kept, the one field parsed as its dialog step would,
    then straight to the confirmation card (保存 / 返回 / 取消)."""
    word, _, value = rest.partition(" ")
    field = EDIT_FIELDS.get(word.strip())
    if field is None or not value.strip():
        ctx.reply(f"请写明要改哪一项和新内容，例如：修改谈话 {talk.id} 状态 波动。"
                  "可改：类型、内容、状态、标记、类别、需求。")
        return
    orig = base["_orig"]
    # filled by step name (the field typed): a plain dict, parsed through the form (Form.parse_step)
    answers: Answers = dict(base) | {k: v for k, v in orig.items() if v is not None and (k != "category" or v)}
    answers.pop(field, None)
    if field == "flag":
        answers.pop("category", None)         # a new flag asks its category again (or drops it)
    try:
        answers[field] = talk_form.parse_step(ctx, field, value.strip(), answers)
    except Invalid as exc:
        ctx.reply(str(exc))
        return
    ctx.reply(f"修改谈话 #{talk.id}（{talk.subject.name}）的{word.strip()}，其余内容不变：")
    start(ctx, answers)


# --- coverage ---------------------------------------------------------------------------------

@router.command("我的班组", "team", help="本季度班组谈话覆盖情况", allowed=_may_cover, read_only=True)
def show_team(ctx: Context, args: str) -> None:
    """This quarter's coverage of the sender's teams (leader: every member; others: who is missing).

    A cached view shared by every worker (bot.views): the same answer until a roster or talk write
    changes the turn's versions, or the local day changes. The answer depends only on the units
    of the sender's covering roles (which teams, and whether as their leader), so senders with the
    same roles on the same units share it: the hundred leaders of a team cost one build, not one
    per leader and worker."""
    quarter = current_quarter(ctx.now(), ctx.config.timezone)
    if ctx.views is None:
        _show_team(ctx, quarter)
        return
    scope = tuple(sorted((ra.role, ra.unit_id) for ra in ctx.me.roles if ra.role in _COVERING))
    ctx.views.show(ctx, "team", (quarter, ctx.local_now().date().isoformat(), scope),
                   lambda: _show_team(ctx, quarter))


_COVERING = frozenset(str(r) for r in (Role.TEAM_LEADER, Role.SECRETARY, Role.COMMITTEE))


def _show_team(ctx: Context, quarter: str) -> None:
    led = team_ids_for(ctx.db, ctx.me, roles=(Role.TEAM_LEADER,))
    if led:
        teams = team_coverage(ctx.db, quarter, led)
        ctx.reply(coverage_text(quarter, teams, ctx.config.timezone, detailed=True, names=_names(ctx, teams)))
        return
    ids = team_ids_for(ctx.db, ctx.me, roles=(Role.SECRETARY, Role.COMMITTEE))
    if len(ids) > 30:
        ctx.reply(f"您的范围内有 {len(ids)} 个班组，请使用统计功能查看汇总。以下为前 30 个：")
        ids = ids[:30]
    teams = team_coverage(ctx.db, quarter, ids)
    ctx.reply(coverage_text(quarter, teams, ctx.config.timezone, detailed=False, names=_names(ctx, teams)))


def _names(ctx: Context, teams: Sequence[TeamCoverage]) -> dict[int, str]:
    return display_names(ctx.db, [(m.person_id, m.name) for t in teams for m in t.members])


# --- reading ----------------------------------------------------------------------------------

@router.command("谈话记录", "history", help="查看某位同志的谈话记录", usage="例：谈话记录 张三", allowed=_may_read)
def history(ctx: Context, args: str) -> None:
    """List the talks with a person that the policy lets the sender read; each one shown is audited."""
    words = args.split()
    if not words:
        ctx.reply("请写上姓名，例如：谈话记录 张三")
        return
    name, pick = words[0], (parse_item_number(words[1]) or 0 if len(words) > 1 else None)
    from models.directory import search_people

    people = search_people(ctx.db, name, limit=8)
    exact = [p for p in people if p.name == name]
    people = exact or people
    if not people:
        ctx.reply(f"没有找到“{name[:10]}”。")
        return
    if len(people) > 1 and pick is None:
        lines = [f"“{name[:10]}”有 {len(people)} 位相符的同志，请在姓名后加序号，例如“谈话记录 {name[:10]} 1”："]
        lines += [f"{i}. {label}" for i, (_pid, label) in enumerate(person_labels(ctx, people), 1)]
        ctx.reply("\n".join(lines))
        return
    if pick is not None and not 1 <= pick <= len(people):
        ctx.reply(f"序号应在 1 到 {len(people)} 之间。")
        return
    subject = people[(pick or 1) - 1]
    talks = service.readable_talks(ctx.db, ctx.me, [subject.id])
    if not talks:
        ctx.reply(f"没有您可以查看的{subject.name}的谈话记录。")
        return
    text, shown = history_text(subject.name, talks, ctx.config.timezone)
    for t in shown:
        service.read_talk(ctx.db, ctx.me, t, via=ctx.command or "谈话记录")
    ctx.reply(text)


@router.command("谈话详情", "view", help="查看一条谈话的全文", usage="例：谈话详情 12", allowed=_may_read)
def view(ctx: Context, args: str) -> None:
    """Show one talk in full (paged), if the policy allows; the read is audited."""
    talk, rest = load_numbered(ctx, Talk, args, noun="谈话", ask="请写上谈话编号，例如：谈话详情 12")
    if talk is None:
        return
    if not ctx.require("talk.read", talk, what=f"您没有查看谈话 #{talk.id} 的权限。"):
        return
    pages = detail_pages(talk, ctx.config.timezone)
    page = (parse_item_number(rest) or 0) if rest else 1
    if not 1 <= page <= len(pages):
        ctx.reply(f"谈话 #{talk.id} 共 {len(pages)} 页。")
        return
    service.read_talk(ctx.db, ctx.me, talk, via=f"{ctx.command or '谈话详情'}#p{page}")
    ctx.reply(pages[page - 1])

