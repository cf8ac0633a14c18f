"""The layers hold: handlers/ never reaches a platform module; bot/ below bot/cli/ never reaches up.

Walks the import graph with `ast` (no module is executed): start from every module under
handlers/, follow imports of project modules (bot, handlers, models, scheduler), and fail if
any reachable module imports a platform adapter, a web blueprint or a platform library.
bot/cli/ is the composition root: the only part of bot/ that imports handlers and scheduler,
and nothing but entry points imports it.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("bot", "handlers", "models", "scheduler")
FORBIDDEN = ("bot.adapters", "bot.web", "wechatpy", "dingtalk_stream", "xmltodict", "requests", "flask",
             "alibabacloud_dingtalk", "lark_oapi")
# Known, platform-neutral exceptions (importer, module), not followed further. Keep this list short.
ALLOWED: set[tuple[str, str]] = set()


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports_of(name: str, path: Path) -> set[str]:
    """Absolute names imported by module `name` (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            found.add(mod)
            for alias in node.names:  # `from bot import adapters` imports a module too
                if module_file(f"{mod}.{alias.name}") is not None:
                    found.add(f"{mod}.{alias.name}")
    return found


def forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def modules_under(package: str) -> list[str]:
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for p in (ROOT / package).rglob("*.py"))


def handler_modules() -> list[str]:
    return modules_under("handlers")


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def platform_modules() -> list[str]:
    """bot/ below the composition root."""
    return [m for m in modules_under("bot") if not in_package(m, "bot.cli")]


def direct_imports(package_names: list[str], targets: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for name in package_names:
        path = module_file(name)
        hits = sorted(i for i in imports_of(name, path) if any(in_package(i, t) for t in targets)) if path else []
        if hits:
            found[name] = hits
    return found


def reachable_violations(start: str) -> list[tuple[str, str]]:
    """(importer, forbidden module) pairs reachable from `start`."""
    seen, stack, bad = set(), [start], []
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            continue
        for imported in imports_of(name, path):
            if (name, imported) in ALLOWED:
                continue
            if forbidden(imported):
                bad.append((name, imported))
            elif imported.split(".")[0] in PROJECT_PACKAGES:
                stack.append(imported)
    return bad


def test_handlers_exist_to_check():
    assert "handlers.common" in handler_modules() and "handlers.org" in handler_modules()


def test_no_handler_reaches_a_platform_module():
    problems = {m: reachable_violations(m) for m in handler_modules()}
    problems = {m: v for m, v in problems.items() if v}
    assert problems == {}, "handlers must not depend on platform code: " + repr(problems)


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The walk follows project imports: a helper that imports wechatpy is caught through it."""
    pkg = tmp_path / "handlers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text("from bot import helper\n")
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "__init__.py").write_text("")
    (tmp_path / "bot" / "helper.py").write_text("from .adapters.wecom_api import render_template_card\n")
    monkeypatch.setattr("tests.test_import_graph.ROOT", tmp_path)
    assert reachable_violations("handlers.x") == [("bot.helper", "bot.adapters.wecom_api")]


def test_only_the_composition_root_imports_handlers_and_scheduler():
    assert "bot.services" in platform_modules() and "bot.app" in platform_modules()
    assert direct_imports(platform_modules(), ("handlers", "scheduler")) == {}


def test_nothing_below_the_composition_root_imports_it():
    below = platform_modules() + handler_modules() + modules_under("models") + modules_under("scheduler")
    entry_points = {"scheduler.__main__"}  # `python -m scheduler` runs the command line
    assert direct_imports([m for m in below if m not in entry_points], ("bot.cli",)) == {}
