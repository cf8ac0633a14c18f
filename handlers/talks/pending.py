"""Talks' part of 待办 (bot.pending): for a team leader, the members of each own team not yet talked
to this quarter, with the exact command for the first few (an account id where a name is shared)."""
from __future__ import annotations

from sqlalchemy import select

from bot.context import Context
from bot.pending import PendingItem
from bot.router import Router
from models.directory import display_names
from models.enums import Role
from models.org import Person
from models.quarters import current_quarter, quarter_bounds
from reports.queries.coverage import team_coverage, team_ids_for

router = Router("talks")


@router.pending
def pending_talks(ctx: Context) -> list[PendingItem]:
    led = team_ids_for(ctx.db, ctx.me, roles=(Role.TEAM_LEADER,))
    if not led:
        return []
    quarter = current_quarter(ctx.now(), ctx.config.timezone)
    end = quarter_bounds(quarter, ctx.config.timezone)[1]
    teams = [t for t in team_coverage(ctx.db, quarter, led) if t.missing]
    labels = display_names(ctx.db, [(m.person_id, m.name) for t in teams for m in t.missing])
    shared = {pid for pid, label in labels.items() if "（" in label}
    accounts = dict(ctx.db.execute(select(Person.id, Person.wecom_userid).where(Person.id.in_(shared)))) if shared else {}
    items = []
    for team in teams:
        names = "、".join(labels[m.person_id] for m in team.missing[:8]) + ("等" if len(team.missing) > 8 else "")
        commands = tuple(f"谈话 {accounts.get(m.person_id) or m.name}" for m in team.missing[:2])
        items.append(PendingItem("本季度待谈心", f"{team.name}还有 {len(team.missing)} 人未谈：{names}",
                                 commands, due=end))
    return items
