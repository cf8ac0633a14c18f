"""Exports by chat: an organiser or secretary asks in chat and gets the Excel file as a message.

Through the simulator (a download link only its recipient can open, gone after exports.keep_hours),
through the encrypted WeCom webhook with the WeCom API faked (media/upload, then a file message),
and through the DingTalk sender (oapi media/upload, then batchSend sampleFile).
"""
from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.messages import File
from models.activity import Activity
from tests.activities.test_activities import LINE, T0, publish


def files_in(replies) -> list[File]:
    return [r for r in replies if isinstance(r, File)]


def signed_up(sim) -> int:
    act_id = publish(sim)                      # 名额2, by liqiang (secretary of the audience's branch)
    for user in ("zhangsan", "lisi", "wangwu"):
        sim.say(user, f"报名 {act_id}")
    sim.inbox("liqiang")
    return act_id


def test_organiser_gets_the_signup_list_as_a_file_that_only_they_can_open(sim_at, services, client, clock):
    act_id = signed_up(sim_at)
    out = sim_at.say("liqiang", f"代签到 {act_id} 张三").text
    assert out == "✔ 张三 已签到。「周末义务植树」已签到 1/2。"
    out = sim_at.say("liqiang", f"导出报名 {act_id}").text
    assert out == (f"已生成「周末义务植树」的报名名单：已报名 2 人，候补 1 人，已签到 1 人。"
                   f"Excel 文件（报名名单-{act_id}-周末义务植树.xlsx）随后发到本会话，24 小时内有效。")
    [file] = files_in(sim_at.inbox("liqiang"))
    assert file.name == f"报名名单-{act_id}-周末义务植树.xlsx"

    page = client.get(f"/sim/files/{file.token}?user=liqiang")
    assert page.status_code == 200 and page.headers["Content-Disposition"].startswith("attachment")
    rows = list(load_workbook(BytesIO(page.data))["报名名单"].iter_rows(values_only=True))
    assert rows[0] == ("序号", "姓名", "单位", "状态", "报名时间", "签到", "签到时间", "企业微信账号")
    assert [(r[1], r[3], r[5], r[7]) for r in rows[1:]] == [
        ("张三", "已报名", "组织者代签", "zhangsan"), ("李四", "已报名", None, "lisi"), ("王五", "候补1", None, "wangwu")]
    assert rows[1][6].startswith("2026-12-01 10:00")      # when, in local time

    assert client.get(f"/sim/files/{file.token}?user=zhangsan").status_code == 404   # not sent to them
    assert client.get(f"/sim/files/{file.token}").status_code == 404
    clock.set(T0 + timedelta(hours=25))
    from scheduler.context import JobContext
    from scheduler.jobs.files import purge

    assert purge(JobContext(config=services.config, session_factory=services.session_factory, clock=clock)) == 1
    gone = client.get(f"/sim/files/{file.token}?user=liqiang")
    assert gone.status_code == 404 and "已过期" in gone.get_data(as_text=True)


def test_the_manage_card_button_exports_the_same_file(sim_at):
    act_id = signed_up(sim_at)
    out = sim_at.say("liqiang", f"活动 {act_id}")
    card = next(c for c in out.replies if getattr(c, "title", "").startswith("【管理】"))
    assert "导出名单" in [b.text for b in card.buttons]
    out = sim_at.press("liqiang", "导出名单", card)
    assert "已报名 2 人，候补 1 人" in out.text
    [file] = files_in(sim_at.inbox("liqiang"))
    assert file.name.startswith(f"报名名单-{act_id}")


def test_people_who_do_not_run_the_activity_get_no_file_and_check_nobody_in(sim_at, services):
    from models.activity import Attendance

    act_id = signed_up(sim_at)
    for user in ("zhangsan", "chenjing"):        # a participant; the secretary of another branch
        out = sim_at.say(user, f"导出报名 {act_id}").text
        assert "已生成" not in out, out
        assert files_in(sim_at.inbox(user)) == []
        assert "已签到" not in sim_at.say(user, f"代签到 {act_id} 李四").text
    with services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Attendance)) == 0
    assert sim_at.say("liqiang", "导出报名 99999999999999999999").text.startswith("没有编号为 ")


