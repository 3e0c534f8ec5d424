#!/usr/bin/env python3
"""Alerts: what an alert on every written property costs ingest (HTTP and MQTT), and how fast a
write that opens an incident reaches a webhook.

1. Ingest, A/B in interleaved rounds against one `manage.py serve`: account A has an alert on
   every property its devices write (never matching: evaluated, no incident), account B none.
   HTTP: property-dialect writes of `--props` points a request from `--clients` connections.
   MQTT: QoS 1 publishes to the property topic (`csipio/data/out/devices/{id}/properties/p`)
   from one TCP connection per device, `--inflight` unacknowledged each. Ratio of the means,
   server CPU per point beside (target >= 0.9 each).
2. Write -> webhook: a Celery worker delivers; `--hot` devices of A each write the alerted
   property `x` above its limit then back to normal every `10 * hot / rate` s, so that
   `--rate` incidents open per second, each notifying a local HTTP receiver (webhook). The
   latency of one notification: its arrival minus the time the write was sent (carried as the
   value). Target: p99 <= 1 s at 100 incidents/s.

    .venv/bin/python bench/alerts.py                   # defaults: ~3 minutes
    .venv/bin/python bench/alerts.py --rate 100 --seconds 60

The activity scan over 100,000 devices is measured in-process by `bench/alerts_inprocess.py`.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import queue
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import meters  # noqa: E402
import mqtt_publish  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402

TARGET_INGEST_RATIO = 0.9
TARGET_P99_S = 1.0
ENV = {"PLUGBOARD_OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8", "PLUGBOARD_OUTBOUND_SWEEP_SECONDS": "1"}


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0], workers=1)
    parser.add_argument("--devices", type=int, default=10, help="devices written per account (ingest)")
    parser.add_argument("--props", type=int, default=10, help="points (properties) per HTTP write")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (ingest)")
    parser.add_argument("--writes", type=int, default=2_000, help="HTTP writes per side per round")
    parser.add_argument("--messages", type=int, default=2_000, help="MQTT publishes per device per round")
    parser.add_argument("--inflight", type=int, default=20, help="unacknowledged MQTT publishes per device")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved A/B rounds")
    parser.add_argument("--hot", type=int, default=10, help="devices opening incidents (webhook run)")
    parser.add_argument("--rate", type=int, default=100, help="incidents opened per second (webhook run)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the webhook run")
    parser.add_argument("--runs", default="ingest,webhook", help="what to run: ingest, webhook or both")
    return parser.parse_args()


# --- set-up -------------------------------------------------------------------------------------------


def setup(platform: testbed.Platform, args: Any, hook_url: str) -> dict[str, Any]:
    """Accounts A (alerts) and B (none): devices, A's alerts; credentials of every device."""
    names = [f"p{i}" for i in range(args.props)] + ["p"]
    code = f"""
from django.db import transaction
from alerts.models import Alert
from alerts.watch import watch_changed
from devices.services.plugs import plug_create
from plugboard.models import Account

def devices(account, prefix, n):
    out = []
    for i in range(n):
        e = plug_create(account=account, name=f"{{prefix}}{{i:03d}}")
        out.append({{"id": e.plug.id, "auth": e.auth, "key_id": e.key.id}})
    return out

never = [{{"severity": "critical", "expression": {{"operation": "gt", "value": 1e12}}, "handlers": []}}]
hook = {{"name": "hook", "action": "webhook", "url": {hook_url!r}, "signatureKey": "bench"}}
opens = [{{"severity": "critical", "expression": {{"operation": "gt", "value": 0}},
          "handlers": [{{"key": "1", "notification": "hook"}}]}}]
a = Account.objects.get(email__iexact="alerts@example.com")
b = Account.objects.get(email__iexact="plain@example.com")
out = {{"alerted": devices(a, "alerted-", {args.devices}), "plain": devices(b, "plain-", {args.devices}),
        "hot": devices(a, "hot-", {args.hot})}}
with transaction.atomic():
    for d in out["alerted"]:
        for name in {names!r}:
            Alert.objects.create(
                account=a, owner_id=d["id"], name=f"a-{{name}}", trigger=name, conditions=never
            )
    for d in out["hot"]:
        Alert.objects.create(account=a, owner_id=d["id"], name="hot", trigger="x", conditions=opens,
                             notifications=[hook])
    watch_changed()
print(json.dumps(out))
"""
    return dict(platform.django_script(code))


