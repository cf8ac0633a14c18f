"""Number arguments (issue 15): every command that takes an item number answers garbage, zero,
negative and oversized numbers with a clear sentence, never the generic error; both stacks."""
from __future__ import annotations

import pytest

from bot.args import MAX_ID, parse_item_number, split_item_number
from bot.dispatcher import ERROR_TEXT

HUGE = "99999999999999999999999"


@pytest.mark.parametrize(("text", "expected"), [
    ("12", 12), ("#12", 12), ("１２", 12), ("第3号", 3), (str(MAX_ID), MAX_ID),
    (str(MAX_ID + 1), None), (HUGE, None), ("0", None), ("-3", None), ("²", None), ("3.5", None), ("", None),
])
def test_one_parser_with_bounds(text, expected):
    assert parse_item_number(text) == expected


def test_split_keeps_what_was_typed_for_the_answer():
    assert split_item_number("12 内容") == (12, "内容", "12")
    assert split_item_number(f"{HUGE} 内容") == (None, "内容", HUGE)
    assert split_item_number("张三 内容") == (None, "张三 内容", "")


@pytest.mark.parametrize(("user", "command", "noun"), [
    ("zhangsan", "报名", "活动"), ("zhangsan", "取消报名", "活动"), ("zhangsan", "活动", "活动"),
    ("zhangsan", "学习", "学习材料"), ("zhangsan", "学完", "学习材料"), ("liqiang", "学习情况", "学习材料"),
    ("zhouli", "修改谈话", "谈话"), ("liqiang", "谈话详情", "谈话"), ("liqiang", "报名名单", "活动"),
    ("liqiang", "签到名单", "活动"), ("liqiang", "关闭报名", "活动"),
])
@pytest.mark.parametrize("number", [HUGE, "0", str(MAX_ID + 1)])
def test_a_number_that_names_nothing_is_answered_plainly(sim, user, command, noun, number):
    out = sim.say(user, f"{command} {number}")
    assert ERROR_TEXT not in out.text
    assert f"没有编号为 {number[:12]}" in out.text and f"的{noun}" in out.text, out.text


@pytest.mark.parametrize("text", [f"重发 {HUGE}", "重发 -1", "重发 ²"])
def test_resend_refuses_numbers_out_of_range(sim, text):
    out = sim.say("admin", text)
    assert ERROR_TEXT not in out.text and "编号应为正整数" in out.text


@pytest.mark.parametrize("text", [f"结案 {HUGE} 好了", f"案件 {HUGE}", f"指派 {HUGE} 李四", f"关爱申请 {HUGE} 慰问"])
def test_case_commands_do_not_overflow(sim, text):
    out = sim.say("liqiang", text)
    assert ERROR_TEXT not in out.text and "没有" in out.text, out.text


def test_a_superscript_digit_in_a_dialog_is_not_a_crash(sim):
    sim.say("zhouli", "谈话")
    out = sim.say("zhouli", "张三")
    out = sim.say("zhouli", "²")
    assert ERROR_TEXT not in out.text and "没有这个选项" in out.text
