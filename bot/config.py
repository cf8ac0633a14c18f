"""Load config.yaml and apply environment overrides.

Why a small accessor instead of a big dataclass tree: every domain (talks, SLA, jobs) owns a
section, and helpers add keys often. `Config.get("sla.ack_urgent_hours", int)` validates the
type at the point of use and names the key in a one-line error, which is what an operator needs.
A key the file leaves out takes its value from bot/config_defaults.py (the one table of
defaults; call sites pass none); a key in neither is missing.
Environment rule: LIANXIN_<PATH>, path upper-cased and joined by "__" (LIANXIN_WECOM__TOKEN);
DATABASE_URL and REDIS_URL are accepted as shortcuts.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .config_defaults import DEFAULTS

__all__ = ["DEFAULT_CONFIG_PATH", "Config", "ConfigError", "load_config"]

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.yaml"
_MISSING = object()
_SHORTCUTS = {"DATABASE_URL": "database.url", "REDIS_URL": "redis.url"}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the key."""


def _coerce(value: Any, kind: type, key: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"setting {key}: expected true/false, got {value!r}")
    if kind is list:
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        raise ConfigError(f"setting {key}: expected a list, got {value!r}")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"setting {key}: expected a number, got {value!r}")
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {key}: expected a number, got {value!r}") from None
    if kind is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"setting {key}: expected text, got {type(value).__name__}")
        return "" if value is None else str(value)
    if kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"setting {key}: expected a section, got {value!r}")
        return value
    return value


class Config:
    """Read-only view over the merged settings."""

    def __init__(self, data: Mapping[str, Any], source: str = "<dict>") -> None:
        self._data = copy.deepcopy(dict(data))
        self.source = source

    def get(self, key: str, kind: type = str) -> Any:
        """The setting, else its default (None stays None: the caller derives it); missing: ConfigError."""
        node = self._find(key)
        if node is _MISSING:
            if key not in DEFAULTS:
                env = f"LIANXIN_{key.upper().replace('.', '__')}"
                raise ConfigError(f"setting {key} is missing (in {self.source} or {env})")
            node = copy.deepcopy(DEFAULTS[key])
            if node is None:
                return None
        return _coerce(node, kind, key)

    def section(self, key: str) -> dict[str, Any]:
        node = self._find(key)
        return {} if node is _MISSING else copy.deepcopy(_coerce(node, dict, key))

    def _find(self, key: str) -> Any:
        node: Any = self._data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        return node

    def with_overrides(self, overrides: Mapping[str, Any]) -> Config:
        """Return a copy with dotted keys replaced (used by tests and the demo)."""
        data = copy.deepcopy(self._data)
        for key, value in overrides.items():
            _set_path(data, key, value)
        return Config(data, self.source)

    # convenience accessors used everywhere
    @property
    def database_url(self) -> str:
        url = self.get("database.url")
        if not url:
            raise ConfigError("setting database.url is empty")
        return url

    @property
    def redis_url(self) -> str:
        return self.get("redis.url", str)

    @property
    def timezone(self) -> str:
        return self.get("timezone")

    def validate(self) -> Config:
        """Fail fast on the settings every process needs."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        _ = self.database_url
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"setting timezone: unknown time zone {self.timezone!r}") from None
        self.get("server.port", int)
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"setting redis.url: expected redis://host:port/db, got {self.redis_url!r}")
        if self.get("wecom.enabled", bool):
            for key in ("corp_id", "token", "encoding_aes_key"):
                if not self.get(f"wecom.{key}"):
                    raise ConfigError(f"setting wecom.{key} is empty but wecom.enabled is true")
            if len(self.get("wecom.encoding_aes_key")) != 43:
                raise ConfigError("setting wecom.encoding_aes_key must be exactly 43 characters")
            if not self.get("wecom.agent_id", int):
                raise ConfigError("setting wecom.agent_id is missing or 0 but wecom.enabled is true")
        return self


def _set_path(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"setting {key}: {part} is not a section")
    node[parts[-1]] = value


def _env_overrides(env: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, path in _SHORTCUTS.items():
        if env.get(name):
            out[path] = env[name]
    for name, value in env.items():
        if name.startswith("LIANXIN_") and ("__" in name[8:] or name[8:].lower() == "timezone"):
            path = name[8:].lower().replace("__", ".")
            out[path] = value
    return out


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the YAML file (LIANXIN_CONFIG or the packaged config.yaml) and apply env overrides."""
    env = os.environ if env is None else env
    path = Path(path or env.get("LIANXIN_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path}{where} is not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    for key, value in _env_overrides(env).items():
        _set_path(data, key, value)
    return Config(data, str(path))
