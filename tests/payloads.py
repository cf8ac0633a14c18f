"""Recorded platform payloads (tests/fixtures/): the vendors' documented samples, filled in per test.

A test names a sample and the fields it cares about (user, text, button key…); ids and times get
fresh values, everything else stays as the vendor documents it.
"""
from __future__ import annotations

import itertools
import json
import re
import time
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_ids = itertools.count(int(time.time() * 1000))


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def wecom_sample(name: str) -> str:
    """tests/fixtures/wecom/<name>.xml exactly as documented."""
    return _read(FIXTURES / "wecom" / f"{name}.xml")


def wecom_xml(name: str, *, omit: tuple[str, ...] = (), **fields: Any) -> str:
    """tests/fixtures/wecom/<name>.xml with each named element set to its value.

    Values go in verbatim (inside CDATA where the sample has it: text holding "]]>" must be split
    by the caller, as WeCom does). MsgId and CreateTime get a fresh id and the current time unless
    given. A field the sample does not have is an error, so a misspelt one cannot pass silently.
    `omit` drops elements (e.g. SelectedItems for a plain button click).
    """
    xml = wecom_sample(name)
    values: dict[str, Any] = {}
    if "<MsgId>" in xml:
        values["MsgId"] = next(_ids)
    if "<CreateTime>" in xml:
        values["CreateTime"] = int(time.time())
    values.update(fields)
    for tag in values:
        if xml.count(f"<{tag}>") != 1:
            raise KeyError(f"{name}.xml has no single <{tag}> element")
    alternatives = "|".join(re.escape(tag) for tag in values)
    pattern = re.compile(rf"<({alternatives})>(<!\[CDATA\[.*?\]\]>|[^<]*)</\1>", re.S)

    def put(match: re.Match[str]) -> str:
        tag, old = match.group(1), match.group(2)
        value = str(values[tag])
        return f"<{tag}><![CDATA[{value}]]></{tag}>" if old.startswith("<![CDATA[") else f"<{tag}>{value}</{tag}>"

    xml = pattern.sub(put, xml)          # one pass: a value is never searched again
    for tag in omit:
        xml, n = re.subn(rf"\s*<{tag}>.*?</{tag}>", "", xml, count=1, flags=re.S)
        if n != 1:
            raise KeyError(f"{name}.xml has no <{tag}> element to omit")
    return xml


def dingtalk_json(name: str, **fields: Any) -> dict[str, Any]:
    """tests/fixtures/dingtalk/<name>.json as a dict with `fields` replaced (each must be in the sample)."""
    body = json.loads(_read(FIXTURES / "dingtalk" / f"{name}.json"))
    unknown = set(fields) - set(body)
    if unknown:
        raise KeyError(f"{name}.json has no field(s) {sorted(unknown)}")
    body.update(fields)
    return body


def next_id() -> int:
    """A fresh message id (unique within the test run)."""
    return next(_ids)
