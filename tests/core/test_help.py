"""帮助 lists exactly the commands the sender's roles allow, grouped for a phone screen."""
from __future__ import annotations

import pytest

from tests.transcript import transcript


@pytest.mark.parametrize("user, present, absent", [
    ("zhangsan", ["我的信息", "活动", "学习"], ["谈话 / talk", "待办", "统计", "授权", "发布活动", "通讯录"]),
    ("zhouli", ["谈话 / talk", "我的班组", "通讯录"], ["统计", "授权", "发布活动", "关爱申请"]),
    ("liqiang", ["谈话 / talk", "关爱申请", "发布活动", "统计 / stats"], ["述职评议", "授权"]),
    ("wangwei", ["统计 / stats", "述职评议", "发布活动"], ["谈话 / talk", "授权", "关爱申请"]),
    ("admin", ["授权", "死信"], ["谈话 / talk", "统计", "发布活动"]),
])
def test_help_lists_only_what_the_roles_allow(sim, user, present, absent):
    text = sim.say(user, "帮助").text
    assert "可用命令" in text
    for word in present:
        assert word in text, (user, word)
    for word in absent:
        assert word not in text, (user, word)


def test_help_for_one_command_shows_its_usage_and_hides_what_is_not_allowed(sim):
    transcript(sim, [
        ("zhouli", "帮助 谈话", "· 谈话 / talk — 记录谈心谈话（逐步引导，或一句话记录）\n"
                              "  例：谈话 张三 季度 稳定 本月绩效调整有疑问 #关注 #薪酬"
                              "（不是今天的谈话在姓名后写日期：昨天、11-28、上周五）"),
        ("zhangsan", "help 活动", "· 活动 / activities — 可报名的活动；“活动 N”查看详情并报名\n  例：活动 / 活动 3\n"
                                "· 报名 / join — 报名活动\n  例：报名 3\n"
                                "· 取消报名 / cancel — 取消报名或候补（写活动编号；已报名的会再确认一次）\n"
                                "  例：取消报名 3；确认：取消报名 3 确认\n"
                                "· 我的报名 / mine — 我报名的活动\n"
                                "· 签到 / checkin — 活动现场签到\n  例：签到 123456（签到码由组织者公布）"),
    ])
    refused = sim.say("zhangsan", "帮助 谈话").text
    assert "没有您可用的“谈话”命令" in refused and "例：谈话" not in refused
