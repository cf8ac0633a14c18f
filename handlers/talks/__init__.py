"""Talks and home visits (谈心谈话/走访): dialog, one-line form, edits, coverage, audited reading."""
from __future__ import annotations

from .commands import router

__all__ = ["router"]
