"""The one-line talk parser (no database): which word is what, and what is reported as not understood."""
from __future__ import annotations

from handlers.talks.vocab import parse_one_line


def test_the_example_from_the_issue():
    line = parse_one_line("张三 季度 稳定 本月绩效调整有疑问 #关注 #薪酬")
    assert (line.name, line.kind, line.mood, line.flag, line.category) == ("张三", "quarterly", "stable", "watch", "pay")
    assert line.summary == "本月绩效调整有疑问" and line.needs is None and not line.problems


def test_order_needs_follow_up_and_fullwidth_marks():
    line = parse_one_line("李四 较大 专项 家里 老人 住院 ＃紧急 #家庭 需求：请 组织 慰问 跟进:12")
    assert (line.kind, line.mood, line.flag, line.category) == ("special", "serious_concern", "urgent", "family")
    assert line.summary == "家里 老人 住院" and line.needs == "请 组织 慰问" and line.follows_up_id == 12


def test_keywords_inside_the_summary_stay_in_the_summary():
    line = parse_one_line("王五 稳定 情绪 稳定 工作 专项 推进")
    assert line.mood == "stable" and line.kind is None and line.summary == "情绪 稳定 工作 专项 推进"


def test_not_understood_parts_are_named():
    assert parse_one_line("张三 好 #开心").problems == [
        "不认识的标签“#开心”（标记：#关注 #紧急；分类：#薪酬 #家庭 #健康 #工作 #关系 #其他）"]
    assert "写了两次" in parse_one_line("张三 好 #关注 #紧急").problems[0]
    assert "跟进:12" in parse_one_line("张三 好 跟进:abc").problems[0]
    assert "没有内容" in parse_one_line("张三 好 需求:").problems[0]


def test_skip_words_for_needs_and_bare_name():
    assert parse_one_line("张三 好 需求:无").needs == ""
    line = parse_one_line("张三")
    assert line.name == "张三" and line.summary == "" and line.kind is None
