#!/usr/bin/env python3
"""MQTT QoS 1 publish throughput: Plugboard over TCP and WebSocket against Mosquitto.

100 device connections (one plug each: client id = plug id, username = its device key id,
password = its secret) keep 20 QoS 1 publishes in flight each; a publish counts once its PUBACK
is back. Plugboard acknowledges only after the point is committed in PostgreSQL; afterwards the
script checks that every acknowledged message is in the database (one journal entry per
message, and for the channel topic one data point per message).

Runs (all by default):
  mosquitto    the same load through a Mosquitto started here (in-memory, no persistence), with
               one subscriber to `#` consuming, so Mosquitto relays every message
  tcp          Plugboard, TCP, `csipio/data/out/devices/{id}/properties/p`, payload a number
  tcp-channel  Plugboard, TCP, `{id}/data/b`, payload `{"data": n, "at": unique ms}`
  ws           Plugboard, WebSocket ws://127.0.0.1:P/mqtt, the property topic

    .venv/bin/python bench/mqtt_publish.py                    # ~2 minutes
    .venv/bin/python bench/mqtt_publish.py --messages 500000 --runs tcp,mosquitto
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline  # noqa: E402
import cli  # noqa: E402
import meters  # noqa: E402
import mqtt_load  # noqa: E402
import profiler  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402

TARGET_MSG_S = 15_000
TARGET_X_MOSQUITTO = 0.4
TARGET_X_DURABLE_LIMIT = 0.7
TARGET_SERVER_CPU_X_MOSQUITTO = 3.0  # server CPU per acked message ≤ this × Mosquitto's per relayed one
TARGET_WS_X_TCP = 0.8
FLOOR_BATCH = 1_000  # rows per transaction of the two-row floor, as in http_write.py
RUNS = ("mosquitto", "tcp", "tcp-channel", "ws")


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0], workers=2)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--inflight", type=int, default=20, help="QoS 1 publishes in flight per connection")
    parser.add_argument("--messages", type=int, default=100_000, help="messages per run (all connections)")
    parser.add_argument(
        "--max-seconds", type=float, default=45, help="stop sending after this long (the run still counts)"
    )
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated subset of {','.join(RUNS)}")
    parser.add_argument("--mosquitto", default=shutil.which("mosquitto") or "mosquitto")
    args = parser.parse_args()
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = set(args.runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    return args


@dataclass
class Outcome:
    name: str
    connections: int
    messages: int = 0
    seconds: float = 0.0
    connect_seconds: float = 0.0
    stopped_early: bool = False
    note: str = ""
    verified: bool | None = None
    verify_detail: str = ""
    cpu: str = ""
    # CPU microseconds per acked message, by process group ("server", "postgres", …).
    cpu_per_message: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


# --- one load run ----------------------------------------------------------------------------------


@dataclass
class Device:
    client_id: str
    username: str | None
    password: str | None
    topic: Callable[[int], tuple[str, bytes]]


async def load(
    port: int,
    devices: list[Device],
    per_connection: int,
    window: int,
    max_seconds: float,
    websocket_path: str | None = None,
    around: Sequence[AbstractContextManager[Any]] = (),
) -> tuple[int, float, float, bool]:
    """Connect every device, publish, wait for every ack: (acked, seconds, connect seconds, stopped).

    The context managers in `around` (CPU meter, profiler) cover the publishing phase only."""
    t0 = time.perf_counter()
    clients: list[mqtt_load.MqttLoadClient] = []
    for chunk in range(0, len(devices), 50):
        clients += await asyncio.gather(
            *(
                mqtt_load.mqtt_open(
                    port,
                    client_id=d.client_id,
                    username=d.username,
                    password=d.password,
                    websocket_path=websocket_path,
                )
                for d in devices[chunk : chunk + 50]
            )
        )
    connect_seconds = time.perf_counter() - t0
    with ExitStack() as stack:
        for manager in around:
            stack.enter_context(manager)
        start = time.perf_counter()
        for client, device in zip(clients, devices, strict=True):
            client.start(per_connection, window, device.topic)
        stopped = False
        try:
            await asyncio.wait_for(asyncio.gather(*(c.finished for c in clients)), timeout=max_seconds)
        except TimeoutError:
            stopped = True
            for c in clients:
                c.stop()
            await asyncio.wait_for(asyncio.gather(*(c.finished for c in clients)), timeout=60)
        seconds = time.perf_counter() - start
    acked = sum(c.acked for c in clients)
    for c in clients:
        c.disconnect()
    await asyncio.wait_for(asyncio.gather(*(c.closed for c in clients), return_exceptions=True), timeout=30)
    return acked, seconds, connect_seconds, stopped


# --- Mosquitto ---------------------------------------------------------------------------------------


def run_mosquitto(args: Any, per_connection: int) -> Outcome:
    work = Path(tempfile.mkdtemp(prefix="pb_bench_mosquitto_"))
    port = testbed.free_port()
    conf = work / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n"
    )
    proc = subprocess.Popen(
        [args.mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=work
    )
    outcome = Outcome("Mosquitto 2 (TCP, in memory, 1 subscriber)", args.connections)
    try:
        deadline = time.monotonic() + 10
        while not testbed.port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise testbed.BenchError(f"mosquitto did not start: {err}")
            time.sleep(0.05)
        devices = [
            Device(f"bench-pub-{i}", None, None, property_topic(f"dev-{i:024x}"))
            for i in range(args.connections)
        ]

        async def go() -> tuple[int, float, float, bool, int]:
            sub = await mqtt_load.mqtt_open(port, client_id="bench-subscriber")
            sub.subscribe("#", 0)
            await asyncio.wait_for(sub.subscribed, 10)
            meter = _process_meter(proc.pid)
            acked, seconds, connect_s, stopped = await load(
                port, devices, per_connection, args.inflight, args.max_seconds, around=[meter]
            )
            # Let the subscriber drain what Mosquitto still relays (not timed).
            deadline = time.monotonic() + 15
            while sub.received_publishes < acked and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            received = sub.received_publishes
            sub.disconnect()
            outcome.cpu = meter.summary("mosquitto")
            outcome.cpu_per_message = _per_message(acked, mosquitto=meter.proc, load_generator=meter.client)
            if meter.client / (meter.wall or 1.0) > 0.8:
                outcome.note = (
                    "the load generator used most of a core (Python, one thread): Mosquitto was not "
                    "saturated, so its rate is a lower bound and the × Mosquitto ratios are generous"
                )
            return acked, seconds, connect_s, stopped, received

        acked, seconds, connect_s, stopped, received = asyncio.run(go())
        outcome.messages, outcome.seconds = acked, seconds
        outcome.connect_seconds, outcome.stopped_early = connect_s, stopped
        outcome.verified = received == acked
        outcome.verify_detail = f"subscriber received {received:,} of {acked:,} relayed messages (QoS 0)"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    return outcome


def _per_message(messages: int, **cpu_seconds: float) -> dict[str, float]:
    return {name.replace("_", " "): 1e6 * v / messages for name, v in cpu_seconds.items()} if messages else {}


def cpu_budget(outcome: Outcome, mosquitto: Outcome) -> str:
    """What the ratio target asks of the machine at this run's CPU cost per message."""
    target = TARGET_X_MOSQUITTO * mosquitto.rate
    parts = outcome.cpu_per_message
    per_message = sum(parts.values())
    cores = target * per_message / 1e6
    spent = " + ".join(f"{name} {us:.1f}" for name, us in parts.items())
    return (
        f"{outcome.name}: {spent} = {per_message:.1f} µs of CPU per message; "
        f"at {TARGET_X_MOSQUITTO}× Mosquitto ({target:,.0f} msg/s) that is {cores:.2f} cores "
        f"of this machine's {os.cpu_count()}"
    )


