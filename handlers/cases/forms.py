"""The forms of the care flow: the care request (type, reason, amount, youth, need, photos,
discretion, confirm), the rejection reason, the helper pick (confirmed when it replaces a helper)
and the confirmed close. Answers given on one line arrive prefilled; only the rest is asked.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypedDict

from bot.context import Context
from bot.forms import A, Form, Invalid, Step, choice_card, choice_step, pick_step
from bot.messages import Card
from bot.router import Router
from bot.steps import photo_step
from models.case import CARE_REASONS, CARE_TYPES, Case
from models.enums import Role
from models.org import Person, Unit

from . import approvals, chain, flows
from .cards import care_label
from .service import subjects_in_scope

router = Router("cases")
MAX_AMOUNT = 1_000_000
YES = ("yes", "确认")


class CaseRef(TypedDict, total=False):
    """Which item a case form is about (every case form has it)."""
    case_id: int          # the item
    subject_id: int       # a direct care request's person (the item is opened on submit)


class CareAnswers(CaseRef, total=False):
    care_type: str        # a key of CARE_TYPES
    care_reason: str      # a key of CARE_REASONS (condolences)
    amount: int | None
    youth: bool
    need: str
    media: list[str]      # media ids of the proofs
    _media: list[str]     # the photos received so far (bot.steps.photo_step)
    discreet: bool
    confirm: str          # "yes"


class RejectAnswers(CaseRef, total=False):
    reason: str
    rc: str | None        # the clicked card's update code (ctx.clicked_card_code)
    clicked: bool


class AssignAnswers(CaseRef, total=False):
    helper: int           # person id
    confirm: str          # "yes"


class CloseAnswers(CaseRef, total=False):
    outcome: str
    confirm: str          # "yes"


def _case_of(ctx: Context, answers: CaseRef) -> Case | None:
    return ctx.db.get(Case, answers["case_id"]) if answers.get("case_id") else None


def _subject_name(ctx: Context, answers: CaseRef) -> str:
    case = _case_of(ctx, answers)
    person = case.subject if case else ctx.db.get_one(Person, answers["subject_id"])
    return person.name + (f"（事项 {case.id}）" if case else "")


def _parse_text(limit: int) -> Callable[[Context, str, CaseRef], str]:
    def parse(ctx: Context, text: str, answers: CaseRef) -> str:
        text = text.strip()
        if not text:
            raise Invalid("内容不能为空。")
        if len(text) > limit:
            raise Invalid(f"内容太长（{len(text)}字），请控制在{limit}字以内。")
        return text
    return parse


def _confirm_step(name: str, title: str, yes: str, body: Callable[[Context, A], str]) -> Step[A]:
    return choice_step(name, title, lambda: [("yes", yes)], body=body,
                       aliases={"确认": "yes", "是": "yes", "好": "yes", "ok": "yes", "y": "yes", "提交": "yes"})


# --- the care request --------------------------------------------------------------------------

TYPE_WORDS = {"困难帮扶": "hardship", "帮扶": "hardship", "困难": "hardship", "补助": "hardship", "慰问": "condolence",
              "心理疏导": "counselling", "心理": "counselling", "疏导": "counselling", "子女就学": "schooling",
              "就学": "schooling", "助学": "schooling", "其他": "other"}
REASON_WORDS = {"生病": "illness", "住院": "illness", "生病住院": "illness", "丧事": "bereavement", "去世": "bereavement",
                "丧葬": "bereavement", "生育": "childbirth", "生孩子": "childbirth", "产假": "childbirth"}
_AMOUNT = re.compile(r"^[¥￥]?(\d{1,9})(?:元)?$")


def parse_amount(text: str) -> int | None:
    t = text.strip().replace(",", "").replace("，", "")
    if t in ("无", "没有", "不涉及", "0", "-", "none"):
        return None
    m = _AMOUNT.match(t)
    if not m:
        raise Invalid("请回复金额（元，整数，例如 2000），不涉及金额请回复“无”。")
    amount = int(m.group(1))
    if amount > MAX_AMOUNT:
        raise Invalid(f"金额超过 {MAX_AMOUNT} 元，请核实后重新填写。")
    return amount or None


def prefill_from_line(text: str) -> CareAnswers:
    """`慰问 生病 300 家属住院` → type, reason, amount and the need, whichever are there."""
    answers: CareAnswers = {}
    words = text.split()
    while words:
        w = words[0]
        if "care_type" not in answers and w in TYPE_WORDS:
            answers["care_type"] = TYPE_WORDS[w]
        elif "care_reason" not in answers and w in REASON_WORDS:
            answers["care_reason"] = REASON_WORDS[w]
        elif "amount" not in answers and _AMOUNT.match(w):
            try:
                answers["amount"] = parse_amount(w)
            except Invalid:
                break
        else:
            break
        words.pop(0)
    if answers.get("care_reason") and "care_type" not in answers:
        answers["care_type"] = "condolence"
    if answers.get("care_type") != "condolence":
        answers.pop("care_reason", None)
    need = " ".join(words).strip()
    if need:
        answers["need"] = need[:500]
    return answers


def start_care(ctx: Context, answers: CareAnswers) -> None:
    """Open the care form; the youth question only when a rule routes on it."""
    answers = answers.copy()
    if not chain.uses_youth(ctx.config):
        answers.setdefault("youth", False)
    ctx.start_form("case_care", answers)


def _ask_need(ctx: Context, answers: CareAnswers) -> str:
    return f"请简要描述对{_subject_name(ctx, answers)}的关爱需求，例如：家属住院，需探望慰问。回复“取消”退出。"


def _ask_amount(ctx: Context, answers: CareAnswers) -> str:
    return "涉及金额多少元？（整数，例如 2000；不涉及金额请回复“无”）"


def _levels_text(ctx: Context, answers: CareAnswers) -> str:
    case = _case_of(ctx, answers)
    subject = case.subject if case else ctx.db.get_one(Person, answers["subject_id"])
    target = case or subject
    levels = approvals.plan_levels(ctx, case or _Probe(subject), answers)
    first = levels[0]
    if first is Role.SECRETARY and ctx.can("case.handle", target):
        head = "按审批规则由支部书记审批：提交后即由您批准，随后指派帮扶人。"
    else:
        people = approvals.level_people(ctx, case or _Probe(subject), first)
        head = f"将发送给{chain.LEVEL_LABELS[first]}（{'、'.join(p.name for p in people) or '暂无审批人'}）审批。"
    rest = f"审批流程：{chain.chain_text(levels)}。" if len(levels) > 1 else ""
    return head + rest


class _Probe:
    """A not-yet-created item (direct request): what routing and the approver lookup read."""

    def __init__(self, subject: Person) -> None:
        if subject.unit is None:   # (never: a secretary's people have a unit)
            raise LookupError(f"person {subject.id} has no unit")
        self.unit: Unit = subject.unit
        self.scope_unit: Unit = subject.unit


def _confirm_body(ctx: Context, answers: CareAnswers) -> str:
    probe = answers.copy()
    lines = [f"对象：{_subject_name(ctx, answers)}",
             f"类型：{care_label(_Summary(probe))}", f"需求：{answers['need'][:60]}"]
    if answers.get("media"):
        lines.append(f"证明材料：{len(answers['media'])} 张照片")
    lines.append("帮扶人确定后" + ("不通知本人（保密）。" if answers.get("discreet") else "将告知本人由谁联系。"))
    lines.append(_levels_text(ctx, answers))
    return "\n".join(lines)


class _Summary:
    def __init__(self, a: CareAnswers) -> None:
        self.care_type, self.care_reason, self.amount = a.get("care_type"), a.get("care_reason"), a.get("amount")


def _bool_step(step: Step[A], yes: str) -> Step[A]:
    """A two-option choice kept as True/False."""
    choose = step.parse
    step.parse = lambda ctx, text, answers: choose(ctx, text, answers) == yes
    return step


def _care_done(ctx: Context, answers: CareAnswers) -> None:
    case = _case_of(ctx, answers)
    if case is None:
        case = flows.open_direct(ctx, ctx.db.get_one(Person, answers["subject_id"]))
        if case is None:
            return
    approvals.submit_care(ctx, case, answers)


router.form(Form[CareAnswers]("case_care", "关爱申请", [
    choice_step("care_type", "关爱类型？", lambda: list(CARE_TYPES.items()), aliases=TYPE_WORDS,
                body=lambda ctx, a: f"为{_subject_name(ctx, a)}发起关爱申请。"),
    choice_step("care_reason", "慰问事由？", lambda: list(CARE_REASONS.items()), aliases=REASON_WORDS,
                skip_if=lambda a: a.get("care_type") != "condolence"),
    Step("amount", _ask_amount, lambda ctx, t, a: parse_amount(t)),
    _bool_step(choice_step("youth", "对象是团员或 35 岁以下青年吗？", lambda: [("yes", "是"), ("no", "否")],
                           aliases={"是": "yes", "否": "no", "不是": "no"}), "yes"),
    Step("need", _ask_need, _parse_text(500)),
    photo_step("media", "如有证明材料（诊断书、证明等），请发送照片"),   # any text ends it
    _bool_step(choice_step("discreet", "帮扶人确定后，是否告知本人由谁联系？",
                           lambda: [("tell", "告知本人"), ("discreet", "保密，不告知")],
                           aliases={"保密": "discreet", "告知": "tell"}), "discreet"),
    _confirm_step("confirm", "确认提交关爱申请？", "确认提交", _confirm_body),
], _care_done))


# --- reject ------------------------------------------------------------------------------------

def _ask_reason(ctx: Context, answers: RejectAnswers) -> str:
    return f"请填写驳回关爱申请（事项 {answers['case_id']}）的理由（将转告申请人）。回复“取消”退出。"


def _reject_done(ctx: Context, answers: RejectAnswers) -> None:
    case = _case_of(ctx, answers)
    if case is not None:
        approvals.decide(ctx, case, approve=False, reason=answers["reason"], response_code=answers.get("rc"),
                         from_card=bool(answers.get("clicked")))


router.form(Form[RejectAnswers]("case_reject", "驳回关爱申请", [Step("reason", _ask_reason, _parse_text(300))], _reject_done))


# --- assign ------------------------------------------------------------------------------------

def _ask_helper(ctx: Context, answers: AssignAnswers) -> str:
    case = ctx.db.get_one(Case, answers["case_id"])
    return f"请输入帮扶人姓名（本支部党员），为{case.subject.name}提供一对一帮扶（事项 {case.id}）。回复“取消”退出。"


def _find_helpers(ctx: Context, text: str, answers: AssignAnswers) -> list[tuple[int, str]]:
    people = subjects_in_scope(ctx.db, ctx.me, text, party_only=True)
    people = [p for p in people if p.name == text] or people
    if not people:
        raise Invalid(f"在您负责的范围内没有找到名为“{text}”的党员。")
    return [(p.id, f"{p.name}（{p.unit.full_name.split('/')[-1] if p.unit else '—'}）") for p in people]


HELPER_STEP = pick_step("helper", prompt=_ask_helper, find=_find_helpers, buttons=False,
                        several=lambda q, n: f"“{q}”对应多名党员。", choose_title="找到多名党员，请回复序号：")


def _replaces(ctx: Context, answers: AssignAnswers) -> Person | None:
    case = _case_of(ctx, answers)
    return case.helper if case is not None and case.helper_id and case.helper_id != answers.get("helper") else None


def _assign_confirm_body(ctx: Context, answers: AssignAnswers, old: Person) -> str:
    new = ctx.db.get_one(Person, answers["helper"])
    return f"事项 {answers['case_id']} 现由{old.name}帮扶。改派{new.name}后将通知{old.name}和{new.name}。"


def _assign_done(ctx: Context, answers: AssignAnswers) -> None:
    case = _case_of(ctx, answers)
    if case is not None:
        flows.assign_helper(ctx, case, ctx.db.get_one(Person, answers["helper"]))


def start_assign(ctx: Context, case: Case, helper: Person | None = None) -> None:
    answers: AssignAnswers = {"case_id": case.id}
    if helper is not None:
        answers["helper"] = helper.id
    if not case.helper_id or (helper is not None and helper.id == case.helper_id):
        answers["confirm"] = "yes"
    ctx.start_form("case_assign", answers)


def _ask_confirm_replace(ctx: Context, answers: AssignAnswers) -> Card | str:
    old = _replaces(ctx, answers)
    if not old:
        return "确认指派吗？回复“确认”。"
    return choice_card(ctx, "确认改派帮扶人？", [("yes", "确认改派")], body=_assign_confirm_body(ctx, answers, old))


def _parse_yes(ctx: Context, text: str, answers: CaseRef) -> str:
    if text.strip().lower() in ("yes", "确认", "是", "1", "确认改派", "确认结案", "ok", "好"):
        return "yes"
    raise Invalid("请点“确认”（或回复“确认”）；回复“取消”放弃。")


router.form(Form[AssignAnswers]("case_assign", "指派帮扶人", [
    HELPER_STEP,
    Step("confirm", _ask_confirm_replace, _parse_yes),
], _assign_done))


# --- close -------------------------------------------------------------------------------------

def _ask_outcome(ctx: Context, answers: CloseAnswers) -> str:
    return f"请写明事项 {answers['case_id']} 的结案结果，例如：已发放困难补助，家属康复出院。回复“取消”退出。"


def _close_body(ctx: Context, answers: CloseAnswers) -> str:
    case, me = ctx.db.get_one(Case, answers["case_id"]), ctx.me
    told = [p.name for p in (case.helper,) if p is not None and p.id != me.id]
    reporter = ctx.db.get(Person, case.reporter_id or case.opened_by_id or 0) if case.talk_id else None
    if reporter is not None and reporter.id != me.id:
        told.append(f"{reporter.name}（标记人）")
    return (f"结束事项 {case.id}（{case.subject.name}），结果：{answers['outcome'][:60]}。结案后不能再变更"
            + (f"；将通知{'、'.join(told)}。" if told else "。"))


def _close_done(ctx: Context, answers: CloseAnswers) -> None:
    case = _case_of(ctx, answers)
    if case is not None:
        flows.close(ctx, case, answers["outcome"])


router.form(Form[CloseAnswers]("case_close", "结案", [
    Step("outcome", _ask_outcome, _parse_text(500)),
    Step("confirm", lambda ctx, a: choice_card(ctx, "确认结案？", [("yes", "确认结案")], body=_close_body(ctx, a)),
         _parse_yes),
], _close_done))
