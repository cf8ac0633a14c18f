"""The pinned dependency set: constraints.txt covers pyproject, the README and CI use it, and the
CI audit step fails on a finding but never for being offline (pip-audit replaced by a stub)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith(("#", " ")):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line!r}"
            pins[_name(name)] = version.strip()
    return pins


def test_every_dependency_of_pyproject_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    pins = _pins()
    assert wanted - set(pins) == set()
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", v) for v in pins.values())


def test_readme_install_and_test_commands_use_the_constraints():
    readme = (ROOT / "README.md").read_text()
    for marker in ("demo-command", "test-command"):
        block = readme.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
        [command] = [line for line in block.splitlines() if line and not line.startswith("```")]
        assert "pip install -c constraints.txt -e " in command, command
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci and ".ci/audit-deps" in ci


def _audit(tmp_path, report: dict | None, rc: int) -> subprocess.CompletedProcess:
    """Run .ci/audit-deps with a stub pip-audit that writes `report` (or nothing) and exits `rc`."""
    stub = tmp_path / "pip-audit"
    body = f"cat > \"$out\" <<'J'\n{json.dumps(report)}\nJ\n" if report is not None else ""
    stub.write_text("#!/usr/bin/env bash\nwhile [ $# -gt 0 ]; do [ \"$1\" = -o ] && out=$2; shift; done\n"
                    f"{body}exit {rc}\n")
    stub.chmod(0o755)
    env = {**os.environ, "PIP_AUDIT": str(stub), "PYTHON": sys.executable}
    return subprocess.run([str(ROOT / ".ci" / "audit-deps")], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("report,rc,exit_code,line", [
    (None, 1, 0, "== pip-audit: skipped, vulnerability database unreachable (offline?; pip-audit exit 1)"),
    ({"dependencies": [{"name": "flask", "version": "3.1.3", "skip_reason": "Dependency not found on PyPI"}]}, 0, 0,
     "== pip-audit: skipped, vulnerability database unreachable (1 packages could not be looked up)"),
    ({"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": []}]}, 0, 0,
     "== pip-audit: no known vulnerabilities in 1 pinned packages"),
    ({"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": []},
                       {"name": "jinja2", "version": "2.10", "vulns": [{"id": "GHSA-x", "fix_versions": ["2.11.3"]}]}]},
     1, 1, "== pip-audit: 1 known vulnerabilities in constraints.txt"),
])
def test_audit_step_fails_only_on_a_finding(tmp_path, report, rc, exit_code, line):
    result = _audit(tmp_path, report, rc)
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == line
    if exit_code:
        assert "VULNERABLE jinja2==2.10: GHSA-x (fixed in: 2.11.3)" in result.stdout
