"""Number arguments of typed commands, parsed in one place with bounds (a row id fits a 32-bit column).

`报名 99999999999999999999999` must be answered "没有编号为 … 的活动", not overflow in the database
driver; `报名 ²` or `报名 -3` must not reach `int()` or a query either. Full-width digits (typed by
Chinese input methods) are accepted, so are a leading "#" / "＃" / "第" and a trailing "号".
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .context import Context

__all__ = ["MAX_ID", "load_numbered", "not_found", "parse_item_number", "split_item_number"]

M = TypeVar("M")

MAX_ID = 2**31 - 1          # the largest value of the INTEGER primary keys on PostgreSQL and SQLite

_DIGITS = "0123456789０１２３４５６７８９"
_NUMBER = re.compile(rf"^[#＃]?\s*第?\s*([{_DIGITS}]+)\s*号?$")
_LEADING = re.compile(rf"^[#＃]?\s*第?\s*([{_DIGITS}]+)\s*号?\s*(.*)$", re.S)
_TO_ASCII = str.maketrans("０１２３４５６７８９", "0123456789")


def _bounded(digits: str) -> int | None:
    digits = digits.translate(_TO_ASCII).lstrip("0") or "0"
    if len(digits) > len(str(MAX_ID)):
        return None                      # never build a huge int from a hostile string
    n = int(digits)
    return n if 1 <= n <= MAX_ID else None


def parse_item_number(text: str) -> int | None:
    """The item number in `text` ("12", "#12", "１２", "第12号"), or None (garbage, 0, negative, too large)."""
    m = _NUMBER.match(text.strip())
    return _bounded(m.group(1)) if m else None


def split_item_number(text: str) -> tuple[int | None, str, str]:
    """("12 内容" →) (12, "内容", "12"): the leading number if bounded, the rest, and the number as typed.

    A leading number out of range gives (None, rest, typed) so the caller can say "没有编号为 typed 的…";
    no leading number at all gives (None, text, "")."""
    m = _LEADING.match(text.strip())
    if not m:
        return None, text.strip(), ""
    return _bounded(m.group(1)), m.group(2).strip(), m.group(1)[:24]


def not_found(noun: str, typed: str, hint: str = "") -> str:
    """The one answer for a number that names nothing: "没有编号为 N 的活动。…"."""
    shown = typed if len(typed) <= 12 else typed[:12] + "…"
    return f"没有编号为 {shown} 的{noun}。{hint}".rstrip()


def load_numbered(ctx: Context, model: type[M], text: str, *, noun: str, ask: str, hint: str = "") -> tuple[M | None, str]:
    """The row numbered at the start of `text` (None once the sender is told why) and the rest: every "命令 N" alike."""
    number, rest, typed = split_item_number(text)
    if not typed:
        ctx.reply(ask)
        return None, rest
    row = ctx.db.get(model, number) if number is not None else None
    if row is None:
        ctx.reply(not_found(noun, typed, hint))
    return row, rest
