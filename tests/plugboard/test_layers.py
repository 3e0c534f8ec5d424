"""The layers of the house point one way (README, "Layout"), read from the code's own imports.

    composition root   plugboard.{settings, urls, asgi, celery, authentication, console, …}
          ↓ imports anything below
    alerts              alerts, incidents, device activity
          ↓
    outbound            the durable outbox, data connectors, MQTT mirroring
          ↓
    commands            MQTT, command delivery
          ↓
    data                data points, journal, the write service, both dialects' data APIs
          ↓
    devices             plugs, properties, identity, the one authorization module
          ↓
    kernel              plugboard.{identifiers, timestamps, channels, live, errors, …}

Every import counts, at module level or inside a function, under TYPE_CHECKING or not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("devices", "data", "commands", "outbound", "alerts")  # bottom to top
FIRST_PARTY = ("plugboard", *APPS)

# The part of `plugboard` the apps may import: it imports no app itself.
KERNEL = frozenset(
    {
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
    }
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
    """0 kernel, 1 devices, 2 data, 3 commands, 4 outbound, 5 alerts, 6 composition root."""
    top = module.split(".")[0]
    if top in APPS:
        return 1 + APPS.index(top)
    return 0 if module in KERNEL else 1 + len(APPS)


def _known(name: str) -> str | None:
    """The source module an imported name refers to (a module, or a name in one)."""
    while name:
        if name in SOURCES:
            return name
        name = name.rpartition(".")[0]
    return None


def test_the_kernel_list_names_real_modules() -> None:
    assert set(SOURCES) >= KERNEL, sorted(KERNEL - set(SOURCES))


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_imports_point_down(module: str) -> None:
    layer = _layer(module)
    upward = []
    for line, name, _ in _imports(SOURCES[module]):
        target = _known(name)
        if target is None or target == module or target.startswith(module + "."):
            continue
        if _layer(target) > layer or (layer == 0 and _layer(target) != 0):
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