def test_checkin_by_text_tells_same_names_apart_and_refuses_the_waitlist(sim_at, services):
    act_id = signed_up(sim_at)
    assert sim_at.say("liqiang", f"代签到 {act_id} 王五").text == "“王五”不在「周末义务植树」的已报名名单中。" \
        f"发送“签到名单 {act_id}”查看未签到的人。"
    assert sim_at.say("liqiang", f"代签到 {act_id} lisi").text == "✔ 李四 已签到。「周末义务植树」已签到 1/2。"
    assert sim_at.say("liqiang", f"代签到 {act_id} 李四").text == "李四 之前已签到。「周末义务植树」已签到 1/2。"
    assert sim_at.say("liqiang", f"代签到 {act_id}").text == f"请写上要签到的人，例如：代签到 {act_id} 张三（重名时写账号）。"
    with services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Activity)) == 1


def test_stats_export_carries_the_review_sheet_only_for_the_committee(sim_at):
    out = sim_at.say("liqiang", "导出统计").text
    assert out.startswith("已生成外航维修党支部 2026Q4 的统计报表") and "随后发到本会话" in out
    [branch] = files_in(sim_at.inbox("liqiang"))
    out = sim_at.say("wangwei", "导出统计").text
    assert "统计报表" in out
    [committee] = files_in(sim_at.inbox("wangwei"))
    from bot.files import FileStore

    store = FileStore(sim_at.services.session_factory)
    branch_sheets = load_workbook(BytesIO(store.load(branch.token)[1])).sheetnames
    committee_sheets = load_workbook(BytesIO(store.load(committee.token)[1])).sheetnames
    assert "概览" in branch_sheets and not any(s.startswith("述职评议") for s in branch_sheets)
    assert any(s.startswith("述职评议") for s in committee_sheets)
    assert "导出统计" in sim_at.say("liqiang", "统计").text
    assert files_in(sim_at.inbox("zhangsan")) == []
    assert "统计报表" not in sim_at.say("zhangsan", "导出统计").text


class TestOverWeCom:
    @pytest.fixture
    def config_overrides(self) -> dict:
        return {"delivery.platforms": ["wecom"]}

    def test_export_is_uploaded_and_sent_as_a_file_message(self, wecom, services, api, clock):
        clock.set(T0)
        drain = services.outbox_dispatcher().drain
        wecom.say("liqiang", LINE)
        wecom.say("liqiang", "确认发布")
        drain()
        with services.session_factory() as db:
            act_id = db.scalar(select(func.max(Activity.id)))
        wecom.say("zhangsan", f"报名 {act_id}")
        reply = wecom.say("liqiang", f"导出报名 {act_id}")
        assert "Excel 文件" in reply and "随后发到本会话" in reply
        drain()
        [upload] = api.uploads
        assert upload["type"] == "file" and upload["name"] == f"报名名单-{act_id}-周末义务植树.xlsx"
        rows = list(load_workbook(BytesIO(upload["content"]))["报名名单"].iter_rows(values_only=True))
        assert [r[1] for r in rows[1:]] == ["张三"]
        [sent] = [m for m in api.to("liqiang") if m.get("msgtype") == "file"]
        assert sent["file"] == {"media_id": upload["media_id"]} and sent["safe"] == 0
        assert not [m for m in api.sent if m.get("msgtype") == "file" and m["touser"] != "liqiang"]


class TestOverDingTalk:
    @pytest.fixture
    def config_overrides(self) -> dict:
        from tests.dingtalk_helpers import DINGTALK_OVERRIDES

        return {"delivery.platforms": ["dingtalk"], **DINGTALK_OVERRIDES}

    def test_file_row_is_uploaded_and_sent_as_sample_file(self, services, dt_api, clock):
        from bot.files import store_file
        from bot.outbox import Priority, enqueue
        from tests.helpers import person_id

        pid = person_id(services, "liqiang")
        with services.session_factory() as db:
            file = store_file(db, pid, "统计-外航维修党支部-2026Q4.xlsx", b"PK\x03\x04 not really", now=clock.now(),
                              keep_hours=24)
            enqueue(db, platform="dingtalk", recipients=["dt_liqiang"], reply=file, priority=Priority.URGENT)
            db.commit()
        services.outbox_dispatcher().drain()
        [upload] = dt_api.uploads
        assert upload["type"] == "file" and upload["content"] == b"PK\x03\x04 not really"
        [sent] = [b for b in dt_api.batch if b["msgKey"] == "sampleFile"]
        assert sent["userIds"] == ["dt_liqiang"]
        assert sent["param"] == {"mediaId": upload["media_id"], "fileName": "统计-外航维修党支部-2026Q4.xlsx",
                                 "fileType": "xlsx"}
