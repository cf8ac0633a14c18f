"""The small forms of the case flow: the care need, the rejection reason, the helper pick."""
from __future__ import annotations

from bot.context import Context
from bot.forms import Form, Invalid, Step, pick_step
from bot.router import Router
from models.case import Case
from models.org import Person

from . import flows
from .service import subjects_in_scope

router = Router("cases")


def _case_of(ctx: Context, answers: dict) -> Case:
    return ctx.db.get(Case, answers["case_id"])


def _ask_need(ctx: Context, answers: dict) -> str:
    case = _case_of(ctx, answers)
    return f"请描述对{case.subject.name}的关爱需求（案件 #{case.id}），例如：家属住院，需探望慰问并申请困难补助。回复“取消”退出。"


def _parse_text(limit: int):
    def parse(ctx: Context, text: str, answers: dict) -> str:
        text = text.strip()
        if not text:
            raise Invalid("内容不能为空。")
        if len(text) > limit:
            raise Invalid(f"内容太长（{len(text)}字），请控制在{limit}字以内。")
        return text
    return parse


def _care_done(ctx: Context, answers: dict) -> None:
    flows.submit_care(ctx, _case_of(ctx, answers), answers["need"])


router.form(Form("case_care", "关爱申请", [Step("need", _ask_need, _parse_text(500))], _care_done))


def _ask_reason(ctx: Context, answers: dict) -> str:
    return f"请填写驳回关爱申请 #{answers['case_id']} 的理由（将转告支部书记）。回复“取消”退出。"


def _reject_done(ctx: Context, answers: dict) -> None:
    flows.decide(ctx, _case_of(ctx, answers), approve=False, reason=answers["reason"],
                 response_code=answers.get("rc"))


router.form(Form("case_reject", "驳回关爱申请", [Step("reason", _ask_reason, _parse_text(300))], _reject_done))


def _ask_helper(ctx: Context, answers: dict) -> str:
    case = _case_of(ctx, answers)
    return f"请输入帮扶人姓名（本支部党员），为{case.subject.name}提供一对一帮扶（案件 #{case.id}）。回复“取消”退出。"


def _find_helpers(ctx: Context, text: str, answers: dict) -> list[tuple[int, str]]:
    people = subjects_in_scope(ctx.db, ctx.person, text, party_only=True)
    people = [p for p in people if p.name == text] or people
    if not people:
        raise Invalid(f"在您负责的范围内没有找到名为“{text}”的党员。")
    return [(p.id, f"{p.name}（{p.unit.full_name.split('/')[-1]}）") for p in people]


HELPER_STEP = pick_step("helper", prompt=_ask_helper, find=_find_helpers, buttons=False,
                        several=lambda q, n: f"“{q}”对应多名党员。", choose_title="找到多名党员，请回复序号：")


def _assign_done(ctx: Context, answers: dict) -> None:
    flows.assign_helper(ctx, _case_of(ctx, answers), ctx.db.get(Person, answers["helper"]))


router.form(Form("case_assign", "指派帮扶人", [HELPER_STEP], _assign_done))
