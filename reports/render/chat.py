"""Report numbers as chat text (统计, 述职评议), so handlers only choose the scope and reply."""
from __future__ import annotations

from collections.abc import Sequence

from models.org import Unit

from ..queries.kpi import Indicator
from ..queries.pulse import TeamPulse, trend_arrow
from ..queries.summary import ScopeSummary, WorkFigures
from ..queries.units import UnitRow
from .labels import KPI_LABELS, category_label, pct

__all__ = ["KPI_CHAT_ROWS", "PULSE_CHAT_ROWS", "kpi_text", "number", "pulse_lines", "summary_text", "work_lines"]

KPI_CHAT_ROWS = 30   # branches listed in chat; the Excel report has them all
PULSE_CHAT_ROWS = 12  # teams / branches in the pulse section of 统计


def _flag_trend(now: TeamPulse, before: TeamPulse) -> str:
    cats = sorted(set(now.flags) | set(before.flags), key=lambda c: (-now.flags.get(c, 0), c))
    return "、".join(f"{category_label(c)} {now.flags.get(c, 0)}{trend_arrow(before.flags.get(c, 0), now.flags.get(c, 0))}"
                    for c in cats)


def pulse_lines(rows: list[tuple[TeamPulse, TeamPulse]]) -> list[str]:
    """思想动态 against the previous quarter: the unit's moods, then per team (branch) the share of
    波动+严重 and flags by category, each with ↑↓→; nothing when no talk was recorded."""
    if not rows or not rows[0][0].talks:
        return []
    (now, before), groups = rows[0], rows[1:]
    moods = now.moods
    head = (f"思想动态（较{before.quarter}）：稳定 {moods.get('stable', 0)} · 波动 {moods.get('some_concern', 0)}"
            f" · 严重 {moods.get('serious_concern', 0)}，波动+严重 {now.concern_share:.0%}"
            f"{trend_arrow(before.concern_share, now.concern_share) if before.talks else ''}")
    lines = [head]
    if now.flags or before.flags:
        lines.append(f"  标记：{_flag_trend(now, before)}")
    for g_now, g_before in groups[:PULSE_CHAT_ROWS]:
        arrow = trend_arrow(g_before.concern_share, g_now.concern_share) if g_before.talks else ""
        flags = _flag_trend(g_now, g_before)
        lines.append(f"  · {g_now.name} 波动+严重 {g_now.worried}/{g_now.talks}{arrow}" + (f"；{flags}" if flags else ""))
    if len(groups) > PULSE_CHAT_ROWS:
        lines.append(f"  （共 {len(groups)} 个，其余见数据看板）")
    return lines


def work_lines(work: WorkFigures) -> list[str]:
    act = work.activities
    return [f"关爱帮扶个案：本季度新增 {work.funnel[0].cases}，在办 {work.open}，超时 {work.overdue}",
            f"活动：本季度已举办 {act.held} 场，签到 {act.attended} 人次，参与 {act.participants}/{act.people} 人"]


def summary_text(summary: ScopeSummary) -> str:
    """The `统计` reply: coverage and learning (overall and per group), flags, cases, activities, active users."""
    lines = [f"{summary.unit_name} · {summary.quarter} 统计",
             f"谈心谈话覆盖：{pct(summary.coverage.talked, summary.coverage.members)}"]
    for r in summary.coverage_rows:
        if r.members:
            lines.append(f"  · {r.name} {pct(r.talked, r.members)}")
    by_flag = {"watch": 0, "urgent": 0}
    cats = []
    for cat, levels in sorted(summary.flags.items()):
        for flag, n in levels.items():
            by_flag[flag] = by_flag.get(flag, 0) + n
        cats.append(f"{category_label(cat)} {sum(levels.values())}")
    lines.append(f"预警谈话：关注 {by_flag.get('watch', 0)} · 紧急 {by_flag.get('urgent', 0)}"
                 + (f"（{'、'.join(cats)}）" if cats else ""))
    t = summary.timeliness
    if t is not None and t.talks:
        lines.append(f"及时录入：{pct(t.on_time, t.talks)} · 季末7天集中录入 {pct(t.bunched, t.talks)}")
    lines += pulse_lines(summary.pulse)
    lines += work_lines(summary.work)
    if summary.learning is not None:
        lines.append(f"学习完成：{pct(summary.learning.studied, summary.learning.assigned)}")
        for lr in summary.learning_rows:
            if lr.assigned:
                lines.append(f"  · {lr.name} {pct(lr.studied, lr.assigned)}")
    lines.append(f"活跃用户（本季度发过消息）：{pct(*summary.active)}")
    return "\n".join(lines)


def _indicator(i: Indicator) -> str:
    label = KPI_LABELS[i.key]
    if i.key == "activities":
        return f"{label} {number(i.numerator / i.denominator)}" if i.denominator else f"{label} —"
    return f"{label} {pct(i.numerator, i.denominator)}"


def number(value: float) -> str:
    """As people write it: 0 not 0.0, 2.5 with one decimal."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def kpi_text(unit_name: str, year: int, rows: Sequence[tuple[Unit | UnitRow, list[Indicator]]]) -> str:
    """The `述职评议` reply: one line per branch (the first KPI_CHAT_ROWS); `述职评议 口径` explains them."""
    if not rows:
        return f"{unit_name} 下没有支部。"
    lines = [f"{year} 年述职评议指标（{unit_name}）："]
    for branch, indicators in rows[:KPI_CHAT_ROWS]:
        lines.append(f"· {branch.name}：" + "；".join(_indicator(i) for i in indicators))
    if len(rows) > KPI_CHAT_ROWS:
        lines.append(f"（共 {len(rows)} 个支部，以上为前 {KPI_CHAT_ROWS} 个，完整列表请在数据看板查看）")
    lines.append("发送“述职评议 口径”查看各项指标的计算方法。")
    return "\n".join(lines)
