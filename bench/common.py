"""Shared pieces of the benchmark scripts: a throwaway platform, tables, verdicts.

`Platform` creates a fresh PostgreSQL database (`pb_bench_<pid>`), migrates it, starts one
`manage.py serve` process on free ports, provisions through the management commands and, on
exit (normal, exception, Ctrl-C or SIGTERM), stops the server and drops the database. The
benchmarks target 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform as _stdlib_platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"
PY_SPY = os.environ.get("PY_SPY", "/tmp/bench_tools/bin/py-spy")

if str(ROOT) not in sys.path:  # the project's modules (the MQTT codec) for the load generators
    sys.path.insert(0, str(ROOT))


# --- command line ----------------------------------------------------------------------------


def base_parser(description: str, *, workers: int = 1) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL (no database name)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL of the channel layer")
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"sample the server with py-spy for this long during the main run ({PY_SPY})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and server log on exit")
    parser.add_argument(
        "--workers",
        type=int,
        default=workers,
        help="`serve --workers`: server processes sharing the listeners (needs Redis, which the bench uses)",
    )
    return parser


def platform_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `Platform` keyword arguments the common command-line flags ask for."""
    return {"pg": args.pg, "redis": args.redis, "keep": args.keep, "workers": args.workers}


# --- the raw baseline -------------------------------------------------------------------------


