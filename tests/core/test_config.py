"""Settings: YAML plus environment overrides; a bad setting is one clear line naming the key."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import _MISSING, Config, ConfigError, load_config
from bot.config_defaults import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent.parent


def test_env_overrides_follow_the_naming_rule(tmp_path):
    cfg = load_config(ROOT / "config.yaml", env={
        "LIANXIN_WECOM__TOKEN": "tok", "LIANXIN_SERVER__PORT": "9001", "DATABASE_URL": "sqlite:///x.db",
        "REDIS_URL": "redis://127.0.0.1:6379/3", "LIANXIN_SLA__ACK_URGENT_HOURS": "2"})
    assert cfg.get("wecom.token") == "tok"
    assert cfg.get("server.port", int) == 9001
    assert cfg.database_url == "sqlite:///x.db"
    assert cfg.redis_url == "redis://127.0.0.1:6379/3"
    assert cfg.get("sla.ack_urgent_hours", int) == 2


@pytest.mark.parametrize("env, key", [
    ({"LIANXIN_SERVER__PORT": "eighty"}, "server.port"),
    ({"LIANXIN_WECOM__ENCODING_AES_KEY": "short"}, "wecom.encoding_aes_key"),
    ({"LIANXIN_WECOM__TOKEN": ""}, "wecom.token"),
    ({"REDIS_URL": "localhost:6379"}, "redis.url"),
    ({"LIANXIN_TIMEZONE": "Mars/Olympus"}, "timezone"),
    ({"LIANXIN_WECOM__AGENT_ID": "0"}, "wecom.agent_id"),
])
def test_malformed_settings_name_the_key(env, key):
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "config.yaml", env=env).validate()
    assert key in str(err.value)


def test_missing_key_and_bad_yaml(tmp_path):
    cfg = load_config(ROOT / "config.yaml", env={})
    with pytest.raises(ConfigError, match=r"sla\.nonexistent"):
        cfg.get("sla.nonexistent", int)
    bad = tmp_path / "bad.yaml"
    bad.write_text("database: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, env={})


def test_cli_reports_a_bad_setting_in_one_line_without_traceback(tmp_path):
    exe = Path(sys.executable).parent / "lianxin"
    proc = subprocess.run([str(exe), "init-db"], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "LIANXIN_SERVER__PORT": "eighty", "HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert "server.port" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# one table of defaults --------------------------------------------------------------------------

SOURCE_PACKAGES = ("bot", "handlers", "models", "scheduler")
# config.yaml's own choices: the demo WeCom app and its jobs, a local public URL
SHIPPED_DIFFERENTLY = {"wecom.enabled", "wecom.corp_id", "wecom.agent_id", "wecom.api_base", "server.public_url",
                       "scheduler.jobs"}


def _config_reads() -> list[tuple[str, int, ast.Call]]:
    """Every `<x>.get("a.b", kind, ...)` call in the code (dict.get takes no kind)."""
    found = []
    for package in SOURCE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                        and len(node.args) >= 2 and isinstance(node.args[1], ast.Name)
                        and node.args[1].id in ("str", "int", "float", "bool", "list", "dict")):
                    found.append((str(path.relative_to(ROOT)), node.lineno, node))
    return found


def test_a_left_out_key_takes_the_table_default_and_an_unknown_one_is_missing():
    cfg = Config({"database": {"url": "sqlite://"}}, "site.yaml")
    assert cfg.get("delivery.platforms", list) == ["wecom"]
    assert cfg.get("outbox.max_attempts", int) == 8 and cfg.get("sla.progress_hours", float) == 168
    cfg.get("delivery.platforms", list).append("sim")  # a caller's change does not leak into the table
    assert cfg.get("delivery.platforms", list) == ["wecom"] and DEFAULTS["delivery.platforms"] == ["wecom"]
    with pytest.raises(ConfigError) as err:
        cfg.get("wecom.token")
    assert str(err.value) == "setting wecom.token is missing (in site.yaml or LIANXIN_WECOM__TOKEN)"


def test_no_call_site_passes_its_own_default():
    with_default = [f"{path}:{line}" for path, line, call in _config_reads() if len(call.args) > 2 or call.keywords]
    assert with_default == [], "defaults belong in bot/config_defaults.py"


def test_every_key_read_is_shipped_or_has_a_default():
    shipped = load_config(ROOT / "config.yaml", env={})
    keys = {call.args[0].value for _, _, call in _config_reads()
            if isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)}
    assert len(keys) > 50
    unknown = sorted(k for k in keys if k not in DEFAULTS and shipped._find(k) is _MISSING)
    assert unknown == []


def test_the_shipped_file_agrees_with_the_table():
    shipped = load_config(ROOT / "config.yaml", env={})
    differ = {k for k, v in DEFAULTS.items() if shipped._find(k) not in (_MISSING, v)}
    assert differ == SHIPPED_DIFFERENTLY
