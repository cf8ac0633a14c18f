"""Chinese names of report keys (funnel stages, age buckets, KPI indicators, talk categories): one vocabulary for every output."""
from __future__ import annotations

from models.case import STATE_LABELS, CaseState
from models.sla import ConfigLike, ack_hours
from models.talk import CATEGORY_LABELS, Category

from ..queries.cases import AgeBucket, FunnelStage

__all__ = ["AGE_LABELS", "FUNNEL_LABELS", "KPI_LABELS", "age_rows", "category_label", "funnel_rows", "kpi_definition",
           "pct", "state_rows"]

FUNNEL_LABELS = {"reported": "上报", "handled": "已处理", "care_requested": "关爱申请", "approved": "已同意",
                 "helper_assigned": "已指派帮扶人", "closed": "已结案"}
AGE_LABELS = {7: "7天内", 30: "7–30天", 90: "30–90天", None: "90天以上"}
KPI_LABELS = {"coverage": "谈心谈话覆盖率", "flags_ack_sla": "预警按时确认率", "care_closed": "关爱帮扶结案率",
              "activities": "开展活动数（每季度）", "participation": "活动参与率", "learning": "学习完成率",
              "party_life": "主题党日和党课参加率", "timely": "谈话及时录入率", "bunched": "季末集中录入占比"}
_KPI_DEFINITIONS = {
    "coverage": "各季度已谈话人数之和 / 各季度应谈话人数之和（本年已开始的季度）",
    "flags_ack_sla": ("本年预警谈话生成的个案中在时限内（紧急 {urgent:g} 小时、关注 {watch:g} 小时）被确认的个数 / "
                      "已确认或已超时的个数"),
    "care_closed": "本年发起的关爱申请中已结案的个数 / 本年发起的关爱申请数",
    "activities": "本年已举办（未取消、已开始）的面向本单位的活动数 / 已开始的季度数",
    "participation": "本年至少签到参加过一次活动的人数 / 在册人数",
    "learning": "本年发布的学习材料的已学完人次 / 应学人次",
    "party_life": "本年已举办的主题党日、党课中党员的签到人次 / 应参加人次（每场活动 × 其范围内的党员人数）",
    "timely": "本年各季度的谈话中在谈话后 {late:g} 天内录入的条数 / 谈话条数",
    "bunched": "本年各季度的谈话中在季度最后 7 天（或季度结束后补录期内）录入的条数 / 谈话条数（越低越好）",
}


def pct(n: int, d: int) -> str:
    """"3/4（75%）", or "0/0（—）" when there is nothing to divide by."""
    return f"{n}/{d}（{n / d:.0%}）" if d else f"{n}/{d}（—）"


def category_label(cat: str) -> str:
    try:
        return CATEGORY_LABELS[Category(cat)]
    except ValueError:
        return cat


def kpi_definition(key: str, config: ConfigLike | None) -> str:
    """How an indicator is counted, with the configured SLA hours filled in."""
    late = config.get("talks.late_after_days", int) if config is not None else 7
    return _KPI_DEFINITIONS[key].format(urgent=ack_hours(config, "urgent"), watch=ack_hours(config, "watch"), late=late)


def funnel_rows(stages: list[FunnelStage]) -> list[tuple[str, int]]:
    return [(FUNNEL_LABELS[s.key], s.cases) for s in stages]


def age_rows(buckets: list[AgeBucket]) -> list[tuple[str, int]]:
    return [(AGE_LABELS[b.below_days], b.cases) for b in buckets]


def state_rows(states: dict[str, int]) -> list[tuple[str, int]]:
    """Every case state in flow order with its count (0 for states no case is in)."""
    return [(STATE_LABELS[s], states.get(s.value, 0)) for s in CaseState]
