"""A command typed inside a dialog (issue 15) is never silently taken as an answer: the sender is
told where they are and how to leave; answers that look like commands still count; both stacks."""
from __future__ import annotations

from sqlalchemy import func, select

from models.talk import Talk


def _talks(services) -> int:
    with services.session_factory() as db:
        return db.scalar(select(func.count()).select_from(Talk))


def test_a_command_during_a_talk_dialog_is_explained_not_recorded(sim, services):
    sim.say("zhouli", "谈话")
    sim.say("zhouli", "李四")
    out = sim.say("zhouli", "我的班组")                      # step 2: the kind
    assert "您正在记录谈心谈话（第 2 步）" in out.text and "回复“取消”退出" in out.text
    assert "谈话类型" in out.text                            # the question is asked again
    out = sim.say("zhouli", "走访")                          # a command word that is also an option
    assert "谈话内容" in out.text
    out = sim.say("zhouli", "报名 3")                        # free text: "报名 3" could be a note …
    assert "您正在记录谈心谈话" not in out.text
    sim.say("zhouli", "返回")
    out = sim.say("zhouli", "待办")                          # … but a bare command word is not
    assert "您正在记录谈心谈话（第 3 步）" in out.text
    assert "取消" in sim.say("zhouli", "取消").text
    assert _talks(services) == 0


def test_a_command_while_picking_a_person_is_explained(sim):
    sim.say("zhouli", "谈话")
    out = sim.say("zhouli", "谈话记录 李四")
    assert "您正在记录谈心谈话（第 1 步）" in out.text
    out = sim.say("zhouli", "李四")
    assert "谈话类型" in out.text
