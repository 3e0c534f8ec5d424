"""SPEC §2, §10: `manage.py serve` brings the embedded platform up; a taken port is one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["PLUGBOARD_VAR_DIR"] = str(tmp_path / "var")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    return env


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_answers_healthz_and_admin(embedded_env: dict[str, str]) -> None:
    port, mqtt_port = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--mqtt-port", str(mqtt_port)],
        cwd=ROOT,
        env=embedded_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200, body
        assert b'"database": "ok"' in body and b'"channel_layer": "ok"' in body
        status, _ = _get(f"http://127.0.0.1:{port}/admin/login/")
        assert status == 200
        with socket.create_connection(("127.0.0.1", mqtt_port), timeout=5):
            pass  # the TCP MQTT listener accepts connections
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.mark.parametrize("workers", [1, 2])
def test_port_in_use_is_one_clear_line(embedded_env: dict[str, str], workers: int) -> None:
    env = _with_redis(embedded_env) if workers > 1 else embedded_env
    with socket.socket() as taken:
        if workers > 1:  # the workers' sockets use SO_REUSEPORT, which would share such a port
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--mqtt-port", "0"]
            + ["--workers", str(workers)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"CommandError: HTTP port {port} on 127.0.0.1 is already in use; choose another"]


def _with_redis(env: dict[str, str]) -> dict[str, str]:
    """`env` with the suite's REDIS_URL, which `serve --workers` needs (skips without one)."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("--workers needs REDIS_URL")
    return {**env, "REDIS_URL": os.environ["REDIS_URL"]}


def _established_on(pid: int, port: int) -> int:
    """How many established TCP connections to local `port` process `pid` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads /proc")
def test_workers_share_new_connections_evenly_and_survive_one_dying(embedded_env: dict[str, str]) -> None:
    port, mqtt_port = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--mqtt-port", str(mqtt_port)]
        + ["--workers", "2", "--no-expiry"],
        cwd=ROOT,
        env=_with_redis(embedded_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    clients: list[socket.socket] = []
    try:
        children: list[int] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(children) < 2:
            time.sleep(0.2)
            children = [
                int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
            ]
        assert len(children) == 2
        while time.monotonic() < deadline:
            try:
                if _get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        clients = [socket.create_connection(("127.0.0.1", mqtt_port), timeout=5) for _ in range(40)]
        counts: list[int] = []
        while time.monotonic() < deadline:
            counts = [_established_on(child, mqtt_port) for child in children]
            if sum(counts) == 40:
                break
            time.sleep(0.2)
        assert sum(counts) == 40
        # Spread by the kernel's hash of each connection: both workers serve some (all 40 on one
        # worker would happen once in 2^39 runs).
        assert min(counts) >= 5, counts
        # A worker that dies takes its socket with it: the survivor gets every new connection.
        for client in clients:
            client.close()
        os.kill(children[0], signal.SIGKILL)
        while time.monotonic() < deadline and Path(f"/proc/{children[0]}/fd").exists():
            time.sleep(0.1)
        clients = [socket.create_connection(("127.0.0.1", mqtt_port), timeout=5) for _ in range(20)]
        while time.monotonic() < deadline and _established_on(children[1], mqtt_port) < 20:
            time.sleep(0.2)
        assert _established_on(children[1], mqtt_port) == 20
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.wait(timeout=20)
