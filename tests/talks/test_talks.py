"""Talks through the simulator on both storage stacks: dialog, one line, cancel, back, expiry,
edits and versions, follow-ups, coverage, and who may record and read (every read audited)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.talk import Talk, TalkVersion, quarter_of
from tests.helpers import person_id


def _talks(services) -> list[Talk]:
    with services.session_factory() as db:
        rows = list(db.scalars(select(Talk).order_by(Talk.id)))
        for t in rows:  # load while the session is open
            _ = (t.summary, t.needs, t.subject.name, t.author.name)
        return rows


def _audits(services, action: str, target_type: str = "talk") -> list[AuditEvent]:
    with services.session_factory() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                        AuditEvent.target_type == target_type)
                               .order_by(AuditEvent.id)))


@pytest.fixture
def flagged(services):
    """Collect talk.flagged events (the escalation flow subscribes the same way)."""
    seen: list[dict] = []
    services.registry.subscribers.setdefault("talk.flagged", []).append(lambda ctx, payload: seen.append(payload))
    return seen


def test_guided_dialog_records_a_flagged_talk(sim, services, clock, flagged):
    out = sim.say("zhouli", "谈话")
    assert "姓名" in out.text
    out = sim.say("zhouli", "张")                      # 张三 and 张三丰: choose
    assert "2 位相符" in out.text
    sim.press("zhouli", "张三（四车间班组）")
    out = sim.press("zhouli", "专项谈话")
    assert "谈话内容" in out.text
    sim.say("zhouli", "孩子上学的事情比较焦虑，已沟通")
    sim.press("zhouli", "有些波动")
    sim.press("zhouli", "关注")
    out = sim.press("zhouli", "家庭")
    assert "需求" in out.text
    out = sim.say("zhouli", "无")
    card = out.replies[-1]
    assert card.title == "确认谈话记录"
    fields = dict(card.fields)
    assert fields["对象"] == "张三（四车间班组）" and fields["类型"] == "专项谈话"
    assert fields["标记"] == "关注（家庭）" and fields["需求"] == "无"
    assert "孩子上学" not in card.as_text()         # cards never carry the note text
    assert not _talks(services)                        # nothing saved before confirmation
    out = sim.press("zhouli", "保存")
    assert "已保存谈话 #1" in out.text and out.card_updates[0].done_text == "已保存"
    [talk] = _talks(services)
    assert (talk.author_id, talk.subject_id) == (person_id(services, "zhouli"), person_id(services, "zhangsan"))
    assert (talk.kind, talk.mood, talk.flag, talk.category) == ("special", "some_concern", "watch", "family")
    assert talk.summary == "孩子上学的事情比较焦虑，已沟通" and talk.needs is None
    assert talk.quarter == quarter_of(clock.now())
    assert flagged == [{"talk_id": talk.id}]
    assert [a.target_id for a in _audits(services, "create")] == [str(talk.id)]


def test_one_line_goes_to_confirmation_then_saves(sim, services, flagged):
    out = sim.say("zhouli", "谈话 张三 季度 稳定 本月绩效调整有疑问 #关注 #薪酬 需求:希望解释绩效规则")
    card = out.replies[-1]
    assert card.title == "确认谈话记录"
    assert dict(card.fields)["标记"] == "关注（薪酬绩效）" and dict(card.fields)["思想状态"] == "稳定"
    assert "本月绩效调整有疑问" in out.text              # echoed in the passive text preview only
    sim.press("zhouli", "保存")
    [talk] = _talks(services)
    assert (talk.kind, talk.mood, talk.flag, talk.category) == ("quarterly", "stable", "watch", "pay")
    assert talk.summary == "本月绩效调整有疑问" and talk.needs == "希望解释绩效规则"
    assert flagged == [{"talk_id": talk.id}]


def test_one_line_without_mood_asks_for_it_and_unknown_tags_are_named(sim, services, flagged):
    out = sim.say("zhouli", "谈话 张三 本周沟通顺利 #奇怪")
    assert "不认识的标签“#奇怪”" in out.text and not _talks(services)
    out = sim.say("zhouli", "走访 李四 家中一切安好")
    assert "思想状态" in out.text
    sim.press("zhouli", "稳定")
    out = sim.say("zhouli", "保存")                       # typed instead of pressed
    assert "已保存" in out.text
    [talk] = _talks(services)
    assert (talk.kind, talk.flag, talk.subject.name) == ("home_visit", "none", "李四")
    assert flagged == []


def test_cancel_and_back(sim, services):
    sim.say("zhouli", "谈话 张三")
    sim.press("zhouli", "季度谈心")
    sim.say("zhouli", "第一次写的内容")
    out = sim.say("zhouli", "返回")
    assert "谈话内容" in out.text
    sim.say("zhouli", "改过的内容")
    sim.press("zhouli", "稳定")
    out = sim.say("zhouli", "back")
    assert "思想状态" in out.text and "是否标记" not in out.text       # back from flag to mood
    out = sim.say("zhouli", "取消")
    assert "已取消" in out.text
    out = sim.say("zhouli", "稳定")                        # no dialog any more
    assert "已取消" not in out.text and not _talks(services)
    # the confirmation card's own buttons: 返回 goes to the last step, 取消 ends the dialog
    sim.say("zhouli", "谈话 张三 季度 稳定 一切正常")
    out = sim.press("zhouli", "返回")
    assert "需求" in out.text
    sim.say("zhouli", "无")
    out = sim.press("zhouli", "取消")
    assert "已取消" in out.text and out.card_updates[0].done_text == "已取消"
    assert not _talks(services)


def test_back_from_one_line_confirmation_reaches_every_answer(sim, services):
    sim.say("zhouli", "谈话 张三 季度 稳定 一切正常 #关注 #健康")
    steps = []
    for _ in range(3):
        steps.append(sim.say("zhouli", "返回").text)
    assert "需求" in steps[0] and "哪一类" in steps[1] and "是否标记" in steps[2]
    sim.press("zhouli", "无")
    out = sim.say("zhouli", "无")                          # needs
    assert dict(out.replies[-1].fields)["标记"] == "无"
    sim.press("zhouli", "保存")
    [talk] = _talks(services)
    assert talk.flag == "none" and talk.category is None


@pytest.mark.parametrize("config_overrides", [{"conversation.ttl_seconds": 600}])
def test_idle_dialog_expires_with_a_notice(sim, services):
    sim.say("zhouli", "谈话 张三")
    assert 590 <= services.redis.ttl("conv:sim:zhouli") <= 600   # the idle time is configurable
    services.redis.delete("conv:sim:zhouli")             # what the TTL (conversation.ttl_seconds) does
    out = sim.say("zhouli", "季度谈心")
    assert "因长时间未操作已自动结束" in out.text
    assert not _talks(services)
    out = sim.say("zhouli", "谈话 张三 季度 稳定 一切正常")  # and a new dialog works normally
    assert "因长时间" not in out.text and out.replies[-1].title == "确认谈话记录"


def test_stale_confirmation_card_is_refused(sim, services):
    sim.say("zhouli", "谈话 张三 季度 稳定 一切正常")
    old = sim.last_cards["zhouli"]
    sim.say("zhouli", "取消")
    out = sim.press("zhouli", "保存", card=old)
    assert "已经结束" in out.text and not _talks(services)


def test_leader_cannot_record_outside_own_teams(sim, services):
    out = sim.say("zhouli", "谈话 郑毅 季度 稳定 一切正常")       # 郑毅 is in 五车间班组 (wugang)
    assert "不能为其记录谈话" in out.text
    sim.say("zhouli", "谈话")
    out = sim.say("zhouli", "郑毅")
    assert "不能为其记录谈话" in out.text and "姓名" in out.text
    out = sim.say("zhouli", "周丽")                      # not herself either
    assert "不能为自己记录谈话" in out.text
    sim.say("zhouli", "取消")
    assert not _talks(services)
    denied = _audits(services, "authz_fail", "Person")
    assert len(denied) == 3 and all(a.detail == "talk.record" for a in denied)
    out = sim.say("zhangsan", "谈话 李四 季度 稳定 一切正常")     # an employee records nothing
    assert "仅对有相应职责的同志开放" in out.text
    # a secretary records within the whole branch
    out = sim.say("liqiang", "谈话 郑毅 季度 稳定 一切正常")
    assert out.replies[-1].title == "确认谈话记录"


def test_reading_is_limited_and_audited(sim, services):
    sim.say("zhouli", "谈话 张三 季度 稳定 工资条看不懂 #关注 #薪酬")
    sim.press("zhouli", "保存")
    [talk] = _talks(services)
    # employees never read talks, not even their own
    for text in ("谈话记录 张三", f"谈话详情 {talk.id}", "history zhangsan"):
        out = sim.say("zhangsan", text)
        assert "工资条" not in out.text and "仅对有相应职责的同志开放" in out.text
    # another team's leader sees nothing
    out = sim.say("wugang", "谈话记录 张三")
    assert "没有您可以查看" in out.text and "工资条" not in out.text
    out = sim.say("wugang", f"谈话详情 {talk.id}")
    assert "没有查看" in out.text and "工资条" not in out.text
    # the other branch's secretary neither
    assert "工资条" not in sim.say("chenjing", f"谈话详情 {talk.id}").text
    assert not _audits(services, "read")
    # author, branch secretary, committee
    assert "工资条看不懂" in sim.say("zhouli", "谈话记录 张三").text
    assert "工资条看不懂" in sim.say("liqiang", f"谈话详情 {talk.id}").text
    assert "工资条看不懂" in sim.say("wangwei", "history 张三").text
    reads = _audits(services, "read")
    assert [(a.actor_id, a.target_id, a.via) for a in reads] == [
        (person_id(services, "zhouli"), str(talk.id), "谈话记录"),
        (person_id(services, "liqiang"), str(talk.id), "谈话详情#p1"),
        (person_id(services, "wangwei"), str(talk.id), "谈话记录")]


def test_long_talks_are_paged_to_fit_one_passive_reply(sim, services):
    long_text = "情况说明" * 400                          # 1,600 characters, 4,800 bytes
    sim.say("zhouli", "谈话 张三 季度 稳定 " + long_text)
    sim.press("zhouli", "保存")
    [talk] = _talks(services)
    assert talk.summary == long_text
    first = sim.say("zhouli", f"谈话详情 {talk.id}").text
    n = int(first.split("/")[1].split(" ")[0])
    pages = [first] + [sim.say("zhouli", f"谈话详情 {talk.id} {i}").text for i in range(2, n + 1)]
    assert n >= 3 and all(len(p.encode()) <= 2000 for p in pages)
    body = "".join(p.split("\n")[-2] if i else p.split("\n")[-2][3:] for i, p in enumerate(pages))
    assert body == long_text                              # nothing lost between pages
    assert len(_audits(services, "read")) == n            # every page read is audited
    out = sim.say("zhouli", "谈话 张三 季度 稳定 " + "长" * 2001)
    assert "超过了 2000 字" in out.text
    # a long history shows as many talks as fit, and audits exactly those
    for i in range(11):
        sim.say("zhouli", f"谈话 张三 季度 稳定 第{i}次谈话" + "内容很长" * 12)
        sim.press("zhouli", "保存")
    out = sim.say("zhouli", "谈话记录 张三")
    assert len(out.text.encode()) <= 2000 and "共 12 条" in out.text
    shown = out.text.count("季度谈心")
    assert 3 <= shown < 12 and len(_audits(services, "read")) == n + shown


def test_edit_within_window_keeps_a_version_and_is_refused_after(sim, services, clock, flagged):
    sim.say("zhouli", "谈话 张三 季度 稳定 第一版内容")
    sim.press("zhouli", "保存")
    [talk] = _talks(services)
    out = sim.say("zhouli", f"修改谈话 {talk.id}")
    assert "不变" in out.text and "谈话类型" in out.text
    out = sim.say("zhouli", "不变")                          # kind
    assert "原内容：第一版内容" in out.text
    sim.say("zhouli", "第二版内容")                          # summary
    sim.say("zhouli", "不变")                                # mood
    sim.press("zhouli", "紧急")
    sim.press("zhouli", "健康")
    out = sim.say("zhouli", "无")
    assert out.replies[-1].title == "确认修改谈话"
    out = sim.press("zhouli", "保存")
    assert "第 2 版" in out.text
    [talk] = _talks(services)
    assert (talk.summary, talk.flag, talk.category, talk.version) == ("第二版内容", "urgent", "health", 2)
    assert flagged == [{"talk_id": talk.id}]               # newly flagged by the edit
    with services.session_factory() as db:
        [v] = db.scalars(select(TalkVersion)).all()
        assert (v.version, v.summary, v.flag) == (1, "第一版内容", "none")
    assert len(_audits(services, "update")) == 1
    # someone else may not edit, and after 48 hours nobody may
    assert "只有记录人本人" in sim.say("liqiang", f"修改谈话 {talk.id}").text
    clock.advance(hours=49)
    out = sim.say("zhouli", f"修改谈话 {talk.id}")
    assert "48 小时内" in out.text and "不能再修改" in out.text


def test_follow_up_links_to_the_flagged_talk(sim, services):
    sim.say("zhouli", "谈话 张三 季度 波动 家里老人生病 #紧急 #家庭")
    sim.press("zhouli", "保存")
    [first] = _talks(services)
    # the dialog offers the open flagged talk
    sim.say("zhouli", "谈话")
    sim.say("zhouli", "张三")
    sim.press("zhouli", "专项谈话")
    sim.say("zhouli", "老人已出院，情绪好转")
    sim.press("zhouli", "稳定")
    sim.press("zhouli", "无")
    out = sim.say("zhouli", "无")
    assert "跟进" in out.text
    out = sim.say("zhouli", "1")
    assert dict(out.replies[-1].fields)["跟进"] == f"谈话 #{first.id}"
    sim.press("zhouli", "保存")
    second = _talks(services)[-1]
    assert second.follows_up_id == first.id
    # one line with 跟进:N (must be a talk with the same person)
    out = sim.say("zhouli", f"谈话 李四 专项 稳定 回访 跟进:{first.id}")
    assert "没有找到可跟进的谈话" in out.text
    sim.say("zhouli", f"谈话 张三 专项 稳定 再次回访 跟进:{first.id}")
    sim.press("zhouli", "保存")
    assert _talks(services)[-1].follows_up_id == first.id


def test_team_coverage_for_leader_and_secretary(sim, services):
    sim.say("zhouli", "谈话 张三 季度 稳定 一切正常")
    sim.press("zhouli", "保存")
    out = sim.say("zhouli", "我的班组")
    assert "四车间班组】已谈 1/6" in out.text
    assert "✓ 张三" in out.text and "✗ 李四  最近一次：从未" in out.text and "周丽" not in out.text
    out = sim.say("liqiang", "team")
    assert "五车间班组】已谈 0/5" in out.text and "未谈：" in out.text
    assert "仅对有相应职责" in sim.say("zhangsan", "我的班组").text


def test_history_with_same_names_asks_which(sim, services):
    sim.say("liqiang", "谈话 张三丰 季度 稳定 练拳")
    sim.press("liqiang", "保存")
    out = sim.say("liqiang", "谈话记录 张")
    assert "请在姓名后加序号" in out.text
    out = sim.say("liqiang", "谈话记录 张三丰")
    assert "练拳" in out.text


def test_one_line_with_an_ambiguous_name_asks_which_then_confirms(sim, services):
    out = sim.say("zhouli", "谈话 张 季度 稳定 师徒结对进展顺利")
    assert "2 位相符" in out.text or "请选择谈话对象" in out.text
    out = sim.press("zhouli", "张三丰（四车间班组）")
    assert out.replies[-1].title == "确认谈话记录" and dict(out.replies[-1].fields)["对象"] == "张三丰（四车间班组）"
    sim.press("zhouli", "保存")
    [talk] = _talks(services)
    assert (talk.subject.name, talk.summary) == ("张三丰", "师徒结对进展顺利")
