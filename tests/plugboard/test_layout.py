"""SPEC §1: `platform/` is imported as `plugboard` and never shadows the standard library."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_platform_from_repo_root_is_the_standard_library() -> None:
    out = _run("import platform; print(platform.system()); print(platform.__file__)", ROOT)
    system, path = out.splitlines()
    assert system
    assert not path.startswith(str(ROOT))


def test_import_platform_on_the_servers_import_path_is_the_standard_library() -> None:
    # Django loaded as the server loads it (settings, apps, ASGI application), then `platform`.
    code = (
        "import os, sys; sys.path.insert(0, '.');"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'plugboard.settings');"
        "import django; django.setup(); import plugboard.asgi;"
        "import platform, uuid; print(platform.system()); print(platform.__file__)"
    )
    system, path = _run(code, ROOT).splitlines()
    assert system
    assert not path.startswith(str(ROOT))


def test_plugboard_is_the_platform_folder() -> None:
    out = _run("import plugboard.settings as s; print(s.__file__)", ROOT)
    assert out == str(ROOT / "platform" / "settings.py")


def test_platform_folder_has_no_init() -> None:
    assert not (ROOT / "platform" / "__init__.py").exists()
