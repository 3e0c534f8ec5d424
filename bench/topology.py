#!/usr/bin/env python3
"""The load-balanced topology on one machine: HTTP batch ingest through HAProxy onto 1 process vs 2.

Two `manage.py serve` processes (the nodes; one process each) on one database and one Redis,
behind HAProxy running the repository's deploy/haproxy.cfg unchanged (its addresses come from
the environment: free loopback ports here). Phases, each `--points` points of the channel
dialect (`PUT /iot/data`, arrays of `--batch` records, the load generator of `http_write.py`)
from `--clients` keep-alive connections, each writing a plug of its own (a fleet: one plug's
concurrent requests serialize on its properties' rows), repeated `--rounds` times in
alternating order:

  direct          straight into node 1, no balancer (the baseline of the balancer's cost)
  balancer, 1     through HAProxy with node 2 in maintenance: every request to node 1
  balancer, 2     through HAProxy onto both nodes (round robin per request)

Verified: every request answers 200 with one id per record, and each phase's plugs have as many
rows as points were sent. Printed: points/s, CPU per point of each party, and how the requests
spread over the nodes (HAProxy's own counters).

    .venv/bin/python bench/topology.py                  # ~1-2 minutes
    .venv/bin/python bench/topology.py --points 400000 --rounds 3
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import http_write  # noqa: E402
import meters  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402

CONFIG = testbed.ROOT / "deploy" / "haproxy.cfg"
NODES = ("node1", "node2")
BACKENDS = ("http", "mqtt_ws", "mqtt")  # every backend of deploy/haproxy.cfg lists every node
CHANNELS = 10
PUBLIC_HOST = "plugboard.test"  # the Host of HAProxy's health checks (one of the nodes' ALLOWED_HOSTS)

PUBLISH_BYTES = 256  # about a command push of the channel layer (one small JSON message)
PUBLISH_COUNT = 400_000

TARGET_BALANCER_X_DIRECT = 0.9  # HAProxy in the path costs at most a tenth of the throughput
TARGET_TWO_X_ONE = 1.2  # a second process behind the balancer adds at least a fifth
TARGET_CPU_PER_POINT_DRIFT = 0.15  # server CPU per point with 2 processes within 15% of 1


class Balancer:
    """HAProxy running deploy/haproxy.cfg, unchanged, in the foreground on free loopback ports, in
    front of two nodes given as (HTTP port, MQTT port); its runtime API on a private socket."""

    def __init__(
        self,
        nodes: Sequence[tuple[int, int]],
        workdir: Path,
        *,
        tls_pem: Path | None = None,
        executable: str = "haproxy",
    ) -> None:
        if len(nodes) != len(NODES):
            raise ValueError(f"deploy/haproxy.cfg lists {len(NODES)} nodes")
        self.nodes = list(nodes)
        self.executable = executable
        self.tls_pem = tls_pem
        self.http_port, self.mqtt_port = testbed.free_port(), testbed.free_port()
        self.https_port, self.mqtts_port = testbed.free_port(), testbed.free_port()
        self.socket_path = workdir / "haproxy.sock"
        self.log_path = workdir / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PLUGBOARD_HTTP_BIND": f"127.0.0.1:{self.http_port}",
            "PLUGBOARD_MQTT_BIND": f"127.0.0.1:{self.mqtt_port}",
            "PLUGBOARD_HTTPS_BIND": f"127.0.0.1:{self.https_port}",
            "PLUGBOARD_MQTTS_BIND": f"127.0.0.1:{self.mqtts_port}",
            "PLUGBOARD_HAPROXY_SOCKET": str(self.socket_path),
            "PLUGBOARD_HAPROXY_LOG": "stdout",
            "PLUGBOARD_PUBLIC_HOST": PUBLIC_HOST,
        }
        env.pop("PLUGBOARD_TLS_PEM", None)
        if self.tls_pem is not None:
            env["PLUGBOARD_TLS_PEM"] = str(self.tls_pem)
        for name, (http_port, mqtt_port) in zip(NODES, self.nodes, strict=True):
            env[f"PLUGBOARD_{name.upper()}_HTTP"] = f"127.0.0.1:{http_port}"
            env[f"PLUGBOARD_{name.upper()}_MQTT"] = f"127.0.0.1:{mqtt_port}"
        return env

    def start(self, timeout: float = 30) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own config file
                [self.executable, "-db", "-f", str(CONFIG)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise testbed.BenchError(f"haproxy exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.socket_path.exists() and testbed.port_open(self.http_port) and self.all_up():
                return
            time.sleep(0.1)
        self.stop()
        raise testbed.BenchError(
            f"haproxy did not see both nodes up within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no haproxy log)"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    # -- the runtime API (stats socket) --

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.socket_path))
            conn.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[tuple[str, str], dict[str, str]]:
        """`show stat` of every server line: {(backend, server): its CSV row}."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(text.splitlines())
        return {
            (row["pxname"], row["svname"]): row
            for row in rows
            if row.get("svname") not in (None, "FRONTEND", "BACKEND")
        }

    def all_up(self) -> bool:
        try:
            servers = self.servers()
        except OSError:
            return False
        wanted = [(backend, node) for backend in BACKENDS for node in NODES]
        return all(servers.get(key, {}).get("status") == "UP" for key in wanted) and all(
            servers[("http", node)]["check_status"] == "L7OK" for node in NODES
        )

    def set_state(self, node: str, state: str, backends: Sequence[str] = BACKENDS) -> None:
        """Put `node` in `state` (ready, drain, maint) in `backends`."""
        for backend in backends:
            answer = self.command(f"set server {backend}/{node} state {state}").strip()
            if answer:
                raise testbed.BenchError(f"haproxy refused the state {state} of {backend}/{node}: {answer}")

    def sessions(self, backend: str) -> dict[str, int]:
        """The connections open now from the balancer to each node in `backend`."""
        servers = self.servers()
        return {node: int(servers[(backend, node)]["scur"] or 0) for node in NODES}

    def served(self, backend: str) -> dict[str, int]:
        """Connections (TCP, WebSocket) or requests (HTTP) each node got in `backend` so far."""
        servers = self.servers()
        counter = "hrsp_2xx" if backend == "http" else "stot"
        return {node: int(servers[(backend, node)][counter] or 0) for node in NODES}