def durable_table(outcomes: list[Outcome], mosquitto: Outcome, floor: Floor) -> str:
    """Each run beside Mosquitto and beside the durable limit (`durable_limit`), same run."""
    broker = mosquitto.cpu_per_message.get("mosquitto", 0.0)
    rows = [
        [
            "Mosquitto (relays from memory)",
            f"{broker:.1f}",
            "",
            "1.0×",
            report.fmt_int(mosquitto.rate),
            "1.00×",
            "",
        ],
        [
            f"durable limit: Mosquitto + PostgreSQL's two rows ({floor.postgres_us:.1f} µs, COPY)",
            f"{broker:.1f}",
            f"{floor.postgres_us:.1f}",
            "",
            "",
            "",
            "1.00×",
        ],
    ]
    for o in outcomes:
        if not o.name.startswith("Plugboard") or not o.cpu_per_message:
            continue
        _, limit = durable_limit(o, mosquitto, floor)
        server = o.cpu_per_message["server"]
        rows.append(
            [
                o.name,
                f"{server:.1f}",
                f"{o.cpu_per_message.get('postgres', 0.0):.1f}",
                f"{server / broker:.1f}×" if broker else "n/a",
                report.fmt_int(o.rate),
                f"{o.rate / mosquitto.rate:.2f}×" if mosquitto.rate else "n/a",
                f"{o.rate / limit:.2f}× ({report.fmt_int(limit)}/s)" if limit else "n/a",
            ]
        )
    return report.table(
        [
            "",
            "server µs/msg",
            "PostgreSQL µs/msg",
            "server × Mosquitto CPU",
            "msg/s",
            "× Mosquitto",
            "× durable limit",
        ],
        rows,
    )


