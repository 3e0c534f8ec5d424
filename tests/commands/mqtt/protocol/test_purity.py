"""The protocol core is sans-I/O: importing it loads neither Django, nor Channels, nor asyncio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]

PROBE = """
import json, sys
import commands.mqtt.protocol.connection
import commands.mqtt.protocol.packets
import commands.mqtt.protocol.topics
print(json.dumps(sorted(sys.modules)))
"""


def test_the_protocol_package_imports_no_framework_and_no_event_loop() -> None:
    # A fresh interpreter: this one has long since imported Django for the other tests.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(done.stdout)
    assert "commands.mqtt.protocol.topics" in loaded  # the probe did import the package
    forbidden = [name for name in loaded if name.split(".")[0] in ("django", "channels", "asyncio")]
    assert forbidden == []
