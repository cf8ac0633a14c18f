"""Typed forms of the 回访 buttons, and the per-team / per-leader 回访 figures."""
from __future__ import annotations

from bot.context import Context
from models.enums import Role
from models.policy import can, scopes
from models.quarters import current_quarter
from models.sampling import CheckState

from . import router, service
from .actions import answer_check, load_check, resolve_check

__all__ = ["confirm", "deny", "resolve_cmd", "show_stats"]

YES = {"属实", "是", "yes", "true"}
NO = {"不属实", "否", "no", "false"}


@router.command("属实", "confirm", help="确认回访中的谈话属实", usage="属实 3")
def confirm(ctx: Context, args: str) -> None:
    check, _ = load_check(ctx, args, "属实 3")
    if check is not None:
        answer_check(ctx, check, CheckState.CONFIRMED)


@router.command("没有这次谈话", "deny", help="回访中的谈话没有发生", usage="没有这次谈话 3")
def deny(ctx: Context, args: str) -> None:
    check, _ = load_check(ctx, args, "没有这次谈话 3")
    if check is not None:
        answer_check(ctx, check, CheckState.DENIED)


@router.command("核实回访", "resolve-check", help="核实员工否认的谈话", allowed=lambda ctx: can(ctx.person, "case.handle"),
                usage="核实回访 3 属实 已电话确认 · 核实回访 3 不属实 记录有误已删改")
def resolve_cmd(ctx: Context, args: str) -> None:
    check, rest = load_check(ctx, args, "核实回访 3 属实 说明")
    if check is None:
        return
    verdict, note = (rest.split(maxsplit=1) + ["", ""])[:2]
    verdict = verdict.lower()
    if verdict not in YES | NO:
        ctx.reply(f"请写明核实结果：核实回访 {check.id} 属实 说明，或 核实回访 {check.id} 不属实 说明")
        return
    resolve_check(ctx, check, verdict in YES, note.strip()[:500])


@router.command("回访统计", "checks", help="本季度抽查回访情况（按班组、按记录人）",
                allowed=lambda ctx: can(ctx.person, "stats.view"))
def show_stats(ctx: Context, args: str) -> None:
    units = scopes(ctx.me, Role.SECRETARY, Role.COMMITTEE)
    if not units or not ctx.require("stats.view", units[0]):
        return
    quarter = current_quarter(ctx.now(), ctx.config.timezone)
    teams, leaders = service.check_stats(ctx.db, ctx.config, units[0], quarter, ctx.now())
    if not teams:
        ctx.reply(f"{units[0].name} {quarter} 还没有抽查回访。")
        return
    lines = [f"{units[0].name} {quarter} 抽查回访", "【按班组】", *[t.line() for t in teams],
             "【按记录人】", *[p.line() for p in leaders]]
    ctx.reply("\n".join(lines))