class _process_meter:  # noqa: N801 - used like a function
    """CPU of one process (Mosquitto) and of this one over a block."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> _process_meter:
        self.t0 = time.perf_counter()
        self.p0 = meters.cpu_seconds(self.pid)
        self.c0 = meters.own_cpu_seconds()
        self.s0 = meters.system_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.proc = meters.cpu_seconds(self.pid) - self.p0
        self.client = meters.own_cpu_seconds() - self.c0
        s1 = meters.system_cpu()
        self.busy, self.capacity = s1[0] - self.s0[0], s1[1] - self.s0[1]

    def summary(self, name: str) -> str:
        w = self.wall or 1.0
        others = max(0.0, self.busy - self.proc - self.client)
        return (
            f"CPU (cores): {name} {self.proc / w:.2f}, load generator {self.client / w:.2f}, "
            f"other processes {others / w:.2f}, idle {max(0.0, self.capacity - self.busy) / w:.2f}"
        )


# --- Plugboard -----------------------------------------------------------------------------------------


def property_topic(plug_id: str) -> Callable[[int], tuple[str, bytes]]:
    topic = f"csipio/data/out/devices/{plug_id}/properties/p"

    def message(n: int) -> tuple[str, bytes]:
        return topic, str(n).encode()

    return message


def channel_topic(plug_id: str, base_at: int) -> Callable[[int], tuple[str, bytes]]:
    topic = f"{plug_id}/data/b"

    def message(n: int) -> tuple[str, bytes]:
        return topic, b'{"data":%d,"at":%d}' % (n, base_at + n)

    return message


def count_stored(
    platform: testbed.Platform, plug_ids: list[str], source: str, channel: str
) -> tuple[int, int]:
    """(journal entries of data events, data points) for the plugs on that channel."""
    with platform.connect() as conn:
        journal = conn.execute(
            "SELECT count(*) FROM data_journalentry WHERE event = 'data' AND source = %s AND channel = %s "
            'AND "of" = ANY(%s)',
            [source, channel, plug_ids],
        ).fetchone()
        points = conn.execute(
            'SELECT count(*) FROM data_datapoint WHERE channel = %s AND "of" = ANY(%s)', [channel, plug_ids]
        ).fetchone()
    return int(journal[0]) if journal else 0, int(points[0]) if points else 0


@dataclass
class Floor:
    """The two rows every acked message is (a data point and its journal entry), COPYed in by
    PostgreSQL alone: no MQTT, no Python service."""

    messages: int
    seconds: float
    postgres_us: float  # PostgreSQL backend CPU per message
    cpu: str

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def measure_floor(platform: testbed.Platform, messages: int) -> Floor:
    base_at = time.time_ns() // 1_000_000  # journal rows of today, where the server writes its own
    with meters.CpuMeter(platform) as meter:
        seconds = baseline.two_row_floor(
            platform, messages, 100, base_at, FLOOR_BATCH, source="mqtt-tcp", remove=False
        )
    baseline.remove_rows(platform, baseline.FLOOR_ACCOUNT, messages, "two-row floor", baseline.FLOOR_TABLES)
    return Floor(messages, seconds, 1e6 * meter.postgres / messages, meter.summary())


def durable_limit(outcome: Outcome, mosquitto: Outcome, floor: Floor) -> tuple[float, float]:
    """(µs of CPU per message, messages/s) of this machine's durable limit beside this run: a
    broker that costs what Mosquitto costs per message, plus what PostgreSQL alone spends on the
    message's two rows, plus this run's own load generator; all of the machine's cores at that
    cost, and never more than Mosquitto relayed (its own load generator's limit)."""
    broker_us = mosquitto.cpu_per_message.get("mosquitto", 0.0) + floor.postgres_us
    total_us = broker_us + outcome.cpu_per_message.get("load generator", 0.0)
    cores = os.cpu_count() or 1
    return broker_us, min(mosquitto.rate, cores * 1e6 / total_us) if total_us else 0.0


def run_plugboard(args: Any, per_connection: int, runs: list[str]) -> tuple[list[Outcome], Floor | None]:
    outcomes = []
    floor = None
    with testbed.Platform(**cli.platform_options(args)) as platform:
        account = platform.account()
        t0 = time.perf_counter()
        plugs = platform.plugs_bulk(account["email"], "bench-dev-", args.connections)
        print(
            f"provisioned {len(plugs)} plugs in {time.perf_counter() - t0:.1f} s; server pid {platform.pid}"
        )
        plug_ids = [p["id"] for p in plugs]
        base_at = time.time_ns() // 1_000_000 - 86_400_000
        for run in runs:
            websocket = run == "ws"
            source = "mqtt-ws" if websocket else "mqtt-tcp"
            channel = "b" if run == "tcp-channel" else "p"
            devices = [
                Device(
                    p["id"],
                    p["key_id"],
                    p["auth"],
                    channel_topic(p["id"], base_at) if channel == "b" else property_topic(p["id"]),
                )
                for p in plugs
            ]
            label = {
                "tcp": "Plugboard TCP (property topic)",
                "tcp-channel": "Plugboard TCP (channel topic)",
                "ws": "Plugboard WebSocket (property topic)",
            }[run]
            outcome = Outcome(label, args.connections)
            port = platform.http_port if websocket else platform.mqtt_port
            journal0, _ = count_stored(platform, plug_ids, source, channel)
            profile_out = Path(tempfile.gettempdir()) / f"pb_bench_mqtt_{run}_{platform.pid}.txt"
            meter = meters.CpuMeter(platform)
            acked, seconds, connect_s, stopped = asyncio.run(
                load(
                    port,
                    devices,
                    per_connection,
                    args.inflight,
                    args.max_seconds,
                    websocket_path="/mqtt" if websocket else None,
                    around=[profiler.Profiler(platform.pid, args.profile, profile_out), meter],
                )
            )
            platform.check_alive()
            outcome.messages, outcome.seconds = acked, seconds
            outcome.connect_seconds, outcome.stopped_early = connect_s, stopped
            outcome.cpu = meter.summary()
            outcome.cpu_per_message = _per_message(
                acked, server=meter.server, postgres=meter.postgres, load_generator=meter.client
            )
            journal1, points = count_stored(platform, plug_ids, source, channel)
            journaled = journal1 - journal0
            if channel == "b":
                outcome.verified = journaled == acked and points == acked
                outcome.verify_detail = (
                    f"{journaled:,} journal entries and {points:,} data points for {acked:,} acked messages"
                )
            else:
                outcome.verified = journaled == acked
                outcome.verify_detail = (
                    f"{journaled:,} journal entries for {acked:,} acked messages "
                    f"(data points: {points:,} — server-time messages within one ms replace each other)"
                )
            outcomes.append(outcome)
        floor = measure_floor(platform, args.messages)
        print(f"two-row floor: {floor.messages:,} messages in {floor.seconds:.2f} s; {floor.cpu}")
    return outcomes, floor


# --- main ------------------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    testbed.raise_nofile(4 * args.connections + 256)
    per_connection = max(1, args.messages // args.connections)
    print(report.machine_note())
    print(
        f"{args.connections} connections × {per_connection:,} QoS 1 messages, "
        f"{args.inflight} in flight each; runs stop sending after {args.max_seconds:.0f} s. "
        f"`serve --workers {args.workers}`."
    )
    outcomes: list[Outcome] = []
    if "mosquitto" in args.runs:
        outcomes.append(run_mosquitto(args, per_connection))
    plugboard_runs = [r for r in args.runs if r != "mosquitto"]
    floor = None
    if plugboard_runs:
        plugboard, floor = run_plugboard(args, per_connection, plugboard_runs)
        outcomes += plugboard

    mosquitto = next((o for o in outcomes if o.name.startswith("Mosquitto")), None)
    print()
    rows = []
    for o in outcomes:
        ratio = f"{o.rate / mosquitto.rate:.2f}×" if mosquitto and mosquitto.rate else "n/a"
        rows.append(
            [
                o.name + (" *" if o.stopped_early else ""),
                str(o.connections),
                report.fmt_int(o.messages),
                f"{o.seconds:.2f}",
                report.fmt_int(o.rate),
                ratio,
            ]
        )
    print(report.table(["transport", "connections", "messages", "seconds", "msg/s", "× Mosquitto"], rows))
    if any(o.stopped_early for o in outcomes):
        print(f"* stopped sending after --max-seconds {args.max_seconds:.0f}; the acked messages are counted")
    print()
    for o in outcomes:
        print(f"{o.name}: connect {o.connections} in {o.connect_seconds:.2f} s; {o.cpu}")
        if o.note:
            print(f"  note: {o.note}")
    print()
    ok = True
    for o in outcomes:
        if o.verified is not None:
            print(f"{'verified' if o.verified else 'VERIFY FAILED'} {o.name}: {o.verify_detail}")
            ok = ok and (o.verified or o.name.startswith("Mosquitto"))
    print()
    plugboard = [o for o in outcomes if o.name.startswith("Plugboard")]
    for o in plugboard:
        print(
            report.verdict(
                f"{o.name} ≥ {TARGET_MSG_S:,} msg/s", o.rate >= TARGET_MSG_S, f"{o.rate:,.0f} msg/s"
            )
        )
        if mosquitto and mosquitto.rate:
            x = o.rate / mosquitto.rate
            print(
                report.verdict(
                    f"{o.name} ≥ {TARGET_X_MOSQUITTO}× Mosquitto",
                    x >= TARGET_X_MOSQUITTO,
                    f"{x:.2f}× ({mosquitto.rate:,.0f} msg/s)",
                )
            )
        if mosquitto and mosquitto.cpu_per_message and floor is not None and o.cpu_per_message:
            _, limit = durable_limit(o, mosquitto, floor)
            print(
                report.verdict(
                    f"{o.name} ≥ {TARGET_X_DURABLE_LIMIT}× the durable limit",
                    o.rate >= TARGET_X_DURABLE_LIMIT * limit,
                    f"{o.rate / limit:.2f}× ({limit:,.0f} msg/s)",
                )
            )
        if mosquitto and mosquitto.cpu_per_message.get("mosquitto") and o.cpu_per_message:
            server, broker = o.cpu_per_message["server"], mosquitto.cpu_per_message["mosquitto"]
            print(
                report.verdict(
                    f"{o.name}: server CPU per acked message"
                    f" ≤ {TARGET_SERVER_CPU_X_MOSQUITTO:.0f}× Mosquitto's",
                    server <= TARGET_SERVER_CPU_X_MOSQUITTO * broker,
                    f"{server:.1f} µs = {server / broker:.1f}× ({broker:.1f} µs)",
                )
            )
    tcp = next((o for o in plugboard if o.name == "Plugboard TCP (property topic)"), None)
    ws = next((o for o in plugboard if o.name.startswith("Plugboard WebSocket")), None)
    if tcp and ws and tcp.rate:
        print(
            report.verdict(
                f"WebSocket within {100 - 100 * TARGET_WS_X_TCP:.0f}% of TCP (property topic)",
                ws.rate >= TARGET_WS_X_TCP * tcp.rate,
                f"{ws.rate / tcp.rate:.2f}× TCP",
            )
        )
    if mosquitto and mosquitto.cpu_per_message:
        print()
        print("CPU per acked message, in microseconds (all of it: server, PostgreSQL, load generator):")
        spent = " + ".join(f"{name} {us:.1f}" for name, us in mosquitto.cpu_per_message.items())
        print(f"{mosquitto.name}: {spent}")
        for o in outcomes:
            if o.name.startswith("Plugboard") and o.cpu_per_message:
                print(cpu_budget(o, mosquitto))
        if floor is not None:
            print()
            print(durable_table(outcomes, mosquitto, floor))
    return 0 if ok else 1


if __name__ == "__main__":
    cli.run(main)