# --- HTTP ingest ----------------------------------------------------------------------------------------


def post(conn: http.client.HTTPConnection, device: dict[str, Any], body: bytes) -> None:
    headers = {"X-Plug-Id": device["id"], "X-Plug-Auth": device["auth"], "Content-Type": "application/json"}
    conn.request("POST", f"/v3/data/devices/{device['id']}", body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise testbed.BenchError(f"write answered {response.status}: {payload[:200]!r}")


def http_ingest(port: int, devices: list[dict[str, Any]], writes: int, props: int, clients: int) -> float:
    """`writes` requests of `props` properties each, spread over the devices; wall seconds."""
    work: queue.SimpleQueue[tuple[dict[str, Any], bytes] | None] = queue.SimpleQueue()
    for w in range(writes):
        body = json.dumps({f"p{i}": w + i for i in range(props)}).encode()
        work.put((devices[w % len(devices)], body))
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


def mqtt_ingest(port: int, devices: list[dict[str, Any]], messages: int, inflight: int) -> float:
    clients = [
        mqtt_publish.Device(d["id"], d["key_id"], d["auth"], mqtt_publish.property_topic(d["id"]))
        for d in devices
    ]
    acked, seconds, _, stopped = asyncio.run(mqtt_publish.load(port, clients, messages, inflight, 300))
    if stopped or acked < messages * len(devices):
        raise testbed.BenchError(f"MQTT ingest: {acked} of {messages * len(devices)} acknowledged")
    return seconds


# --- write -> webhook ---------------------------------------------------------------------------------


class Receiver:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.deliveries: set[str] = set()
        self.lock = threading.Lock()

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                now = time.time()
                with receiver.lock:
                    receiver.latencies.append(now - body["value"] / 1000)
                    receiver.deliveries.add(self.headers.get("X-Plugboard-Delivery", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", testbed.free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def incidents(port: int, devices: list[dict[str, Any]], rate: int, seconds: float) -> int:
    """Each device alternates `x` = the send time in ms (opens an incident: a webhook) and 0
    (clears it), paced so that `rate` incidents open per second in all; incidents opened."""
    period = len(devices) / rate
    opened = [0] * len(devices)
    start = time.monotonic()

    def loop(n: int, device: dict[str, Any]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        tick = 0
        time.sleep(period * n / len(devices))  # spread the devices over one period
        while time.monotonic() - start < seconds:
            post(conn, device, json.dumps({"x": int(time.time() * 1000)}).encode())
            opened[n] += 1
            post(conn, device, b'{"x": 0}')
            tick += 1
            pause = start + period * n / len(devices) + tick * period - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        conn.close()

    threads = [threading.Thread(target=loop, args=(n, d)) for n, d in enumerate(devices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(opened)


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
    print(report.machine_note())
    receiver = Receiver()
    with testbed.Platform(**cli.platform_options(args), extra_env=ENV) as platform:
        platform.account("alerts@example.com")
        platform.account("plain@example.com")
        world = setup(platform, args, receiver.url)
        print(f"server pid {platform.pid}; {args.devices} devices per account, {args.hot} hot devices")
        time.sleep(1.5)  # the server's alert snapshot checks its token once a second

        # 1. ingest A/B, interleaved; one untimed warm-up per side and transport.
        sides: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
        if "ingest" in args.runs:
            http_ingest(platform.http_port, world["alerted"], 100, args.props, args.clients)
            http_ingest(platform.http_port, world["plain"], 100, args.props, args.clients)
            mqtt_ingest(platform.mqtt_port, world["alerted"], 100, args.inflight)
            mqtt_ingest(platform.mqtt_port, world["plain"], 100, args.inflight)
        for r in range(args.rounds if "ingest" in args.runs else 0):
            for side in ("plain", "alerted") if r % 2 else ("alerted", "plain"):
                with meters.CpuMeter(platform) as meter:
                    seconds = http_ingest(
                        platform.http_port, world[side], args.writes, args.props, args.clients
                    )
                points = args.writes * args.props
                sides.setdefault(("http", side), []).append((seconds, meter.server, points))
                print(f"round {r + 1} HTTP {side:8} {points / seconds:,.0f} points/s  {meter.summary()}")
                with meters.CpuMeter(platform) as meter:
                    seconds = mqtt_ingest(platform.mqtt_port, world[side], args.messages, args.inflight)
                points = args.messages * args.devices
                sides.setdefault(("mqtt", side), []).append((seconds, meter.server, points))
                print(f"round {r + 1} MQTT {side:8} {points / seconds:,.0f} points/s  {meter.summary()}")

        # 2. write -> webhook, a worker delivering.
        if "webhook" not in args.runs:
            receiver.server.shutdown()
            return _report(args, sides, receiver, 0, None)
        worker = start_worker(platform)
        try:
            # Warm-up: one incident per hot device, timed out of the run, until the worker
            # (its start-up) delivers them.
            conn = http.client.HTTPConnection("127.0.0.1", platform.http_port, timeout=60)
            for device in world["hot"]:
                post(conn, device, json.dumps({"x": int(time.time() * 1000)}).encode())
                post(conn, device, b'{"x": 0}')
            conn.close()
            warm = len(world["hot"])
            settle = time.monotonic()
            while len(receiver.latencies) < warm and time.monotonic() - settle < 120:
                time.sleep(0.2)
            with receiver.lock:
                receiver.latencies.clear()
                receiver.deliveries.clear()
            with meters.CpuMeter(platform, extra={"worker": worker.pid}) as meter:
                opened = incidents(platform.http_port, world["hot"], args.rate, args.seconds)
            settle = time.monotonic()
            while len(receiver.latencies) < opened and time.monotonic() - settle < 60:
                time.sleep(0.2)
            print(f"webhook {meter.summary()}")
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            receiver.server.shutdown()

    return _report(args, sides, receiver, opened, meter)


def _report(
    args: Any,
    sides: dict[tuple[str, str], list[tuple[float, float, int]]],
    receiver: Receiver,
    opened: int,
    meter: Any,
) -> int:
    print()
    rows = []
    verdicts = []
    for transport in ("http", "mqtt") if sides else ():
        rates = {}
        cpus = {}
        for side in ("plain", "alerted"):
            runs = sides[(transport, side)]
            rates[side] = [p / s for s, _, p in runs]
            cpus[side] = sum(c for _, c, _ in runs) / sum(p for _, _, p in runs) * 1e6
            label = f"{transport.upper()} {'alert on every property' if side == 'alerted' else 'no alert'}"
            mean = sum(rates[side]) / len(rates[side])
            rows.append(
                [label, ", ".join(f"{x:,.0f}" for x in rates[side]), f"{mean:,.0f}", f"{cpus[side]:.1f}"]
            )
        ratio = (sum(rates["alerted"]) / len(rates["alerted"])) / (sum(rates["plain"]) / len(rates["plain"]))
        verdicts.append(
            report.verdict(
                f"{transport.upper()} ingest with an alert on every property ÷ without",
                ratio >= TARGET_INGEST_RATIO,
                f"{ratio:.2f}x (target >= {TARGET_INGEST_RATIO}); "
                f"CPU {cpus['alerted']:.1f} vs {cpus['plain']:.1f} µs/point",
            )
        )
    if rows:
        print(report.table(["ingest", "points/s per round", "mean", "server CPU µs/point"], rows))
    if meter is None:
        for line in verdicts:
            print(line)
        return 0
    lat = receiver.latencies
    print()
    print(
        report.table(
            [
                f"write -> webhook at {args.rate}/s for {args.seconds:.0f} s",
                "opened",
                "received",
                "unique ids",
                "p50 ms",
                "p99 ms",
                "max ms",
                "server+worker CPU ms/incident",
            ],
            [
                [
                    "incident opened -> webhook received",
                    report.fmt_int(opened),
                    report.fmt_int(len(lat)),
                    report.fmt_int(len(receiver.deliveries)),
                    f"{1000 * percentile(lat, 0.5):.0f}",
                    f"{1000 * percentile(lat, 0.99):.0f}",
                    f"{1000 * max(lat, default=float('nan')):.0f}",
                    f"{(meter.server + meter.extras['worker']) / max(1, opened) * 1000:.2f}",
                ]
            ],
        )
    )
    p99 = percentile(lat, 0.99)
    verdicts.append(
        report.verdict(
            f"write -> webhook p99 at {args.rate} incidents/s",
            p99 <= TARGET_P99_S and len(lat) >= opened,
            f"{1000 * p99:.0f} ms (target <= {1000 * TARGET_P99_S:.0f} ms); {len(lat)} of {opened} received",
        )
    )
    for line in verdicts:
        print(line)
    return 0


if __name__ == "__main__":
    cli.run(main)
