"""The approval chain of a care request: a declared table in config (`care.approval_chain`), not code.

Each rule may name an organisation (`org`: a unit full-name prefix), a `type` (or a list), an
amount range (`min_amount`, `max_amount`, yuan; a rule with an amount bound needs an amount) and
`youth` (团员 / under 35); the first rule that matches gives the `levels`, approved in order, each
a role (secretary 支部书记, committee 党委, union 工会, youth 团委). No rule matches: the committee.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config, ConfigError
from models.case import CARE_TYPES
from models.enums import ROLE_LABELS, ROLE_NAMES, Role

__all__ = ["DEFAULT_LEVELS", "LEVEL_LABELS", "Rule", "levels_for", "load_rules", "uses_youth"]

DEFAULT_LEVELS = (Role.COMMITTEE,)
LEVEL_LABELS = {Role.SECRETARY: "支部书记", Role.COMMITTEE: "党委", Role.UNION: "工会", Role.YOUTH: "团委"}


@dataclass(frozen=True)
class Rule:
    levels: tuple[Role, ...]
    types: tuple[str, ...] = ()
    org: str = ""
    min_amount: int | None = None
    max_amount: int | None = None
    youth: bool | None = None

    def matches(self, *, care_type: str, amount: int | None, youth: bool, unit_name: str) -> bool:
        if self.types and care_type not in self.types:
            return False
        if self.org and not (unit_name == self.org or unit_name.startswith(self.org + "/")):
            return False
        if self.youth is not None and self.youth != youth:
            return False
        if self.min_amount is not None and (amount is None or amount < self.min_amount):
            return False
        return not (self.max_amount is not None and (amount is None or amount > self.max_amount))


def _rule(n: int, raw: object) -> Rule:
    where = f"care.approval_chain[{n}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"setting {where}: expected a mapping with levels")
    unknown = set(raw) - {"levels", "type", "org", "min_amount", "max_amount", "youth"}
    if unknown:
        raise ConfigError(f"setting {where}: unknown keys {sorted(unknown)}")
    levels = []
    for word in raw.get("levels") or []:
        role = ROLE_NAMES.get(str(word)) or ROLE_NAMES.get(str(word).lower())
        if role not in LEVEL_LABELS:
            raise ConfigError(f"setting {where}.levels: {word!r} is not an approver role ({', '.join(LEVEL_LABELS)})")
        levels.append(role)
    if not levels:
        raise ConfigError(f"setting {where}: levels must name at least one approver role")
    types = raw.get("type") or ()
    types = (types,) if isinstance(types, str) else tuple(types)
    for t in types:
        if t not in CARE_TYPES:
            raise ConfigError(f"setting {where}.type: {t!r} is not one of {', '.join(CARE_TYPES)}")
    amounts = {}
    for key in ("min_amount", "max_amount"):
        if raw.get(key) is not None:
            if isinstance(raw[key], bool) or not isinstance(raw[key], int):
                raise ConfigError(f"setting {where}.{key}: expected a whole number of yuan")
            amounts[key] = raw[key]
    youth = raw.get("youth")
    if youth is not None and not isinstance(youth, bool):
        raise ConfigError(f"setting {where}.youth: expected true/false")
    return Rule(tuple(levels), types, str(raw.get("org") or ""), amounts.get("min_amount"),
                amounts.get("max_amount"), youth)


def load_rules(config: Config) -> tuple[Rule, ...]:
    raw = config.get("care.approval_chain", list) or []
    return tuple(_rule(n, r) for n, r in enumerate(raw))


def levels_for(config: Config, *, care_type: str, amount: int | None, youth: bool,
               unit_name: str) -> tuple[Role, ...]:
    for rule in load_rules(config):
        if rule.matches(care_type=care_type, amount=amount, youth=youth, unit_name=unit_name):
            return rule.levels
    return DEFAULT_LEVELS


def uses_youth(config: Config) -> bool:
    """Ask "团员或35岁以下青年？" only when some rule routes on it."""
    return any(r.youth is not None for r in load_rules(config))


def chain_text(levels: tuple[Role, ...]) -> str:
    return " → ".join(LEVEL_LABELS.get(r, ROLE_LABELS[r]) for r in levels)
