#!/usr/bin/env python3
"""The request path: server CPU per single request through `manage.py serve`, beside two
framework baselines served by the same process.

    .venv/bin/python bench/request_path.py                      # ~1-2 min
    .venv/bin/python bench/request_path.py --only write-v3 --profile 20

One keep-alive client, one request at a time, `--requests` per row in each of `--rounds`
rounds; the rows are interleaved round by round and the table prints the median round. Rows:

  empty        GET /bench/empty: an empty Django function view (baseline, bench-only URL conf)
  insert       POST /bench/insert: a minimal DRF APIView, no authentication, one
               `INSERT … RETURNING` (the baseline the targets divide by)
  404          GET /v3/no-such-thing: a 404 under /v3
  write-v3     a device writes one point: POST /v3/data/devices/{id}/properties, a one-point
               Data Feed, Basic with the device key
  write-iot    a plug publishes one record: PUT /iot/data, X-Plug-Id / X-Plug-Auth
  command-tcp  an API client writes a device's public property (POST /v3/data/devices/{id});
               the device is online over TCP MQTT (paho, QoS 1): the request waits for the
               device to receive the command before the next starts, so its PUBACK is counted
  command-ws   the same with the device over WebSocket

The baselines live in bench/request_path_urls.py, reached through bench/request_path_settings.py
(the product's settings with that URL conf): never in the product's URLs. Server CPU is the
process's user + system time (/proc) over the row's requests, divided by them.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import meters  # noqa: E402
import profiler  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402
from command_latency import Receiver  # noqa: E402

ROWS = ("empty", "insert", "404", "write-v3", "write-iot", "command-tcp", "command-ws")
NAMES = {
    "empty": "empty Django function view (GET)",
    "insert": "minimal DRF APIView, no auth, one INSERT … RETURNING (POST)",
    "404": "404 under /v3 (GET)",
    "write-v3": "device writes one point (/v3 Data Feed, device key)",
    "write-iot": "plug publishes one record (/iot, X-Plug headers)",
    "command-tcp": "API client's command to an online device (TCP MQTT, QoS 1)",
    "command-ws": "API client's command to an online device (WebSocket MQTT, QoS 1)",
}
TARGETS = {"write-v3": 1.3, "write-iot": 1.3, "command-tcp": 1.6, "command-ws": 1.6}
BENCH_DIR = Path(__file__).resolve().parent


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per row in each round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median is printed)")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up requests per row (not counted)")
    parser.add_argument("--only", default="", help=f"comma-separated rows, of {', '.join(ROWS)}")
    return parser.parse_args()


@dataclass
class Row:
    name: str
    send: Callable[[int], None]  # one request (and, for a command, its arrival)
    cpu_ms: list[float] = field(default_factory=list)  # per round: server CPU per request
    rate: list[float] = field(default_factory=list)  # per round: requests per second


class Client:
    """One keep-alive HTTP connection; `call` checks the status."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: Any, headers: dict[str, str], status: int) -> Any:
        data = None if body is None else json.dumps(body, separators=(",", ":"))
        hdrs = {**headers, "Content-Type": "application/json"} if data is not None else headers
        self.conn.request(method, path, data, hdrs)
        answer = self.conn.getresponse()
        payload = answer.read()
        if answer.status != status:
            raise testbed.BenchError(
                f"{method} {path} answered {answer.status}, not {status}: {payload[:200]!r}"
            )
        return (
            json.loads(payload)
            if payload and answer.getheader("Content-Type", "").startswith("application/json")
            else None
        )


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def build_rows(platform: testbed.Platform, wanted: list[str]) -> tuple[list[Row], list[Receiver]]:
    with platform.connect(autocommit=True) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS bench_request_row (id bigserial PRIMARY KEY, v integer NOT NULL)"
        )
    account = platform.account()
    master = basic(account["email"], account["password"])
    client = Client(platform.http_port)
    base_at = time.time_ns() // 1_000_000 - 86_400_000
    rows: list[Row] = []
    receivers: list[Receiver] = []

    def expect(check: Callable[[Any], bool], what: str) -> Callable[[Any], None]:
        def verify(answer: Any) -> None:
            if not check(answer):
                raise testbed.BenchError(f"{what}: unexpected answer {answer!r}")

        return verify

    for name in wanted:
        if name == "empty":
            rows.append(Row(name, lambda i: client.call("GET", "/bench/empty", None, {}, 200)))
        elif name == "insert":
            ok = expect(lambda a: isinstance(a, dict) and isinstance(a.get("id"), int), name)
            rows.append(
                Row(name, lambda i, ok=ok: ok(client.call("POST", "/bench/insert", {"v": i}, {}, 200)))
            )
        elif name == "404":
            rows.append(Row(name, lambda i: client.call("GET", "/v3/no-such-thing", None, {}, 404)))
        elif name == "write-v3":
            plug = platform.plug(account["email"], "bench-v3")
            hdrs = basic(plug["key_id"], plug["auth"])
            path = f"/v3/data/devices/{plug['id']}/properties"
            ok = expect(lambda a: a == {"accepted": 1, "rejected": 0}, name)

            def send_v3(i: int, path: str = path, hdrs: dict[str, str] = hdrs, ok: Any = ok) -> None:
                ok(client.call("POST", path, {"dps": [{"prop": "p", "t": base_at + i, "v": i}]}, hdrs, 200))

            rows.append(Row(name, send_v3))
        elif name == "write-iot":
            plug = platform.plug(account["email"], "bench-iot")
            hdrs = {"X-Plug-Id": plug["id"], "X-Plug-Auth": plug["auth"]}

            def send_iot(i: int, hdrs: dict[str, str] = hdrs) -> None:
                client.call(
                    "PUT", "/iot/data", {"channel": "bench/one", "data": i, "at": base_at + i}, hdrs, 200
                )

            rows.append(Row(name, send_iot))
        elif name.startswith("command-"):
            kind = name.removeprefix("command-")
            plug = platform.plug(account["email"], f"bench-{kind}")
            client.call(
                "POST",
                f"/v3/devices/{plug['id']}/properties",
                {"name": "setpoint", "type": "number", "access": "public"},
                master,
                201,
            )
            key = platform.manage(
                "createkey",
                "--account",
                account["email"],
                "--kind",
                "apiclient",
                "--scope",
                "device:write-data",
            )
            receiver = Receiver(
                platform.http_port if kind == "ws" else platform.mqtt_port,
                plug["id"],
                transport="websockets" if kind == "ws" else "tcp",
                user=plug["id"],
                secret=plug["auth"],
            )
            receiver.start(f"csipio/data/in/devices/{plug['id']}/properties/#")
            receivers.append(receiver)
            hdrs = basic(key["id"], key["secret"])
            path = f"/v3/data/devices/{plug['id']}"
            ok = expect(lambda a: isinstance(a, dict) and a.get("accepted") == 1, name)
            offset = 0 if kind == "tcp" else 10_000_000

            def send_command(
                i: int,
                path: str = path,
                hdrs: dict[str, str] = hdrs,
                receiver: Receiver = receiver,
                ok: Any = ok,
                offset: int = offset,
            ) -> None:
                value = offset + i
                ok(client.call("POST", path, {"setpoint": value}, hdrs, 200))
                deadline = time.monotonic() + 10
                while value not in receiver.arrived:
                    if time.monotonic() > deadline:
                        raise testbed.BenchError(f"command {value} did not reach the device")
                    time.sleep(0.0002)

            rows.append(Row(name, send_command))
    return rows, receivers


