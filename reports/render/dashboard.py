"""Dashboard tiles and chart geometry from report numbers; the templates only draw SVG from these (no JavaScript, no CDN)."""
from __future__ import annotations

from dataclasses import dataclass

from ..queries.pulse import TeamPulse
from ..queries.summary import DashboardData
from .labels import category_label, funnel_rows

__all__ = ["MOODS", "Bar", "bars", "build_charts", "pulse_charts", "tiles"]

MOODS = (("stable", "稳定", "#2e8b57"), ("some_concern", "波动", "#e0a800"), ("serious_concern", "严重", "#c0392b"))
PULSE_TEAMS = 24       # small multiples drawn; the chat and the Excel report carry the rest


@dataclass
class Bar:
    label: str
    value: float          # 0..1 for rates, raw number otherwise
    text: str             # the label printed next to the bar, e.g. "75% (3/4)"
    width: float          # pixels
    y: float


def bars(items: list[tuple[str, float, str]], *, max_value: float | None = None, width: float = 420,
         row: float = 28) -> list[Bar]:
    top = max_value if max_value is not None else max([v for _, v, _ in items] + [1])
    return [Bar(label, v, text, round(width * (v / top if top else 0), 1), i * row)
            for i, (label, v, text) in enumerate(items)]


def _pct(n: int, d: int) -> str:
    return f"{n / d:.0%}（{n}/{d}）" if d else "—（0/0）"


def tiles(data: DashboardData) -> list[tuple[str, str, int | str]]:
    """(id, label, value) of the case and activity tiles, after the talk and learning tiles."""
    work, act, t = data.work, data.work.activities, data.timeliness
    return [("cases", f"在办个案（超时 {work.overdue}）", work.open),
            ("activities", f"本季度活动 · 参与 {act.participants}/{act.people} 人", act.held),
            ("timely", f"及时录入 {t.on_time}/{t.talks} · 季末集中 {t.bunched}",
             f"{t.on_time / t.talks:.0%}" if t.talks else "—")]


def pulse_charts(series: dict[int, list[TeamPulse]], *, col: float = 40, gap: float = 14, h: float = 90) -> list[dict]:
    """One small chart per team (or branch): a 100 % stacked column of 稳定/波动/严重 per quarter,
    with the flags of the quarter under it."""
    charts = []
    for quarters in list(series.values())[:PULSE_TEAMS]:
        columns = []
        for i, p in enumerate(quarters):
            x, y, parts = i * (col + gap), h, []
            for mood, label, color in MOODS:
                n = p.moods.get(mood, 0)
                height = round(h * n / p.talks, 1) if p.talks else 0
                y -= height
                parts.append({"mood": mood, "label": label, "color": color, "n": n, "y": round(y, 1), "h": height})
            flags = sum(p.flags.values())
            columns.append({"quarter": p.quarter, "x": x, "talks": p.talks, "parts": parts, "flags": flags,
                            "share": f"{p.concern_share:.0%}" if p.talks else "—"})
        charts.append({"name": quarters[0].name, "columns": columns, "w": len(quarters) * (col + gap), "h": h,
                       "col": col})
    return charts


def build_charts(data: DashboardData) -> dict:
    coverage = bars([(r.name, r.rate, _pct(r.talked, r.members)) for r in data.coverage_rows], max_value=1.0)
    quarters = list(data.trend)
    top = max([max(v.values()) for v in data.trend.values()] + [1])
    w, h = 420, 160
    step = w / max(len(quarters) - 1, 1)
    series = []
    for flag, label, color in (("watch", "关注", "#e0a800"), ("urgent", "紧急", "#c0392b")):
        points = [(round(i * step, 1), round(h - h * data.trend[q].get(flag, 0) / top, 1), q, data.trend[q].get(flag, 0))
                  for i, q in enumerate(quarters)]
        series.append({"flag": flag, "label": label, "color": color, "points": points,
                       "polyline": " ".join(f"{x},{y}" for x, y, _, _ in points)})
    categories = [(category_label(cat), levels.get("watch", 0), levels.get("urgent", 0))
                  for cat, levels in sorted(data.flags.items())]
    stages = funnel_rows(data.work.funnel)
    funnel_top = max([n for _, n in stages] + [1])
    funnel = [{"label": label, "n": n, "width": round(420 * n / funnel_top, 1), "y": i * 30}
              for i, (label, n) in enumerate(stages)]
    if data.work.activity_rows:
        participation = bars([(r.name, r.rate, _pct(r.participants, r.people)) for r in data.work.activity_rows],
                             max_value=1.0)
        participation_title = "活动参与率"
    else:
        participation = bars([(r.name, r.rate, _pct(r.studied, r.assigned)) for r in data.learning_rows],
                             max_value=1.0)
        participation_title = "学习完成率"
    return {"coverage": coverage, "trend": {"quarters": quarters, "series": series, "top": top, "w": w, "h": h,
                                            "step": step},
            "categories": categories, "funnel": funnel, "participation": participation,
            "participation_title": participation_title, "tiles": tiles(data), "pulse": pulse_charts(data.pulse),
            "moods": MOODS}