def copy_points(conn: Any, rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY `(id, account_id, channel, of, at, data, expire_at)` rows into data_datapoint."""
    statement = 'COPY data_datapoint (id, account_id, channel, "of", at, data, expire_at) FROM STDIN'
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


# --- small helpers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards `wanted` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def group_cpu_seconds(pgid: int) -> float:
    """CPU time of every live process in a process group: the server and its workers."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def _pid_cpu(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except (OSError, IndexError):
        return None


class CpuMeter:
    """Where the machine's CPU went during a run: the server, this load generator, the
    PostgreSQL backends serving the bench database, other processes (other users' work).

    Reported in cores (CPU seconds per wall second), so 2.0 is the whole of a 2-core machine.
    """

    def __init__(self, platform: Platform, extra: dict[str, int] | None = None) -> None:
        self.platform = platform
        self.extra = extra or {}

    def _pg_backends(self) -> list[int]:
        try:
            with self.platform.admin_connect() as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.platform.db_name],
                ).fetchall()
        except Exception:  # noqa: BLE001 - accounting is best effort
            return []
        return [int(r[0]) for r in rows]

    def _sessions(self) -> int:
        """Sessions ever opened on the bench database (pg_stat_database, PostgreSQL 14+)."""
        try:
            with self.platform.admin_connect() as conn:
                row = conn.execute(
                    "SELECT sessions FROM pg_stat_database WHERE datname = %s", [self.platform.db_name]
                ).fetchone()
        except Exception:  # noqa: BLE001 - accounting is best effort
            return 0
        return int(row[0]) if row and row[0] is not None else 0

    def _sample_backends(self) -> None:
        # Backends come and go during a run (a connection per worker thread): poll them, and
        # count each one's CPU up to the last time it was seen.
        while not self._stop.wait(0.25):
            self._record_backends()

    def _record_backends(self) -> None:
        pids = self._pg_backends()
        self.max_backends = max(self.max_backends, len(pids))
        for pid in pids:
            cpu = _pid_cpu(pid)
            if cpu is not None:
                self.backends_last[pid] = cpu
                self.backends_first.setdefault(pid, 0.0)

    def __enter__(self) -> CpuMeter:
        self.max_backends = 0
        self.backends_last: dict[int, float] = {}
        self.backends_first: dict[int, float] = {}
        for pid in self._pg_backends():
            cpu = _pid_cpu(pid)
            if cpu is not None:
                self.backends_first[pid] = self.backends_last[pid] = cpu
        self.sessions0 = self._sessions()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample_backends, daemon=True)
        self._sampler.start()
        self.server0 = group_cpu_seconds(self.platform.pid)
        self.extra0 = {name: _pid_cpu(pid) or 0.0 for name, pid in self.extra.items()}
        self.client0 = own_cpu_seconds()
        self.system0 = system_cpu()
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        busy1, total1 = system_cpu()
        self.client = own_cpu_seconds() - self.client0
        self.server = group_cpu_seconds(self.platform.pid) - self.server0
        self.extras = {name: (_pid_cpu(pid) or 0.0) - self.extra0[name] for name, pid in self.extra.items()}
        self._stop.set()
        self._sampler.join()
        self._record_backends()
        self.postgres = sum(self.backends_last[pid] - self.backends_first[pid] for pid in self.backends_last)
        self.busy = busy1 - self.system0[0]
        self.capacity = total1 - self.system0[1]
        # Each admin query of the sampler is a session too (on another database): not counted.
        self.new_sessions = self._sessions() - self.sessions0
        # The sampler's own queries cost this process a little CPU: leave it in, it is small.

    def cores(self, seconds: float) -> float:
        return seconds / self.wall if self.wall else 0.0

    def summary(self) -> str:
        others = self.busy - self.server - self.client - self.postgres - sum(self.extras.values())
        parts = [f"server {self.cores(self.server):.2f}"]
        parts += [f"{name} {self.cores(v):.2f}" for name, v in self.extras.items()]
        parts += [
            f"postgres backends {self.cores(self.postgres):.2f} (≤{self.max_backends} connections)",
            f"load generator {self.cores(self.client):.2f}",
            f"other processes {self.cores(max(0.0, others)):.2f}",
            f"idle {self.cores(max(0.0, self.capacity - self.busy)):.2f}",
        ]
        return "CPU (cores): " + ", ".join(parts) + f"; new PostgreSQL sessions: {self.new_sessions:,}"


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def fmt_float(n: float, digits: int = 2) -> str:
    return f"{n:,.{digits}f}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A plain-text table: text left-aligned, numbers (and number-like strings) right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def numeric(text: str) -> bool:
        stripped = text.replace(",", "").replace(".", "").replace("×", "").replace("%", "").strip()
        return stripped.lstrip("-").isdigit()

    def line(row: Sequence[str]) -> str:
        return " | ".join(
            (c.rjust(w) if numeric(c) else c.ljust(w)) for c, w in zip(row, widths, strict=True)
        ).rstrip()

    out = [title] if title else []
    out += [line(list(headers)), "-+-".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def verdict(name: str, met: bool, detail: str) -> str:
    return f"[{'MET' if met else 'NOT MET'}] {name}: {detail}"


def machine_note() -> str:
    cores = os.cpu_count() or 0
    load = os.getloadavg()
    return (
        f"machine: {cores} cores, Python {_stdlib_platform.python_version()}, "
        f"load avg {load[0]:.2f} at start; "
        "the load generator runs on the same cores as the server and competes with it for CPU."
    )


# --- the platform under test -------------------------------------------------------------------


class BenchError(RuntimeError):
    pass


def run(main: Callable[[], int]) -> None:
    """Run a benchmark's `main` as a script: its exit code, one line for an error or Ctrl-C."""
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"benchmark error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted")
        sys.exit(130)