def timed(platform: testbed.Platform, row: Row, start: int, count: int, idle: float) -> None:
    """Run `count` requests of `row`; its server CPU per request (less what the server spends
    idle over the same wall time: its timers) and its requests per second."""
    cpu0 = meters.cpu_seconds(platform.pid)
    t0 = time.perf_counter()
    for i in range(start, start + count):
        row.send(i)
    wall = time.perf_counter() - t0
    if row.name.startswith("command-"):
        time.sleep(0.05)  # the last PUBACK
    cpu = meters.cpu_seconds(platform.pid) - cpu0 - idle / 1000 * (time.perf_counter() - t0)
    row.cpu_ms.append(cpu / count * 1000)
    row.rate.append(count / wall)


def idle_cpu_ms_per_s(platform: testbed.Platform, seconds: float = 2.0) -> float:
    cpu0 = meters.cpu_seconds(platform.pid)
    time.sleep(seconds)
    return (meters.cpu_seconds(platform.pid) - cpu0) / seconds * 1000


def main() -> int:
    args = parse_args()
    wanted = [r.strip() for r in args.only.split(",") if r.strip()] or list(ROWS)
    unknown = [r for r in wanted if r not in ROWS]
    if unknown:
        print(f"unknown rows: {', '.join(unknown)} (of {', '.join(ROWS)})")
        return 2
    print(report.machine_note())
    print(
        f"{args.requests} requests per row in each of {args.rounds} interleaved rounds, one keep-alive "
        f"client, one request at a time; `serve --workers {args.workers}`."
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "request_path_settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")])),
    }
    with testbed.Platform(**cli.platform_options(args), extra_env=env) as platform:
        print(f"server pid {platform.pid}, database {platform.db_name}")
        rows, receivers = build_rows(platform, wanted)
        seq = 0
        for row in rows:
            for _ in range(args.warmup):
                row.send(seq)
                seq += 1
        idle = idle_cpu_ms_per_s(platform)
        out = Path(platform.var_dir.parent) / f"pb_bench_{os.getpid()}_request_path.txt"
        with profiler.profiled(platform.pid, args.profile, out):
            deadline = time.monotonic() + args.profile
            for _ in range(args.rounds):
                for row in rows:
                    timed(platform, row, seq, args.requests, idle)
                    seq += args.requests
            while args.profile and time.monotonic() < deadline and rows:  # keep the profile busy
                for row in rows:
                    timed(platform, row, seq, 50, idle)
                    seq += 50
        load = os.getloadavg()
        platform.check_alive()
        for receiver in receivers:
            receiver.stop()

    by_name = {row.name: row for row in rows}
    floor = statistics.median(by_name["insert"].cpu_ms) if "insert" in by_name else None
    table_rows = []
    for row in rows:
        cpu = statistics.median(row.cpu_ms[: args.rounds])
        table_rows.append(
            [
                NAMES[row.name],
                f"{cpu:.2f}",
                f"{min(row.cpu_ms[: args.rounds]):.2f}–{max(row.cpu_ms[: args.rounds]):.2f}",
                report.fmt_int(statistics.median(row.rate[: args.rounds])),
                f"{cpu / floor:.2f}×" if floor else "-",
            ]
        )
    print()
    print(
        report.table(
            ["request", "server CPU ms", "rounds' range", "requests/s", "× minimal DRF write"], table_rows
        )
    )
    print(
        f"server idle CPU (timers), measured before the rounds and deducted: {idle:.2f} ms/s; "
        f"load avg after: {load[0]:.2f} {load[1]:.2f}"
    )
    print()
    if floor:
        for name, limit in TARGETS.items():
            if name in by_name:
                ratio = statistics.median(by_name[name].cpu_ms[: args.rounds]) / floor
                print(
                    report.verdict(
                        f"{NAMES[name]} ≤ {limit}× the minimal DRF write", ratio <= limit, f"{ratio:.2f}×"
                    )
                )
    return 0


if __name__ == "__main__":
    cli.run(main)