@contextmanager
def balancer_of(nodes: Sequence[tuple[int, int]], workdir: Path, **kw: Any) -> Iterator[Balancer]:
    balancer = Balancer(nodes, workdir, **kw)
    balancer.start()
    try:
        yield balancer
    finally:
        balancer.stop()


def ingest(
    port: int, plugs: Sequence[dict[str, Any]], points: int, *, batch: int, clients: int, base_at: int
) -> tuple[float, list[str]]:
    """`points` points of the channel dialect through `port`, shared out over `plugs`, each
    with `clients // len(plugs)` connections (at least one) of its own; (seconds, problems).

    Several plugs, as a fleet writes: one plug's concurrent requests serialize on the rows of
    its properties' latest values, whichever process serves them."""
    share = points // len(plugs)
    runs, threads = [], []
    started = threading.Barrier(len(plugs) + 1)
    for plug in plugs:
        bodies = http_write.channel_bodies(share, batch, CHANNELS, base_at)
        headers = {"X-Plug-Id": plug["id"], "X-Plug-Auth": plug["auth"]}
        run = http_write.Run("PUT", "/iot/data", headers, http_write.check_channel(batch))
        runs.append(run)

        def drive(run: http_write.Run = run, bodies: list[bytes] = bodies) -> None:
            started.wait()
            http_write.drive(port, run, bodies, max(1, clients // len(plugs)))

        threads.append(threading.Thread(target=drive, daemon=True))
    for thread in threads:
        thread.start()
    started.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, [problem for run in runs for problem in run.errors]


# --- the bench -----------------------------------------------------------------------------------------


def second_node(platform: testbed.Platform) -> tuple[subprocess.Popen[bytes], int, int]:
    """Node 2: another `manage.py serve` on the bench database and Redis, on its own ports."""
    http_port, mqtt_port = testbed.free_port(), testbed.free_port()
    with (platform.var_dir / "serve-node2.log").open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603
            [str(testbed.VENV_PYTHON), "manage.py", "serve", "--host", "127.0.0.1"]
            + ["--port", str(http_port), "--mqtt-port", str(mqtt_port), "--no-expiry"],
            cwd=testbed.ROOT,
            env=platform.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while not (testbed.port_open(http_port) and testbed.port_open(mqtt_port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise testbed.BenchError("node 2 did not start")
        time.sleep(0.1)
    return proc, http_port, mqtt_port


@contextmanager
def private_redis(workdir: Path) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    """A redis-server of this run's own (no persistence), so its CPU is the bench's alone:
    (URL, port, process)."""
    port = testbed.free_port()
    proc = subprocess.Popen(  # noqa: S603
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_until(lambda: testbed.port_open(port)):
            raise testbed.BenchError("the private redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0", port, proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def publish_baseline(port: int, pid: int, payload_bytes: int, count: int) -> tuple[float, float]:
    """Redis alone: `count` PUBLISHes of `payload_bytes` to a channel one subscriber listens on
    (redis-benchmark, 8 connections, pipelines of 16): (publishes/s, Redis CPU µs per publish)."""
    subscriber = subprocess.Popen(  # noqa: S603
        ["redis-cli", "-p", str(port), "subscribe", "pb-bench"], stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(0.3)
        before = meters.cpu_seconds(pid)
        done = subprocess.run(  # noqa: S603
            ["redis-benchmark", "-p", str(port), "-c", "8", "-P", "16", "-n", str(count), "-q"]
            + ["PUBLISH", "pb-bench", "x" * payload_bytes],
            capture_output=True,
            text=True,
            check=True,
        )
        cpu = meters.cpu_seconds(pid) - before
    finally:
        subscriber.kill()
        subscriber.wait(timeout=10)
    line = done.stdout.strip().splitlines()[-1]  # "PUBLISH pb-bench x…: 123456.78 requests per second, …"
    rate = float(line.split(": ", 1)[1].split()[0].replace(",", ""))
    return rate, cpu / count * 1e6


PHASES = ("direct", "balancer, 1 process", "balancer, 2 processes")


@dataclass
class Phase:
    name: str
    rates: list[float] = field(default_factory=list)
    server_us: list[float] = field(default_factory=list)  # both nodes, CPU µs per point
    haproxy_us: list[float] = field(default_factory=list)
    postgres_us: list[float] = field(default_factory=list)
    redis_us: list[float] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NODES, 0))

    def median(self, values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200_000, help="points per phase and round")
    parser.add_argument("--batch", type=int, default=1_000, help="records per request")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (keep-alive)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the three phases (order alternates)")
    parser.add_argument("--haproxy", default=shutil.which("haproxy") or "haproxy", help="the haproxy binary")
    parser.add_argument(
        "--shared-redis",
        action="store_true",
        help="use --redis instead of a private redis-server (whose CPU is then the bench's alone)",
    )
    return parser.parse_args()


def run_phases(
    args: Any,
    platform: testbed.Platform,
    redis_pid: int | None,
    points: int,
    phases: dict[str, Phase],
    problems: list[str],
) -> None:
    """Node 2 and the balancer beside the platform's node 1; every phase of every round."""
    node2, node2_http, node2_mqtt = second_node(platform)
    try:
        with balancer_of(
            [(platform.http_port, platform.mqtt_port), (node2_http, node2_mqtt)],
            platform.var_dir,
            executable=args.haproxy,
        ) as balancer:
            print(
                f"node 1 pid {platform.pid} :{platform.http_port}, node 2 pid {node2.pid} :{node2_http}, "
                f"haproxy pid {balancer.pid} :{balancer.http_port}; database {platform.db_name}"
            )
            account = platform.account()
            fleet = platform.plugs_bulk(
                account["email"], "topo-", (1 + len(PHASES) * args.rounds) * args.clients
            )
            groups = [fleet[i : i + args.clients] for i in range(0, len(fleet), args.clients)]
            warm, groups = groups[0], groups[1:]
            base_at = (time.time_ns() // 1_000_000) - 10 * 86_400_000
            for port in (platform.http_port, node2_http):  # imports, connections, caches
                warm_points = len(warm) * args.batch
                _s, errors = ingest(
                    port, warm, warm_points, batch=args.batch, clients=len(warm), base_at=base_at
                )
                base_at += warm_points
                problems += errors
            for r in range(args.rounds):
                for name in PHASES if r % 2 == 0 else tuple(reversed(PHASES)):
                    plugs = groups.pop()
                    if name == "balancer, 1 process":
                        balancer.set_state("node2", "maint")
                    else:
                        balancer.set_state("node2", "ready")
                        if not wait_until(balancer.all_up):
                            raise testbed.BenchError("node 2 did not come back up in haproxy")
                    port = platform.http_port if name == "direct" else balancer.http_port
                    before = balancer.served("http")
                    extra = {"node 2": node2.pid, "haproxy": balancer.pid}
                    if redis_pid is not None:
                        extra["redis"] = redis_pid
                    with meters.CpuMeter(platform, extra=extra) as meter:
                        seconds, errors = ingest(
                            port, plugs, points, batch=args.batch, clients=args.clients, base_at=base_at
                        )
                    platform.check_alive()
                    if node2.poll() is not None:
                        raise testbed.BenchError("node 2 died during the run")
                    problems += errors
                    stored = sum(http_write.rows_of(platform, plug["id"]) for plug in plugs)
                    if stored != points:
                        problems.append(f"{name}: {stored:,} rows stored of {points:,}")
                    after = balancer.served("http")
                    phase = phases[name]
                    for node in NODES:
                        phase.requests[node] += after[node] - before[node]
                    phase.rates.append(points / seconds)
                    phase.server_us.append((meter.server + meter.extras["node 2"]) / points * 1e6)
                    phase.haproxy_us.append(meter.extras["haproxy"] / points * 1e6)
                    phase.postgres_us.append(meter.postgres / points * 1e6)
                    phase.redis_us.append(meter.extras.get("redis", float("nan")) / points * 1e6)
                    phase.summaries.append(f"{name:24} round {r + 1}: {meter.summary()}")
    finally:
        node2.terminate()
        node2.wait(timeout=20)


def main() -> int:
    args = parse_args()
    if shutil.which(args.haproxy) is None:
        print(f"{args.haproxy} is not installed (apt-get install -y haproxy)")
        return 2
    if args.workers != 1:
        print("each node is one `serve` process here: --workers must be 1")
        return 2
    points = (args.points // (args.batch * args.clients)) * args.batch * args.clients
    if points <= 0:
        print("--points must be at least --batch × --clients")
        return 2
    print(report.machine_note())
    print(
        f"{points:,} points per phase and round, requests of {args.batch:,} records from {args.clients} "
        f"keep-alive clients, {args.rounds} rounds; HAProxy runs {CONFIG.relative_to(testbed.ROOT)}."
    )
    phases = {name: Phase(name) for name in PHASES}
    problems: list[str] = []
    baseline: tuple[float, float] | None = None
    with ExitStack() as stack:
        options = cli.platform_options(args)
        redis_pid: int | None = None
        if not args.shared_redis and shutil.which("redis-server"):
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pb_bench_redis_")))
            url, redis_port, redis_proc = stack.enter_context(private_redis(workdir))
            options["redis"], redis_pid = url, redis_proc.pid
        platform = stack.enter_context(testbed.Platform(**options))
        run_phases(args, platform, redis_pid, points, phases, problems)
        if redis_pid is not None:
            baseline = publish_baseline(redis_port, redis_pid, PUBLISH_BYTES, PUBLISH_COUNT)

    one = phases["balancer, 1 process"].median(phases["balancer, 1 process"].rates)
    direct = phases["direct"].median(phases["direct"].rates)
    two = phases["balancer, 2 processes"].median(phases["balancer, 2 processes"].rates)
    print()
    rows = []
    for phase in phases.values():
        rate = phase.median(phase.rates)
        via = "" if phase.name == "direct" else f"{phase.requests['node1']:,} / {phase.requests['node2']:,}"
        rows.append(
            [
                phase.name,
                report.fmt_int(rate),
                " ".join(report.fmt_int(r) for r in phase.rates),
                f"{rate / one:.2f}×",
                f"{phase.median(phase.server_us):.1f}",
                f"{phase.median(phase.haproxy_us):.2f}",
                f"{phase.median(phase.postgres_us):.1f}",
                f"{phase.median(phase.redis_us):.2f}",
                via,
            ]
        )
    headers = [
        "phase",
        "points/s (median)",
        "each round",
        "× balancer, 1",
        "server µs/point",
        "haproxy µs/point",
        "PostgreSQL µs/point",
        "Redis µs/point",
        "requests node 1 / node 2",
    ]
    print(report.table(headers, rows, title="HTTP batch ingest (channel dialect) through HAProxy"))
    print()
    # What one core of each party carries at this run's CPU per point (2 processes through the
    # balancer): where the ceiling is once server processes are added.
    two_phase = phases["balancer, 2 processes"]
    parties = [
        ("a server process (Daphne + the write service)", two_phase.median(two_phase.server_us)),
        ("HAProxy", two_phase.median(two_phase.haproxy_us)),
        ("PostgreSQL (backends: point + journal rows)", two_phase.median(two_phase.postgres_us)),
        ("Redis (channel layer: live records, cache)", two_phase.median(two_phase.redis_us)),
    ]
    ceiling = [[name, f"{us:.2f}", report.fmt_int(1e6 / us) if us > 0 else "n/a"] for name, us in parties]
    print(
        report.table(["party", "CPU µs/point", "points/s per core"], ceiling, title="One core of each party")
    )
    if baseline is not None:
        rate, us = baseline
        print(
            f"Redis alone, same run: PUBLISH of {PUBLISH_BYTES} B to one subscriber (redis-benchmark, "
            f"8 connections, pipelined): {rate:,.0f}/s, {us:.2f} µs of Redis CPU each "
            f"= {1e6 / us:,.0f} per Redis core (a command's push between processes is one)"
        )
    print()
    for phase in phases.values():
        for line in phase.summaries:
            print(line)
    print()
    if problems:
        print(f"VERIFY FAILED: {len(problems)} problems; the first: {problems[0]}")
    else:
        print(
            f"verified: every request answered 200 and every point is a row ({points:,} per phase and round)"
        )
    one_us = phases["balancer, 1 process"].median(phases["balancer, 1 process"].server_us)
    two_us = phases["balancer, 2 processes"].median(phases["balancer, 2 processes"].server_us)
    spread = phases["balancer, 2 processes"].requests
    print(
        report.verdict(
            f"the balancer costs ≤ {1 - TARGET_BALANCER_X_DIRECT:.0%} (1 process through it ≥ "
            f"{TARGET_BALANCER_X_DIRECT}× direct)",
            one >= TARGET_BALANCER_X_DIRECT * direct,
            f"{one / direct:.2f}× direct ({one:,.0f} vs {direct:,.0f} points/s)",
        )
    )
    print(
        report.verdict(
            f"2 processes through the balancer ≥ {TARGET_TWO_X_ONE}× 1 process",
            two >= TARGET_TWO_X_ONE * one,
            f"{two / one:.2f}× ({two:,.0f} vs {one:,.0f} points/s); requests "
            f"{spread['node1']:,} / {spread['node2']:,}",
        )
    )
    print(
        report.verdict(
            f"server CPU per point with 2 processes within {TARGET_CPU_PER_POINT_DRIFT:.0%} of 1 process",
            abs(two_us - one_us) <= TARGET_CPU_PER_POINT_DRIFT * one_us,
            f"{two_us:.1f} vs {one_us:.1f} µs/point ({two_us / one_us:.2f}×)",
        )
    )
    return 1 if problems else 0


def wait_until(predicate: Any, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


if __name__ == "__main__":
    cli.run(main)
