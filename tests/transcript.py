"""Transcript assertions: a conversation written as (user, message, expected reply) lines, compared whole.

Where the wording is the point, a test states every reply in full; on a mismatch it prints the
whole conversation, expected and actual side by side, and a line diff of each reply that differs.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Press:
    """A button press in a transcript: its text (or key), on `card` or on the user's latest card."""

    button: str
    card: Any = None


def _text(out: Any) -> str:
    return out if isinstance(out, str) else out.text


def transcript(driver: Any, steps: list[tuple[str, str | Press, str]]) -> None:
    """Play `steps` through `driver` (anything with say(user, text) and press(user, button, card=)),
    then fail, with a readable diff, unless every reply equals its expected text exactly."""
    __tracebackhide__ = True
    played = []
    for user, message, expected in steps:
        if isinstance(message, Press):
            out = driver.press(user, message.button, card=message.card)
            said = f"[{message.button}]"
        else:
            out = driver.say(user, message)
            said = message
        played.append((user, said, expected, _text(out)))
    if all(expected == actual for _, _, expected, actual in played):
        return
    lines = []
    for n, (user, said, expected, actual) in enumerate(played, 1):
        mark = "  " if expected == actual else "✗ "
        lines.append(f"{mark}{n}. {user}: {said}")
        if expected == actual:
            lines.append("     " + actual.replace("\n", "\n     "))
            continue
        diff = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(), "expected", "actual",
                                         lineterm="", n=2))
        lines.extend("     " + d for d in diff or ["expected " + repr(expected), "actual   " + repr(actual)])
    raise AssertionError("the conversation went differently:\n" + "\n".join(lines))
