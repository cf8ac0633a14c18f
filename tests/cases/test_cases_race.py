"""Two committee members deciding the same care request at the same moment leave exactly one
decision (threads, on SQLite and on PostgreSQL + Redis)."""
from __future__ import annotations

import threading

from sqlalchemy import select

from bot.adapters.simulator import sim_incoming
from handlers.cases.cards import CaseAction
from models.case import CaseEvent
from tests.case_helpers import flag_talk, load, request_care, sim_say


def _requested(services, sim) -> int:
    case_id = flag_talk(services)
    assert "已提交" in request_care(sim_say(sim), "liqiang", case_id)
    return case_id


def _together(*calls):
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(i, fn):
        barrier.wait()
        try:
            results[i] = fn()
        except BaseException as exc:  # surface in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def _decisions(services, case_id):
    with services.session_factory() as db:
        return db.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                  CaseEvent.from_state == "care_requested")).all()


def test_approve_and_reject_at_the_same_moment_leave_one_decision(sim, services):
    handle = services.dispatcher.handle
    for _ in range(3):
        case_id = _requested(services, sim)
        handle(sim_incoming("zhaomin", action=CaseAction(case_id, "reject").pack()))  # asks for the reason
        def approve(case_id: int = case_id):
            return handle(sim_incoming("wangwei", action=CaseAction(case_id, "approve").pack()))
        def reason():
            return handle(sim_incoming("zhaomin", text="材料不全，请补充"))
        a, r = _together(approve, reason)
        decisions = _decisions(services, case_id)
        assert len(decisions) == 1
        case = load(services, case_id)
        winner, loser = (a, r) if case.state == "approved" else (r, a)
        assert case.decided_by.name == ("王伟" if case.state == "approved" else "赵敏")
        assert "已" in winner.text and "无需重复审批" in loser.text and case.decision == case.state


def test_two_approvals_at_the_same_moment_approve_once(sim, services):
    handle = services.dispatcher.handle
    case_id = _requested(services, sim)
    key = CaseAction(case_id, "approve").pack()
    outs = _together(lambda: handle(sim_incoming("wangwei", action=key)),
                     lambda: handle(sim_incoming("zhaomin", action=key)))
    assert len(_decisions(services, case_id)) == 1
    assert sorted("无需重复审批" in o.text for o in outs) == [False, True]
