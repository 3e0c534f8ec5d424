#!/usr/bin/env python3
"""Data connectors: what forwarding costs ingest, and how far behind delivery runs.

1. Ingest: HTTP batch writes (property dialect, `--batch` points a request) to devices one
   `http` connector watches, against the same writes to devices no connector watches, in
   interleaved rounds (A/B in one run; no worker runs, so this is the write's own cost: the
   outbox rows committed with the points).
2. Delivery: a Celery worker (`--pool=threads`, beat embedded for retries) forwards a steady
   `--rate` points/s for `--seconds` into a local HTTP sink, then Mosquitto (1883), then RabbitMQ
   (5672), one connector at a time; the lag of a point is its arrival at the receiver minus its
   time `t` (set to when it was sent). Backlog: what was still pending at the end of the window.

    .venv/bin/python bench/outbound.py                        # defaults: ~3 minutes
    .venv/bin/python bench/outbound.py --seconds 60 --rate 3000
"""

from __future__ import annotations

import http.client
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import meters  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402

TARGET_INGEST_RATIO = 0.8
TARGET_LAG_P99_S = 2.0
ALLOW = {"PLUGBOARD_OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8", "PLUGBOARD_OUTBOUND_SWEEP_SECONDS": "1"}


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0], workers=1)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients in the ingest A/B")
    parser.add_argument("--points", type=int, default=50_000, help="points per side per round (ingest)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved A/B rounds (ingest)")
    parser.add_argument("--batch", type=int, default=1_000, help="points per request (ingest)")
    parser.add_argument("--devices", type=int, default=10, help="devices written (each side)")
    parser.add_argument("--rate", type=int, default=2_000, help="points/s offered in the delivery runs")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each delivery run")
    parser.add_argument("--targets", default="http,mqtt,amqp", help="delivery runs to make")
    return parser.parse_args()


# --- receivers (in this process): each records the lag of every point it gets ---------------------


class Lags:
    def __init__(self) -> None:
        self.values: list[float] = []
        self.lock = threading.Lock()

    def add(self, points: list[dict[str, Any]]) -> None:
        """The lags of the steady runs' points (their value says when they were sent); the
        ingest phase's points (plain numbers) are only drained."""
        now = time.time()
        with self.lock:
            self.values.extend(now - p["v"]["sent"] for p in points if isinstance(p["v"], dict))


