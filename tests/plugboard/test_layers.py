"""The floors of the house point one way (README, "Architecture"), read from the code's own imports.

`FLOORS` below is the one declaration of the floors, bottom to top; README draws the same list.
A module stands on the floor whose longest prefix names it, and imports only from its own floor
and the floors below it. Every import counts, at module level or inside a function, under
TYPE_CHECKING or not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("devices", "data", "commands", "outbound", "alerts")
FIRST_PARTY = ("plugboard", *APPS)

# The floors, bottom to top: (name, the module prefixes on it). `platform/` (imported as
# `plugboard`) is three of them: its kernel at the bottom, its accounts part above the
# authorization it asks, and everything else of it, the composition root, on top.
FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "kernel",  # the pure pieces every app builds on; it imports no app
        (
            "plugboard.cache",
            "plugboard.channels",
            "plugboard.credentials",
            "plugboard.errors",
            "plugboard.identifiers",
            "plugboard.live",
            "plugboard.logs",
            "plugboard.metrics",
            "plugboard.models",
            "plugboard.parsers",
            "plugboard.principals",
            "plugboard.property_dialect",
            "plugboard.ratelimits",
            "plugboard.schema",
            "plugboard.services",
            "plugboard.timestamps",
            "plugboard.views",
        ),
    ),
    ("devices", ("devices",)),  # plugs, properties, profiles, identity, authorization (access)
    ("accounts", ("plugboard.accounts",)),  # accounts, users, sub-accounts, API clients and keys
    ("data", ("data",)),
    ("commands", ("commands",)),
    ("outbound", ("outbound",)),
    ("alerts", ("alerts",)),
    ("composition root", ("plugboard",)),  # settings, URLs, ASGI, Celery, console, commands
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "platform":
        parts[0] = "plugboard"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found = {}
    for folder in ("platform", *APPS):
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


SOURCES = _sources()


def _imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, first-party module imported, inside a function?) for every import in the file."""
    tree = ast.parse(path.read_text())
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from plugboard import celery` imports the module plugboard.celery
            submodules = [
                f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in SOURCES
            ]
            names = submodules or [node.module]
        for name in names:
            if name.split(".")[0] in FIRST_PARTY:
                found.append((node.lineno, name, id(node) in in_function))
    return found


def _layer(module: str) -> int:
    """The floor `module` stands on: the one whose longest prefix names it (0 is the ground)."""
    best, floor = -1, -1
    for number, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, floor = len(prefix), number
    assert floor >= 0, f"{module} stands on no floor"
    return floor


def _known(name: str) -> str | None:
    """The source module an imported name refers to (a module, or a name in one)."""
    while name:
        if name in SOURCES:
            return name
        name = name.rpartition(".")[0]
    return None


def test_the_floors_name_real_modules() -> None:
    """Every prefix of the declaration names a module or a package that exists."""
    named = {prefix for _, prefixes in FLOORS for prefix in prefixes}
    missing = [p for p in named if not any(m == p or m.startswith(p + ".") for m in SOURCES)]
    assert not missing, sorted(missing)


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_imports_point_down(module: str) -> None:
    layer = _layer(module)
    upward = []
    for line, name, _ in _imports(SOURCES[module]):
        target = _known(name)
        if target is None or target == module or target.startswith(module + "."):
            continue
        if _layer(target) > layer:
            upward.append(f"{SOURCES[module].relative_to(ROOT)}:{line} imports {target}")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_an_import_inside_a_function_says_why(module: str) -> None:
    """Imports go at the top; one inside a function breaks a real cycle or waits for something
    (the app registry, Twisted's reactor), and a comment on it or just above says which."""
    lines = SOURCES[module].read_text().splitlines()
    silent = []
    for line, name, inside in _imports(SOURCES[module]):
        if not inside:
            continue
        # The import's own line, or the comment above the run of imports it belongs to.
        above = line - 1
        while above > 0 and lines[above - 1].strip().startswith(("from ", "import ")):
            above -= 1
        said = "#" in lines[line - 1] or (above > 0 and lines[above - 1].strip().startswith("#"))
        if not said:
            silent.append(f"{SOURCES[module].relative_to(ROOT)}:{line} imports {name}")
    assert not silent, "imports inside functions without a reason:\n" + "\n".join(silent)


def test_the_layer_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself: an app module importing a higher app is reported."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from commands.models import Command\n")
    ((_, name, inside),) = _imports(probe)  # one import, named once
    assert (name, inside) == ("commands.models", True)
    assert _layer("devices.models") < _layer(_known(name) or "")
    assert _layer("plugboard.identifiers") < _layer("devices.access") < _layer("plugboard.accounts")
    assert _layer("plugboard.accounts") < _layer("plugboard.urls")
