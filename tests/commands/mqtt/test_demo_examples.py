"""The examples `make run` prints (the README's, filled in by `manage.py demo`) run as printed,
with curl, mosquitto_pub/_sub and paho, against a real `manage.py serve`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from commands.models import Command
from data.models import DataPoint, JournalEntry
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (shutil.which("curl") and shutil.which("mosquitto_pub") and shutil.which("mosquitto_sub")),
        reason="curl and the mosquitto clients run the examples",
    ),
]


def test_the_printed_examples_run_as_printed(server: Any, tmp_path: Path) -> None:
    out = StringIO()
    call_command("demo", "--port", str(server.http_port), "--mqtt-port", str(server.mqtt_port), stdout=out)
    block = out.getvalue().split("filled in (server at", 1)[1].split("\n", 1)[1]
    script = tmp_path / "examples.sh"
    script.write_text("set -e\n" + block)
    output = tmp_path / "output.txt"
    with output.open("wb") as sink:
        # Its own process group: the backgrounded mosquitto_sub is stopped with it.
        shell = subprocess.Popen(  # noqa: S603
            ["bash", str(script)], cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            assert shell.wait(timeout=60) == 0, output.read_text()
            # The backgrounded mosquitto_sub receives the command the last curl lines sent.
            assert wait_for(_got_command, timeout=20), output.read_text()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGTERM)
    text = output.read_text()
    assert '"code":4' not in text and '"code":5' not in text, text  # no error body from any curl
    assert DataPoint.objects.get(channel="home/kitchen/temp").data == 21.5
    temperatures = sorted(DataPoint.objects.filter(channel="temperature").values_list("data", flat=True))
    assert temperatures[:2] == [20.5, 21] and 22.0 in temperatures
    # mosquitto_pub and paho each published once (the journal keeps both, even in one millisecond).
    assert JournalEntry.objects.filter(channel="temperature", source="mqtt-tcp", event="data").count() == 2
    assert DataPoint.objects.get(channel="setpoint").data == 19
    assert Command.objects.filter(property="setpoint").exists()


def _got_command() -> bool:
    return Command.objects.filter(property="setpoint", state__in=["sent", "acked"]).exists()
