"""`manage.py demo` (what `make run` prints): the credentials as JSON and as export lines, and
the README's examples filled in with them — the same examples the README shows."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from plugboard.management.commands.demo import EXAMPLES

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.django_db


def _demo(*args: str) -> tuple[dict, dict[str, str], str]:
    out = StringIO()
    call_command("demo", *args, stdout=out)
    text = out.getvalue()
    document, rest = text.split("\n}\n", 1)
    credentials = json.loads(document + "\n}")
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", rest, re.MULTILINE))
    examples, console = rest.split("filled in (server at", 1)[1].split("\n", 1)[1].split("\n# The console: ")
    assert console.startswith("http://") and credentials["account"]["email"] in console
    return credentials, exports, examples


def _readme_examples() -> str:
    section = README.read_text().split("\n## Examples\n", 1)[1]
    return section.split("```sh\n", 1)[1].split("```\n", 1)[0]


def test_the_readme_shows_the_examples_demo_prints() -> None:
    assert _readme_examples() == EXAMPLES


def test_credentials_as_json_exports_and_filled_in_examples() -> None:
    credentials, exports, examples = _demo()
    device, account = credentials["device"], credentials["account"]
    assert exports == {
        "EMAIL": account["email"],
        "PASSWORD": account["password"],
        "DEV": device["id"],
        "AUTH": device["auth"],
    }
    expected = _readme_examples()
    for name in ("PASSWORD", "EMAIL", "AUTH", "DEV"):
        expected = expected.replace(f"${name}", exports[name])
    assert examples.rstrip("\n") == expected.rstrip("\n")
    assert "$" not in examples.replace("$this", "")  # nothing left to fill in


def test_the_examples_follow_the_host_and_ports() -> None:
    _, exports, examples = _demo("--host", "0.0.0.0", "--port", "9000", "--mqtt-port", "11883")  # noqa: S104
    assert "http://127.0.0.1:9000/v3/devices/" in examples and "8000" not in examples
    assert f"mosquitto_pub -p 11883 -i {exports['DEV']}" in examples and "1884" not in examples
    assert "hostname='127.0.0.1', port=11883" in examples


def test_the_console_address_comes_last_with_the_credentials() -> None:
    out = StringIO()
    call_command("demo", "--port", "9000", stdout=out)
    last = out.getvalue().rstrip("\n").rsplit("\n", 1)[1]
    assert last.startswith("# The console: http://127.0.0.1:9000/console/ (sign in with demo@")
    assert last.endswith("/ demo-password)")


def test_run_twice_the_same_credentials() -> None:
    first, _, _ = _demo()
    second, _, _ = _demo()
    assert first == second
