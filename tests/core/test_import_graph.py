"""The layers hold, checked on the import graph (`ast`, no module is executed).

- handlers/ never reaches a platform adapter, web blueprint or platform library, nor bot.outbox directly;
- bot/ below bot/cli/ never reaches up: bot/cli/ is the composition root, the only part of bot/ that
  imports handlers and scheduler, and nothing but entry points imports it;
- models/ (the bottom layer): nothing of the project but models; roster/ and reports/: models only,
  never handlers, bot, the scheduler, or each other;
- no import cycle between files at load time anywhere, and none at all inside models/roster/reports.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT_PACKAGES = ("bot", "handlers", "models", "reports", "roster", "scheduler")
FORBIDDEN = ("bot.adapters", "bot.web", "wechatpy", "dingtalk_stream", "xmltodict", "requests", "flask",
             "alibabacloud_dingtalk", "lark_oapi")
# Known, platform-neutral exceptions (importer, module), not followed further. Keep this list short.
ALLOWED: set[tuple[str, str]] = set()
# Card and outbox mechanics stay behind ctx (bot.context, bot.card_refs): a handler module never
# imports them itself. The outbox admin commands (死信/重发) are about the outbox itself.
FORBIDDEN_DIRECT = ("bot.outbox",)
ALLOWED_DIRECT: set[tuple[str, str]] = {("handlers.admin_outbox", "bot.outbox")}


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports_of(name: str, path: Path, *, at_load: bool = False) -> set[str]:
    """Absolute names imported by module `name` (relative imports resolved); `at_load`: only the
    module-level imports that run when it is loaded (not in functions, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    nodes = ([n for n in tree.body if not (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))]
             if at_load else ast.walk(tree))
    for node in nodes:
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


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in prefixes)


def forbidden(name: str) -> bool:
    return _under(name, FORBIDDEN)


def package_modules(package: str) -> list[str]:
    """Every module of a top-level package (Alembic's migrations excluded: they are scripts, not imports)."""
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def handler_modules() -> list[str]:
    return package_modules("handlers")


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def platform_modules() -> list[str]:
    """bot/ below the composition root."""
    return [m for m in package_modules("bot") if not in_package(m, "bot.cli")]


def direct_imports(package_names: list[str], targets: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for name in package_names:
        path = module_file(name)
        hits = sorted(i for i in imports_of(name, path) if any(in_package(i, t) for t in targets)) if path else []
        if hits:
            found[name] = hits
    return found


# what a lower layer must not reach (besides the platform libraries of FORBIDDEN)
LOWER_LAYERS = {
    "models": ("bot", "handlers", "reports", "roster", "scheduler"),
    "roster": ("bot", "handlers", "reports", "scheduler"),
    "reports": ("bot", "handlers", "roster", "scheduler"),
}


def reachable_violations(start: str, banned: tuple[str, ...] = FORBIDDEN) -> list[tuple[str, str]]:
    """(importer, banned module) pairs reachable from `start`."""
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
            if _under(imported, banned):
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


def test_no_handler_writes_outbox_rows_itself():
    problems = {(m, i) for m in handler_modules() for i in imports_of(m, module_file(m))
                if any(i == f or i.startswith(f + ".") for f in FORBIDDEN_DIRECT)} - ALLOWED_DIRECT
    assert problems == set(), "use ctx.notify / ctx.broadcast / ctx.update_card_for_others: " + repr(problems)


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The walk follows project imports: a helper that imports wechatpy is caught through it."""
    pkg = tmp_path / "handlers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text("from bot import helper\n")
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "__init__.py").write_text("")
    (tmp_path / "bot" / "helper.py").write_text("from .adapters.wecom_api import render_template_card\n")
    monkeypatch.setattr("tests.core.test_import_graph.ROOT", tmp_path)
    assert reachable_violations("handlers.x") == [("bot.helper", "bot.adapters.wecom_api")]



def test_no_import_cycle_between_files():
    """A file never needs another that needs it back (imports at load time, TYPE_CHECKING aside)."""
    assert import_cycles(PROJECT_PACKAGES, at_load=True) == []


@pytest.mark.parametrize("package", sorted(LOWER_LAYERS))
def test_lower_layers_import_only_what_is_below_them(package):
    banned = FORBIDDEN + LOWER_LAYERS[package]
    problems = {m: v for m in package_modules(package) if (v := reachable_violations(m, banned))}
    assert problems == {}, f"{package} must not depend on {banned}: " + repr(problems)


def import_cycles(packages: tuple[str, ...], *, at_load: bool = False) -> list[list[str]]:
    """Cycles (as module lists) in the import graph restricted to `packages` (Tarjan's strongly connected components).

    A module importing its own parent package is no cycle (`from . import x` loads the parent first)."""
    graph = {m: sorted(i for i in imports_of(m, module_file(m), at_load=at_load)
                       if _under(i, packages) and module_file(i) is not None and i != m and not m.startswith(i + "."))
             for p in packages for m in package_modules(p)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles_in_models_roster_reports():
    assert import_cycles(("models", "reports", "roster")) == []


def test_the_cycle_check_sees_a_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "reports"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("from reports import a\n")
    monkeypatch.setattr("tests.core.test_import_graph.ROOT", tmp_path)
    assert import_cycles(("reports",)) == [["reports.a", "reports.b"]]


def test_the_layer_check_sees_reports_reaching_handlers(tmp_path, monkeypatch):
    for pkg in ("reports", "models", "handlers"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "reports" / "q.py").write_text("from models import m\n")
    (tmp_path / "models" / "m.py").write_text("from handlers import h\n")
    (tmp_path / "handlers" / "h.py").write_text("")
    monkeypatch.setattr("tests.core.test_import_graph.ROOT", tmp_path)
    found = reachable_violations("reports.q", FORBIDDEN + LOWER_LAYERS["reports"])
    assert sorted(found) == [("models.m", "handlers"), ("models.m", "handlers.h")]

def test_only_the_composition_root_imports_handlers_and_scheduler():
    assert "bot.services" in platform_modules() and "bot.app" in platform_modules()
    assert direct_imports(platform_modules(), ("handlers", "scheduler")) == {}


def test_nothing_below_the_composition_root_imports_it():
    below = (platform_modules() + handler_modules() + package_modules("models") + package_modules("reports")
             + package_modules("roster") + package_modules("scheduler"))
    entry_points = {"scheduler.__main__"}  # `python -m scheduler` runs the command line
    assert direct_imports([m for m in below if m not in entry_points], ("bot.cli",)) == {}
