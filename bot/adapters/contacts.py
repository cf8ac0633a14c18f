"""What the WeCom and DingTalk contact syncs share: their error type and the department-tree walk."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SyncError", "TreeProblem", "dept_chains"]


class SyncError(Exception):
    """A platform's contacts could not be read (API error, permissions, network)."""


@dataclass(frozen=True)
class TreeProblem:
    dept_id: int
    walked: list[int]             # the departments walked from dept_id upwards before the problem showed
    missing_parent: int | None    # the parent outside the synced tree; None: the walk ran into a cycle


def dept_chains(departments: dict[int, dict[str, Any]], root: int,
                parent_key: str) -> tuple[dict[int, list[int]], list[TreeProblem]]:
    """dept id → chain of dept ids from `root` down to it; departments on a cycle or below an unknown parent are problems."""
    chains: dict[int, list[int]] = {}
    problems: list[TreeProblem] = []
    for dept_id in sorted(departments):
        chain: list[int] = []
        cur, seen = dept_id, set()
        while True:
            if cur in seen:
                problems.append(TreeProblem(dept_id, chain, None))
                break
            seen.add(cur)
            chain.append(cur)
            if cur == root:
                chains[dept_id] = list(reversed(chain))
                break
            parent = departments[cur][parent_key]
            if parent not in departments:
                problems.append(TreeProblem(dept_id, chain, parent))
                break
            cur = parent
    return chains, problems
