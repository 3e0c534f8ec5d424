"""Command latency: an HTTP write of a device's public property → the device receives it over MQTT.

    .venv/bin/python bench/command_latency.py                  # 20 s per run at 200 commands/s
    .venv/bin/python bench/command_latency.py --seconds 60     # the issue's figure

Runs, each at `--rate` commands per second for `--seconds`:

  mosquitto       a paho publisher → Mosquitto (in memory) → a paho subscriber, QoS 1: the floor
  tcp, ws         property dialect POST with an API client key → the same server process → the
                  device (paho, QoS 1, persistent session) over TCP or WebSocket
  tcp-2proc       the write through one server process, the device on another: the push crosses
                  the Redis channel layer

Latency is from the moment the writer starts the request (Mosquitto: the publish call) to the
moment the device's client hands the message over, on one clock (one process). The writer
runs requests on a fixed schedule from `--writers` threads with keep-alive connections; a
request that returns late delays the next of its thread. So the table prints the rate the
writers actually started (`started /s`) and p99 from each command's due time as well, which
counts that wait; the targets are judged on those two (a server that cannot keep up must not
look fast because it was offered less). Every command must arrive and end
`acked`: the run verifies it (exit 1 otherwise). Server CPU per command is printed beside.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import paho.mqtt.client as mqtt  # noqa: E402
import profiler  # noqa: E402
import testbed  # noqa: E402
from cli import base_parser, platform_options, run  # noqa: E402
from meters import cpu_seconds  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from report import table, verdict  # noqa: E402

RUNS = ("mosquitto", "tcp", "ws", "tcp-2proc")
TARGET_P99_MS = 20.0
TARGET_OVER_MOSQUITTO_MS = 5.0
TARGET_RATE_SHARE = 0.95  # of the offered rate, or the latencies describe a lower one


@dataclass
class Outcome:
    name: str
    sent: int = 0
    received: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    acked: int | None = None
    answer_ms: list[float] = field(default_factory=list)  # the HTTP answer's latency (Plugboard)
    due_ms: list[float] = field(default_factory=list)  # arrival - due time: the wait to be sent too
    achieved_rate: float = 0.0  # commands started per second

    def observe(self, started: dict[int, float], due: dict[int, float], arrived: dict[int, float]) -> None:
        self.latencies_ms = latencies(started, arrived)
        self.due_ms = latencies(due, arrived)
        first, last = min(started.values()), max(started.values())
        self.achieved_rate = (len(started) - 1) / (last - first) if last > first else float("nan")

    def due_pct(self, p: float) -> float:
        if not self.due_ms:
            return float("nan")
        ordered = sorted(self.due_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Receiver:
    """A paho client that records when each numbered value arrives."""

    def __init__(
        self, port: int, client_id: str, *, transport: str = "tcp", user: str = "", secret: str = ""
    ):
        self.arrived: dict[int, float] = {}
        self.ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, transport=transport, clean_session=False
        )
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        if user:
            self.client.username_pw_set(user, secret)
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.port = port

    def _message(self, client: Any, userdata: Any, message: Any) -> None:
        now = time.perf_counter()
        try:
            value = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(value, int) and not message.retain:
            self.arrived.setdefault(value, now)

    def start(self, topic: str) -> None:
        self.client.connect("127.0.0.1", self.port, keepalive=25)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        if not self.ready.wait(10):
            raise testbed.BenchError("the device's SUBSCRIBE was not answered")

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def schedule(
    rate: float, seconds: float, writers: int, send: Any
) -> tuple[dict[int, float], dict[int, float]]:
    """Call `send(thread, seq)` at `rate` per second for `seconds` from `writers` threads; the
    time each call started and the time it was due, by sequence number. A writer whose last
    call has not answered starts the next one late: the due times keep that wait in the
    figures (no coordinated omission), the start times leave it out."""
    total = int(rate * seconds)
    started: dict[int, float] = {}
    t0 = time.perf_counter() + 0.2
    due = {seq: t0 + seq / rate for seq in range(total)}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for seq in range(index, total, writers):
                delay = due[seq] - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                started[seq] = time.perf_counter()
                send(index, seq)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise testbed.BenchError(f"a writer failed: {errors[0]!r}")
    return started, due


def wait_for_arrivals(receiver: Receiver, count: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.arrived) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def latencies(started: dict[int, float], arrived: dict[int, float]) -> list[float]:
    return [(arrived[s] - t) * 1000 for s, t in started.items() if s in arrived]


# --- Mosquitto -------------------------------------------------------------------------------------


def run_mosquitto(args: Any) -> Outcome:
    work = Path(tempfile.mkdtemp(prefix="pb_bench_mosquitto_"))
    port = testbed.free_port()
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n"
    )
    proc = subprocess.Popen(
        [args.mosquitto, "-c", str(work / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    outcome = Outcome("Mosquitto (paho pub → sub, QoS 1)")
    try:
        deadline = time.monotonic() + 10
        while not testbed.port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise testbed.BenchError("mosquitto did not start")
            time.sleep(0.05)
        receiver = Receiver(port, "bench-device")
        receiver.start("bench/commands/#")
        publishers = []
        for i in range(args.writers):
            pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-writer-{i}")
            pub.connect("127.0.0.1", port)
            pub.loop_start()
            publishers.append(pub)
        before = cpu_seconds(proc.pid)

        def send(index: int, seq: int) -> None:
            publishers[index].publish("bench/commands/setpoint", str(seq), qos=1)

        started, due = schedule(args.rate, args.seconds, args.writers, send)
        wait_for_arrivals(receiver, len(started))
        outcome.server_cpu_s = cpu_seconds(proc.pid) - before
        outcome.sent, outcome.received = len(started), len(receiver.arrived)
        outcome.observe(started, due, receiver.arrived)
        for pub in publishers:
            pub.disconnect()
            pub.loop_stop()
        receiver.stop()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    return outcome


# --- Plugboard -------------------------------------------------------------------------------------


def second_server(platform: testbed.Platform) -> tuple[subprocess.Popen[bytes], int, int]:
    """Another `manage.py serve` on the same database and Redis (another process, other ports)."""
    http_port, mqtt_port = testbed.free_port(), testbed.free_port()
    log = open(platform.var_dir / "serve-2.log", "wb")  # noqa: SIM115 - the server owns it
    proc = subprocess.Popen(
        [
            str(testbed.VENV_PYTHON),
            "manage.py",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(http_port),
            "--mqtt-port",
            str(mqtt_port),
            "--no-expiry",
        ],
        cwd=testbed.ROOT,
        env=platform.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 60
    while not (testbed.port_open(http_port) and testbed.port_open(mqtt_port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise testbed.BenchError("the second server did not start")
        time.sleep(0.1)
    return proc, http_port, mqtt_port


def provision(platform: testbed.Platform, name: str) -> dict[str, Any]:
    """A device with a public number property `setpoint`, and an API client key that writes it."""
    account = platform.account(email=f"{name}@example.com")
    plug = platform.plug(account["email"], name)
    key = platform.manage(
        "createkey", "--account", account["email"], "--kind", "apiclient", "--scope", "device:write-data"
    )
    master = base64.b64encode(f"{account['email']}:{account['password']}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", platform.http_port, timeout=10)
    body = json.dumps({"name": "setpoint", "type": "number", "access": "public"})
    conn.request(
        "POST",
        f"/v3/devices/{plug['id']}/properties",
        body,
        {"Authorization": f"Basic {master}", "Content-Type": "application/json"},
    )
    answer = conn.getresponse()
    answer.read()
    if answer.status != 201:
        raise testbed.BenchError(f"defining the property answered {answer.status}")
    return {"plug": plug, "key": key}


def run_plugboard(args: Any, platform: testbed.Platform, kind: str) -> Outcome:
    names = {
        "tcp": "Plugboard, device over TCP, same process",
        "ws": "Plugboard, device over WebSocket, same process",
        "tcp-2proc": "Plugboard, device over TCP on another process (Redis layer)",
    }
    outcome = Outcome(names[kind])
    world = provision(platform, f"lat-{kind}")
    plug, key = world["plug"], world["key"]
    extra = None
    device_port = platform.http_port if kind == "ws" else platform.mqtt_port
    server_pids = [platform.pid]
    if kind == "tcp-2proc":
        extra, _, device_port = second_server(platform)
        server_pids.append(extra.pid)
    try:
        receiver = Receiver(
            device_port,
            plug["id"],
            transport="websockets" if kind == "ws" else "tcp",
            user=plug["id"],
            secret=plug["auth"],
        )
        receiver.start(f"csipio/data/in/devices/{plug['id']}/properties/#")
        auth = base64.b64encode(f"{key['id']}:{key['secret']}".encode()).decode()
        headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
        connections = [
            http.client.HTTPConnection("127.0.0.1", platform.http_port, timeout=10)
            for _ in range(args.writers)
        ]
        path = f"/v3/data/devices/{plug['id']}"
        refused: list[int] = []
        answered: dict[int, float] = {}

        def send(index: int, seq: int) -> None:
            conn = connections[index]
            conn.request("POST", path, json.dumps({"setpoint": seq}), headers)
            answer = conn.getresponse()
            receipt = answer.read()
            answered[seq] = time.perf_counter()
            if answer.status != 200 or json.loads(receipt).get("accepted") != 1:
                refused.append(seq)

        before = sum(cpu_seconds(pid) for pid in server_pids)
        out = Path(tempfile.gettempdir()) / f"pb_bench_command_{kind}_{platform.pid}.txt"
        with profiler.Profiler(platform.pid, args.profile, out):
            started, due = schedule(args.rate, args.seconds, args.writers, send)
        wait_for_arrivals(receiver, len(started))
        outcome.server_cpu_s = sum(cpu_seconds(pid) for pid in server_pids) - before
        if refused:
            raise testbed.BenchError(f"{len(refused)} writes were refused, the first: {refused[0]}")
        outcome.sent, outcome.received = len(started), len(receiver.arrived)
        outcome.observe(started, due, receiver.arrived)
        outcome.answer_ms = latencies(started, answered)
        time.sleep(1.0)  # the last PUBACKs reach the database
        receiver.stop()
        for conn in connections:
            conn.close()
        with platform.connect() as db:
            outcome.acked = db.execute(
                "SELECT count(*) FROM commands_command WHERE plug_id = %s AND state = 'acked'", [plug["id"]]
            ).fetchone()[0]
    finally:
        if extra is not None:
            extra.terminate()
            extra.wait(timeout=15)
    return outcome


def main() -> int:
    parser = base_parser(__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="commands per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--writers", type=int, default=4, help="writer threads (keep-alive connections)")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--mosquitto", default=shutil.which("mosquitto") or "mosquitto")
    args = parser.parse_args()
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    outcomes = []
    if "mosquitto" in args.runs:
        outcomes.append(run_mosquitto(args))
    kinds = [r for r in args.runs if r != "mosquitto"]
    if kinds:
        with testbed.Platform(**platform_options(args)) as platform:
            for kind in kinds:
                outcomes.append(run_plugboard(args, platform, kind))
                platform.check_alive()
    rows = []
    for o in outcomes:
        cpu = f"{o.server_cpu_s / o.sent * 1e6:,.0f}" if o.sent else "n/a"
        rows.append(
            [
                o.name,
                f"{o.achieved_rate:.0f}",
                o.sent,
                o.received,
                "" if o.acked is None else o.acked,
                f"{o.pct(50):.1f}",
                f"{o.pct(99):.1f}",
                f"{max(o.latencies_ms, default=float('nan')):.1f}",
                f"{o.due_pct(99):.1f}",
                f"{sorted(o.answer_ms)[len(o.answer_ms) // 2]:.1f}" if o.answer_ms else "",
                cpu,
            ]
        )
    print(
        table(
            [
                "run",
                "started /s",
                "sent",
                "received",
                "acked",
                "p50 ms",
                "p99 ms",
                "max ms",
                "p99 from due ms",
                "HTTP answer p50 ms",
                "server CPU µs/command",
            ],
            rows,
            f"Command latency at {args.rate:.0f} commands/s for {args.seconds:.0f} s per run",
        )
    )
    failed = False
    for o in outcomes:
        if o.received != o.sent or (o.acked is not None and o.acked != o.sent):
            print(f"VERIFY FAILED: {o.name}: sent {o.sent}, received {o.received}, acked {o.acked}")
            failed = True
    mosquitto = next((o for o in outcomes if o.name.startswith("Mosquitto")), None)
    for o in outcomes:
        kept_up = o.achieved_rate >= TARGET_RATE_SHARE * args.rate
        print(
            verdict(
                f"{o.name}: started ≥ {TARGET_RATE_SHARE:.0%} of {args.rate:.0f} commands/s",
                kept_up,
                f"{o.achieved_rate:.0f}/s",
            )
        )
        if o is mosquitto:
            continue
        # Judged from the due times: a command that waited for its writer waited for the server.
        p99 = o.due_pct(99)
        print(
            verdict(f"{o.name}: p99 ≤ {TARGET_P99_MS:.0f} ms from due", p99 <= TARGET_P99_MS, f"{p99:.1f} ms")
        )
        if mosquitto and "same process" in o.name:
            gap = o.due_pct(99) - mosquitto.due_pct(99)
            print(
                verdict(
                    f"{o.name}: p99 within {TARGET_OVER_MOSQUITTO_MS:.0f} ms of Mosquitto's",
                    gap <= TARGET_OVER_MOSQUITTO_MS,
                    f"{gap:+.1f} ms",
                )
            )
    return 1 if failed else 0


if __name__ == "__main__":
    run(main)