def http_sink(lags: Lags) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            lags.add(json.loads(body)["points"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", testbed.free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def mqtt_reader(lags: Lags, prefix: str) -> Any:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    subscribed = threading.Event()
    client.on_message = lambda c, u, m: lags.add([json.loads(m.payload)])
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", 1883)
    client.subscribe(f"{prefix}/#", qos=1)
    client.loop_start()
    if not subscribed.wait(10):
        raise testbed.BenchError("Mosquitto did not acknowledge the subscription")
    return client


def amqp_reader(lags: Lags, exchange: str) -> threading.Event:
    import pika

    stop = threading.Event()
    ready = threading.Event()

    def consume() -> None:
        connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", auto_delete=True)
        declared = channel.queue_declare("", exclusive=True)
        channel.queue_bind(declared.method.queue, exchange, routing_key="#")
        ready.set()
        for _method, _props, body in channel.consume(
            declared.method.queue, auto_ack=True, inactivity_timeout=0.2
        ):
            if body is not None:
                lags.add([json.loads(body)])
            if stop.is_set():
                break
        connection.close()

    threading.Thread(target=consume, daemon=True).start()
    if not ready.wait(10):
        raise testbed.BenchError("RabbitMQ did not set up the test queue")
    return stop


# --- platform set-up ----------------------------------------------------------------------------------


def setup(platform: testbed.Platform, email: str, devices: int) -> dict[str, Any]:
    """An app with `devices` things plugged in, `devices` loose things; their credentials."""
    code = f"""
from devices.models import Control, Plug
from devices.services.plugs import plug_create
from plugboard.models import Account
account = Account.objects.get(email__iexact={email!r})
app = plug_create(account=account, name="bench-app", kind=Plug.Kind.CONTROLLER).plug
out = {{"app": app.id, "watched": [], "loose": []}}
for side in ("watched", "loose"):
    for i in range({int(devices)}):
        e = plug_create(account=account, name=f"{{side}}-{{i:03d}}")
        if side == "watched":
            Control.objects.create(controller=app, thing=e.plug, rights="rw")
        out[side].append({{"id": e.plug.id, "auth": e.auth}})
print(json.dumps(out))
"""
    return dict(platform.django_script(code))


def connector(platform: testbed.Platform, app: str, body: dict[str, Any]) -> str:
    code = f"""
from devices.models import Plug
from outbound.connectors import connector_create, connector_delete
from outbound.models import DataConnector
for c in DataConnector.objects.all():
    connector_delete(connector=c)
made = connector_create(app=Plug.objects.get(id={app!r}), body={body!r})
print(json.dumps(made.id))
"""
    return str(platform.django_script(code))


def outbox_counts(platform: testbed.Platform) -> tuple[int, int]:
    with platform.connect() as conn:
        pending = conn.execute("SELECT count(*) FROM outbound_message WHERE NOT dead").fetchone()
        delivered = conn.execute("SELECT coalesce(sum(delivered), 0) FROM outbound_target").fetchone()
    return int(pending[0]), int(delivered[0])


# --- load ---------------------------------------------------------------------------------------------


def post(conn: http.client.HTTPConnection, device: dict[str, Any], body: bytes) -> None:
    headers = {"X-Plug-Id": device["id"], "X-Plug-Auth": device["auth"], "Content-Type": "application/json"}
    conn.request("POST", f"/v3/data/devices/{device['id']}/properties", body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise testbed.BenchError(f"write answered {response.status}: {payload[:200]!r}")


def ingest(
    port: int, devices: list[dict[str, Any]], points: int, batch: int, clients: int, base: int
) -> float:
    """Write `points` to `devices` in batches from `clients` connections; wall seconds."""
    work: queue.SimpleQueue[tuple[dict[str, Any], bytes] | None] = queue.SimpleQueue()
    for r in range(points // batch):
        dps = [{"prop": f"p{i % 5}", "t": base + r * batch + i, "v": i} for i in range(batch)]
        work.put((devices[r % len(devices)], json.dumps({"dps": dps}, separators=(",", ":")).encode()))
    for _ in range(clients):
        work.put(None)
    errors: list[Exception] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while (item := work.get()) is not None:
                post(conn, *item)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise testbed.BenchError(f"ingest failed: {errors[0]}")
    return time.perf_counter() - start


def steady(port: int, devices: list[dict[str, Any]], rate: int, seconds: float) -> int:
    """Offer `rate` points/s for `seconds`: every 100 ms one request per device, each device from
    a thread of its own (a slow answer delays only its device); points sent."""
    per_device = max(1, rate // 10 // len(devices))
    sent = [0] * len(devices)
    start = time.monotonic()

    def device_loop(n: int, device: dict[str, Any]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        tick = 0
        while time.monotonic() - start < seconds:
            now = time.time()
            dps = [{"prop": "lag", "t": int(now * 1000) + i, "v": {"sent": now}} for i in range(per_device)]
            post(conn, device, json.dumps({"dps": dps}).encode())
            sent[n] += per_device
            tick += 1
            pause = start + tick * 0.1 - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        conn.close()

    threads = [threading.Thread(target=device_loop, args=(n, d)) for n, d in enumerate(devices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(sent)


def start_worker(platform: testbed.Platform) -> subprocess.Popen[bytes]:
    command = [str(testbed.VENV_PYTHON), "-m", "celery", "-A", "plugboard.celery", "worker", "-B"]
    command += ["--pool=threads", "--concurrency=4", "--without-gossip", "--without-mingle"]
    command += ["--loglevel=WARNING"]
    log = open(platform.var_dir / "worker.log", "ab")  # noqa: SIM115 - the worker owns it
    return subprocess.Popen(command, cwd=testbed.ROOT, env=platform.env, stdout=log, stderr=subprocess.STDOUT)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- main ---------------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    points = (args.points // args.batch) * args.batch
    print(report.machine_note())
    targets = [t for t in args.targets.split(",") if t]
    with testbed.Platform(**cli.platform_options(args), extra_env=ALLOW) as platform:
        account = platform.account()
        world = setup(platform, account["email"], args.devices)
        sink_lags = Lags()
        sink, sink_port = http_sink(sink_lags)
        connector(platform, world["app"], {"type": "http", "url": f"http://127.0.0.1:{sink_port}/in"})
        print(f"server pid {platform.pid}; {args.devices} watched and {args.devices} loose devices")

        # 1. ingest, A/B interleaved, no worker: the outbox fills with the watched side's points.
        base = int(time.time() * 1000) - 86_400_000
        ingest(platform.http_port, world["loose"], 20 * args.batch, args.batch, args.clients, base - 10**7)
        ingest(platform.http_port, world["watched"], 20 * args.batch, args.batch, args.clients, base - 10**7)
        sides: dict[str, list[tuple[float, float]]] = {"watched": [], "loose": []}
        for r in range(args.rounds):
            for side in ("loose", "watched") if r % 2 else ("watched", "loose"):
                with meters.CpuMeter(platform) as meter:
                    seconds = ingest(
                        platform.http_port, world[side], points, args.batch, args.clients, base + r * 10**7
                    )
                sides[side].append((seconds, meter.server))
                print(f"round {r + 1} {side:8} {points / seconds:,.0f} points/s  {meter.summary()}")
        pending, _ = outbox_counts(platform)

        # 2. delivery: a worker drains the backlog, then steady runs per target type.
        worker = start_worker(platform)
        try:
            drain_start = time.monotonic()
            while outbox_counts(platform)[0] and time.monotonic() - drain_start < 300:
                time.sleep(0.5)
            drain = time.monotonic() - drain_start
            runs = []
            for target in targets:
                lags = sink_lags if target == "http" else Lags()
                lags.values.clear()
                closer: Any = None
                if target == "http":
                    body: dict[str, Any] = {"type": "http", "url": f"http://127.0.0.1:{sink_port}/in"}
                elif target == "mqtt":
                    prefix = f"pbbench-{uuid.uuid4().hex[:8]}"
                    closer = mqtt_reader(lags, prefix)
                    body = {
                        "type": "mqtt",
                        "url": "mqtt://127.0.0.1:1883",
                        "topic": prefix + "/${device}/${property}",
                    }
                else:
                    exchange = f"pbbench-{uuid.uuid4().hex[:8]}"
                    closer = amqp_reader(lags, exchange)
                    body = {
                        "type": "amqp",
                        "url": "amqp://guest:guest@127.0.0.1:5672/%2F",
                        "exchange": exchange,
                    }
                connector(platform, world["app"], body)
                # The server reloads its map of watched devices at a write at least 1 s after the
                # change: one untimed write per device (not counted: plain values), then a pause.
                time.sleep(1.5)
                ingest(platform.http_port, world["watched"], args.devices, 1, args.devices, base - 10**8)
                time.sleep(1.5)
                _, delivered0 = outbox_counts(platform)
                with meters.CpuMeter(platform, extra={"worker": worker.pid}) as meter:
                    sent = steady(platform.http_port, world["watched"], args.rate, args.seconds)
                    backlog, _ = outbox_counts(platform)
                settle = time.monotonic()
                while len(lags.values) < sent and time.monotonic() - settle < 120:
                    time.sleep(0.2)
                _, delivered1 = outbox_counts(platform)
                if target == "mqtt":
                    closer.loop_stop()
                    closer.disconnect()
                elif target == "amqp":
                    closer.set()
                runs.append((target, sent, list(lags.values), backlog, delivered1 - delivered0, meter))
                print(f"{target:5} {meter.summary()}")
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            sink.shutdown()

    print()
    w = [p / s for s, _ in sides["watched"] for p in [points]]
    lo = [p / s for s, _ in sides["loose"] for p in [points]]
    ratio = sum(w) / len(w) / (sum(lo) / len(lo))
    cpu_w = sum(c for _, c in sides["watched"]) / (points * len(w)) * 1e6
    cpu_l = sum(c for _, c in sides["loose"]) / (points * len(lo)) * 1e6
    print(
        report.table(
            ["ingest (HTTP, property dialect)", "points/s per round", "mean", "server CPU µs/point"],
            [
                [
                    "devices no connector watches",
                    ", ".join(f"{r:,.0f}" for r in lo),
                    f"{sum(lo) / len(lo):,.0f}",
                    f"{cpu_l:.1f}",
                ],
                [
                    "devices one http connector watches",
                    ", ".join(f"{r:,.0f}" for r in w),
                    f"{sum(w) / len(w):,.0f}",
                    f"{cpu_w:.1f}",
                ],
            ],
        )
    )
    print(f"outbox after ingest: {pending:,} pending, drained by one worker in {drain:.1f} s")
    print()
    rows = []
    ok = True
    for target, sent, values, backlog, delivered, meter in runs:
        got = len(values)
        ok &= got >= sent
        rows.append(
            [
                target,
                report.fmt_int(sent),
                report.fmt_int(got),
                f"{1000 * percentile(values, 0.5):.0f}",
                f"{1000 * percentile(values, 0.99):.0f}",
                report.fmt_int(backlog),
                f"{meter.extras['worker'] / max(1, delivered) * 1e6:.0f}",
                f"{meter.server / max(1, sent) * 1e6:.0f}",
            ]
        )
    print(
        report.table(
            [
                f"delivery at {args.rate:,} points/s for {args.seconds:.0f} s",
                "sent",
                "received",
                "lag p50 ms",
                "lag p99 ms",
                "pending at end",
                "worker CPU µs/delivered point",
                "server CPU µs/ingested point",
            ],
            rows,
        )
    )
    print()
    print(
        report.verdict(
            f"ingest with a connector ≥ {TARGET_INGEST_RATIO}× without",
            ratio >= TARGET_INGEST_RATIO,
            f"{ratio:.2f}× (mean of {len(w)} interleaved rounds each)",
        )
    )
    for target, sent, values, backlog, _delivered, _meter in runs:
        p99 = percentile(values, 0.99)
        print(
            report.verdict(
                f"{target}: lag p99 ≤ {TARGET_LAG_P99_S:.0f} s, every point received",
                p99 <= TARGET_LAG_P99_S and len(values) >= sent,
                f"p99 {p99:.2f} s, {len(values):,} of {sent:,} received, {backlog:,} pending at the end",
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    cli.run(main)
