"""SLA hours per case state, read from config `sla.*`: one lookup for the reminder job, the overdue count and the KPI."""
from __future__ import annotations

from typing import Any, Protocol

from .case import CaseState

__all__ = ["SLA_DEFAULTS", "ConfigLike", "ack_hours", "allowed_hours", "escalate_after_hours", "sla_hours"]

S = CaseState

# hours used when config.yaml leaves a key out (config.yaml lists the same values)
SLA_DEFAULTS: dict[str, float] = {
    "ack_urgent_hours": 4, "ack_watch_hours": 48, "approval_hours": 72, "helper_assign_hours": 48,
    "progress_hours": 168, "escalate_after_reminder_hours": 24,
}


class ConfigLike(Protocol):
    """What the lookup needs of bot.config.Config (models do not import bot)."""

    def get(self, key: str, kind: type = ...) -> Any: ...


def sla_hours(config: ConfigLike | None, name: str) -> float:
    """Config `sla.<name>`, or its default (also without a config, e.g. a report run from a script)."""
    default = SLA_DEFAULTS[name]
    return config.get(f"sla.{name}", float) if config is not None else default


def ack_hours(config: ConfigLike | None, flag: str | None) -> float:
    """Hours a flagged talk's case may stay "reported": urgent flags get the short limit."""
    return sla_hours(config, "ack_urgent_hours" if flag == "urgent" else "ack_watch_hours")


def allowed_hours(config: ConfigLike | None, state: str, flag: str | None) -> float | None:
    """Hours a case may stay in `state` before its holder is reminded (None: no SLA in that state)."""
    s = S(state)
    if s is S.REPORTED:
        return ack_hours(config, flag)
    if s is S.CARE_REQUESTED:
        return sla_hours(config, "approval_hours")
    if s is S.APPROVED:
        return sla_hours(config, "helper_assign_hours")
    if s in (S.HELPER_ASSIGNED, S.IN_PROGRESS):
        return sla_hours(config, "progress_hours")
    return None


def escalate_after_hours(config: ConfigLike | None) -> float:
    """Hours after the reminder before one level up is told."""
    return sla_hours(config, "escalate_after_reminder_hours")