class Platform:
    """A fresh database and one `manage.py serve` process; use as a context manager."""

    def __init__(
        self,
        *,
        pg: str = DEFAULT_PG,
        redis: str = DEFAULT_REDIS,
        keep: bool = False,
        tag: str = "",
        server_nofile: int | None = None,
        extra_env: dict[str, str] | None = None,
        settings_overrides: Sequence[str] = (),
        workers: int = 1,
    ) -> None:
        self.workers = workers
        self.pg = pg.rstrip("/")
        self.redis = redis
        self.keep = keep
        self.db_name = f"pb_bench_{os.getpid()}{('_' + tag) if tag else ''}"
        self.database_url = f"{self.pg}/{self.db_name}"
        self.var_dir = Path(tempfile.mkdtemp(prefix=f"pb_bench_{os.getpid()}_"))
        self.http_port = free_port()
        self.mqtt_port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.server_nofile = server_nofile
        self.extra_env = extra_env or {}
        self.log_path = self.var_dir / "serve.log"
        self._db_created = False
        self.settings_overrides = list(settings_overrides)
        if self.settings_overrides:
            # An experiment: the project's settings plus a few lines, from outside the repository.
            (self.var_dir / "bench_settings.py").write_text(
                "from plugboard.settings import *  # noqa: F403\n" + "\n".join(self.settings_overrides) + "\n"
            )
            self.extra_env = {
                **self.extra_env,
                "DJANGO_SETTINGS_MODULE": "bench_settings",
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(self.var_dir), os.environ.get("PYTHONPATH")])
                ),
            }
            print("EXPERIMENT — server settings changed for this run: " + "; ".join(self.settings_overrides))

    # environment of every manage.py call
    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis,
            SECRET_KEY="bench",
            PLUGBOARD_VAR_DIR=str(self.var_dir),
            LOG_LEVEL=env.get("LOG_LEVEL", "WARNING"),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # -- lifecycle --

    def __enter__(self) -> Platform:
        self._install_signal_handlers()
        try:
            self.create_database()
            self.manage("migrate", "--noinput", "-v", "0", parse=False)
            self.start_server()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _install_signal_handlers(self) -> None:
        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, stop)

    def admin_connect(self) -> Any:
        import psycopg

        return psycopg.connect(f"{self.pg}/postgres", autocommit=True)

    def connect(self, **kwargs: Any) -> Any:
        """A psycopg connection to the bench database."""
        import psycopg

        return psycopg.connect(self.database_url, **kwargs)

    def create_database(self) -> None:
        with self.admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self._db_created = True

    def drop_database(self) -> None:
        if not self._db_created:
            return
        with self.admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        self._db_created = False

    def start_server(self) -> None:
        nofile = self.server_nofile

        def preexec() -> None:
            os.setpgrp()  # its own process group: a Ctrl-C of the bench reaches it only through us
            if nofile:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))

        log = open(self.log_path, "wb")  # noqa: SIM115 - the server owns it until it exits
        self.server = subprocess.Popen(
            [
                str(VENV_PYTHON),
                "manage.py",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.http_port),
                "--mqtt-port",
                str(self.mqtt_port),
                "--no-expiry",
                "--workers",
                str(self.workers),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise BenchError(f"the server exited with {self.server.returncode}:\n{self.log_tail()}")
            if port_open(self.http_port) and port_open(self.mqtt_port):
                return
            time.sleep(0.1)
        raise BenchError(f"the server did not open its ports within 60 s:\n{self.log_tail()}")

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        self.server.send_signal(signal.SIGINT)
        try:
            self.server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait(timeout=10)

    def close(self) -> None:
        try:
            self.stop_server()
        finally:
            if self.keep:
                print(f"kept: database {self.database_url}, server log {self.log_path}")
            else:
                try:
                    self.drop_database()
                finally:
                    shutil.rmtree(self.var_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def check_alive(self) -> None:
        if self.server is None or self.server.poll() is not None:
            raise BenchError(f"the server died during the run:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.pid

    # -- provisioning --

    def manage(self, *args: str, parse: bool = True) -> Any:
        done = subprocess.run(
            [str(VENV_PYTHON), "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise BenchError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1]) if parse else done.stdout

    def django_script(self, code: str, timeout: float = 600) -> Any:
        """Run Python with Django set up against the bench database; its last stdout line is JSON."""
        prelude = (
            "import os, sys, json\n"
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'plugboard.settings')\n"
            "import django\ndjango.setup()\n"
        )
        done = subprocess.run(
            [str(VENV_PYTHON), "-c", prelude + code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise BenchError(f"Django script failed:\n{done.stdout}{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def account(self, email: str = "bench@example.com", password: str = "bench-pass-1") -> dict[str, Any]:
        created = self.manage("createaccount", "--email", email, "--password", password)
        return {**created, "password": password}

    def plug(self, account_email: str, name: str, kind: str = "thing") -> dict[str, Any]:
        return self.manage("createplug", "--account", account_email, "--name", name, "--kind", kind)

    def plugs_bulk(self, account_email: str, prefix: str, count: int) -> list[dict[str, Any]]:
        """`count` plugs through `devices.services.plug_create` (what `createplug` calls) in one
        Django process: starting `manage.py createplug` once per plug costs about a second each."""
        code = f"""
from django.db import transaction
from devices.services import plug_create
from plugboard.models import Account
account = Account.objects.get(email__iexact={account_email!r})
out = []
for start in range(0, {int(count)}, 1000):
    with transaction.atomic():  # one commit per thousand plugs, not two per plug
        for i in range(start, min(start + 1000, {int(count)})):
            e = plug_create(account=account, name=f"{prefix}{{i:05d}}")
            out.append({{"id": e.plug.id, "name": e.plug.name, "auth": e.auth, "key_id": e.key.id}})
print(json.dumps(out))
"""
        return list(self.django_script(code, timeout=1800))


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --- profiling ----------------------------------------------------------------------------------


class Profiler:
    """py-spy sampling of `pid` for `seconds` from `start()`; `finish()` waits and summarises.

    A no-op when seconds is 0. Usable as a context manager that starts at once."""

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        self.pid, self.seconds, self.out = pid, seconds, out
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.seconds <= 0 or self.proc is not None:
            return
        if not Path(PY_SPY).exists():
            print(f"py-spy not found at {PY_SPY}; set PY_SPY or install it in a throwaway venv")
            return
        self.proc = subprocess.Popen(
            [
                PY_SPY,
                "record",
                "--pid",
                str(self.pid),
                "--duration",
                str(max(1, int(self.seconds))),
                "--format",
                "raw",
                "--threads",
                "--nonblocking",
                "--gil",  # only the thread holding the GIL: Python's CPU, not threads waiting on I/O
                "--subprocesses",  # `serve --workers N`: the workers are children
                "--rate",
                "250",
                "--output",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def finish(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if self.out.exists():
            print(f"py-spy samples (collapsed stacks, flamegraph.pl input): {self.out}")
            print(profile_summary(self.out))

    def __enter__(self) -> Profiler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


def profiled(pid: int, seconds: float, out: Path) -> Profiler:
    return Profiler(pid, seconds, out)


def profile_summary(path: Path, top: int = 25) -> str:
    """Self and inclusive time per function from py-spy's collapsed stacks (`frame;frame;… count`)."""
    inclusive: dict[str, int] = {}
    self_time: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short_frame(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        if frames:
            self_time[frames[-1]] = self_time.get(frames[-1], 0) + count
    if not total:
        return "(no samples)"

    def rows(counts: dict[str, int]) -> list[list[str]]:
        best = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [[f"{100 * n / total:5.1f}%", name] for name, n in best]

    project = {name: n for name, n in inclusive.items() if _is_project(name)}
    return (
        table(["incl.", "project code (inclusive: time with this frame on the stack)"], rows(project))
        + "\n\n"
        + table(["incl.", "any function (inclusive)"], rows(inclusive))
        + "\n\n"
        + table(["self", "function (self: time in the frame itself)"], rows(self_time))
    )


_PLATFORM_FILES = {p.name for p in (ROOT / "platform").glob("*.py")} | {"serve.py"}


def _is_project(frame: str) -> bool:
    """A frame of the project's own code (py-spy names files relative to their sys.path entry)."""
    _, _, file = frame.rpartition("(")
    file = file.rstrip(")")
    if file.startswith(("data/", "devices/", "commands/", "management/commands/")):
        return True
    return "/" not in file and file in _PLATFORM_FILES and file not in {"threading.py", "selectors.py"}


def _short_frame(frame: str) -> str:
    # py-spy frames look like "function (path/to/file.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file, _, _line = where.rpartition(":")
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{name} ({file})" if file else name


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# --- a lean MQTT 3.1.1 load client (raw asyncio, TCP or WebSocket) ---------------------------------
#
# paho-mqtt costs too much CPU per message to load a server on the same 2 cores. This client
# encodes with the project's codec (`commands.mqtt.packets`), parses only what it needs
# (CONNACK, SUBACK, PUBACK, PUBLISH headers) and writes everything a read made possible in one
# `transport.write`.


class MqttLoadClient(asyncio.Protocol):
    """One MQTT connection that keeps `window` QoS 1 publishes in flight until `total` are acked.

    `next_message(n)` gives the (topic, payload) of this connection's n-th message. Over
    WebSocket the client speaks RFC 6455 itself: the upgrade, then one masked binary frame per
    MQTT packet (as browser and device libraries do); its mask key is zero, which RFC 6455
    allows and which saves this process the XOR (the server unmasks either way).
    """

    def __init__(
        self,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 60,
        websocket_path: str | None = None,
        host_header: str = "127.0.0.1",
    ) -> None:
        from commands.mqtt.packets import encode_connect

        self.connect_packet = encode_connect(
            client_id,
            clean_session=True,
            keepalive=keepalive,
            username=username,
            password=password.encode() if password is not None else None,
        )
        self.ws_path = websocket_path
        self.host_header = host_header
        self.ws_open = websocket_path is None
        self.loop = asyncio.get_running_loop()
        self.connected: asyncio.Future[int] = self.loop.create_future()
        self.subscribed: asyncio.Future[None] = self.loop.create_future()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ws_buffer = bytearray()
        self.next_message: Callable[[int], tuple[str, bytes]] | None = None
        self.total = 0
        self.window = 0
        self.sent = 0
        self.acked = 0
        self.received_publishes = 0
        self.packet_id = 0
        self.stop_sending = False

    # -- transport --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.ws_path is None:
            transport.write(self.connect_packet)
        else:
            key = base64.b64encode(os.urandom(16)).decode()
            transport.write(
                (
                    f"GET {self.ws_path} HTTP/1.1\r\nHost: {self.host_header}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Protocol: mqtt\r\n\r\n"
                ).encode()
            )

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.connected, self.subscribed, self.finished):
            if not future.done():
                future.set_exception(ConnectionError(f"connection lost ({exc})"))
                future.exception()  # retrieved: a future nobody awaits must not log at exit
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, packets: list[bytes]) -> None:
        assert self.transport is not None
        if self.ws_path is None:
            self.transport.write(b"".join(packets))
        else:
            self.transport.write(b"".join(_ws_frame(p) for p in packets))

    # -- bytes in --

    def data_received(self, data: bytes) -> None:
        if not self.ws_open:
            self.ws_buffer += data
            end = self.ws_buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.ws_buffer[:end])
            rest = bytes(self.ws_buffer[end + 4 :])
            self.ws_buffer.clear()
            if not head.startswith(b"HTTP/1.1 101"):
                self.connected.set_exception(ConnectionError(f"WebSocket upgrade refused: {head[:80]!r}"))
                assert self.transport is not None
                self.transport.close()
                return
            self.ws_open = True
            self.send([self.connect_packet])
            if not rest:
                return
            data = rest
        if self.ws_path is not None:
            data = self._unframe(data)
            if not data:
                return
        self.buffer += data
        self._parse()

    def _unframe(self, data: bytes) -> bytes:
        buf = self.ws_buffer
        buf += data
        out = bytearray()
        pos = 0
        while len(buf) - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if b1 & 0x80:
                head += 4  # a masked server frame is a protocol error; tolerate it for counting
            if len(buf) - pos < head + length:
                break
            opcode = b0 & 0x0F
            payload = bytes(buf[pos + head : pos + head + length])
            if opcode in (0x0, 0x2):
                out += payload
            elif opcode == 0x9 and self.transport is not None:  # ping → pong
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
            elif opcode == 0x8 and self.transport is not None:
                self.transport.close()
            pos += head + length
        del buf[:pos]
        return bytes(out)

    def _parse(self) -> None:
        buf = self.buffer
        pos = 0
        acked = 0
        end = len(buf)
        while end - pos >= 2:
            first = buf[pos]
            # remaining length: 1..4 bytes, 7 bits each
            length = 0
            shift = 0
            i = pos + 1
            while True:
                if i >= end:
                    length = -1
                    break
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                i += 1
                if not byte & 0x80:
                    break
                shift += 7
            if length < 0 or end - i < length:
                break
            kind = first >> 4
            if kind == 4:  # PUBACK
                acked += 1
            elif kind == 3:  # PUBLISH (a subscriber)
                self.received_publishes += 1
                if (first >> 1) & 3:  # QoS 1: acknowledge it
                    topic_len = int.from_bytes(buf[i : i + 2], "big")
                    packet_id = bytes(buf[i + 2 + topic_len : i + 4 + topic_len])
                    self.send([b"\x40\x02" + packet_id])
            elif kind == 2:  # CONNACK
                if not self.connected.done():
                    self.connected.set_result(buf[i + 1])
            elif kind == 9 and not self.subscribed.done():  # SUBACK
                self.subscribed.set_result(None)
            pos = i + length
        del buf[:pos]
        if acked:
            self.acked += acked
            self._top_up()

    # -- bytes out --

    def start(self, total: int, window: int, next_message: Callable[[int], tuple[str, bytes]]) -> None:
        self.total, self.window, self.next_message = total, window, next_message
        self._top_up()

    def _top_up(self) -> None:
        from commands.mqtt.packets import encode_publish

        if self.next_message is None:
            return
        limit = self.acked + self.window
        if self.stop_sending:
            limit = self.sent
        packets = []
        while self.sent < self.total and self.sent < limit:
            topic, payload = self.next_message(self.sent)
            self.packet_id = self.packet_id % 65535 + 1
            packets.append(encode_publish(topic, payload, 1, packet_id=self.packet_id))
            self.sent += 1
        if packets:
            self.send(packets)
        done = self.acked >= self.sent and (self.sent >= self.total or self.stop_sending)
        if done and not self.finished.done():
            self.finished.set_result(None)

    def stop(self) -> None:
        """Send no more; `finished` resolves once what is in flight is acknowledged."""
        self.stop_sending = True
        self._top_up()

    def subscribe(self, topic_filter: str, qos: int) -> None:
        from commands.mqtt.packets import encode_subscribe

        self.send([encode_subscribe(1, [(topic_filter, qos)])])

    def disconnect(self) -> None:
        from commands.mqtt.packets import encode_disconnect

        if self.transport is not None and not self.transport.is_closing():
            self.send([encode_disconnect()])
            self.transport.close()


def _ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x82, 0x80 | n))
    elif n < 65536:
        head = bytes((0x82, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x82, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


async def mqtt_open(
    port: int,
    *,
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    keepalive: int = 60,
    websocket_path: str | None = None,
    wait: float = 30,
) -> MqttLoadClient:
    """Connect and wait for an accepting CONNACK (raises on refusal)."""
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: MqttLoadClient(
                client_id=client_id,
                username=username,
                password=password,
                keepalive=keepalive,
                websocket_path=websocket_path,
                host_header=f"127.0.0.1:{port}",
            ),
            "127.0.0.1",
            port,
        ),
        wait,
    )
    code = await asyncio.wait_for(client.connected, wait)
    if code != 0:
        client.disconnect()
        raise ConnectionError(f"CONNACK {code:#04x} for {client_id}")
    return client
