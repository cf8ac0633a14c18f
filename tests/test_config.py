"""Settings: YAML plus environment overrides; a bad setting is one clear line naming the key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


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
])
def test_malformed_settings_name_the_key(env, key):
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "config.yaml", env=env).validate()
    assert key in str(err.value)


def test_missing_key_and_bad_yaml(tmp_path):
    cfg = load_config(ROOT / "config.yaml", env={})
    with pytest.raises(ConfigError, match="sla.nonexistent"):
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
