#!/usr/bin/env python3
"""HTTP write throughput of both dialects against a PostgreSQL COPY baseline.

Channel dialect: `PUT /iot/data` with arrays of records `{"channel", "data", "at"}`.
Property dialect: `POST /v3/data/devices/{id}/properties` with Data Feeds `{"dps": [{prop, t, v}]}`.
Every record has a unique `at`, so every record is one row; the script counts the rows of the
plug afterwards and fails if any is missing. Baseline: psycopg 3 `COPY data_datapoint … FROM
STDIN` of the same number of rows into the same table (deleted again afterwards).

    .venv/bin/python bench/http_write.py                 # defaults: ~1 minute
    .venv/bin/python bench/http_write.py --points 1000000 --clients 16
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline  # noqa: E402
import cli  # noqa: E402
import meters  # noqa: E402
import profiler  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402

TARGET_POINTS_PER_S = 50_000
TARGET_X_COPY = 0.4
TARGET_PROPERTY_VS_CHANNEL = 0.8
TARGET_X_FLOOR = 0.8  # of the two-row floor: what PostgreSQL alone needs for what is stored


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0], workers=2)
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (keep-alive)")
    parser.add_argument("--points", type=int, default=200_000, help="points per dialect")
    parser.add_argument("--batch", type=int, default=1_000, help="records per request")
    parser.add_argument("--channels", type=int, default=10, help="distinct channels / properties")
    parser.add_argument("--warmup", type=int, default=8, help="warm-up requests per dialect (not timed)")
    return parser.parse_args()


# --- request bodies (built before the clock starts) ---------------------------------------------


def channel_bodies(count: int, batch: int, channels: int, base_at: int) -> list[bytes]:
    bodies = []
    for r in range(count // batch):
        start = r * batch
        records = [
            {"channel": f"bench/c{i % channels}", "data": i, "at": base_at + i}
            for i in range(start, start + batch)
        ]
        bodies.append(json.dumps(records, separators=(",", ":")).encode())
    return bodies


def property_bodies(count: int, batch: int, channels: int, base_at: int) -> list[bytes]:
    bodies = []
    for r in range(count // batch):
        start = r * batch
        dps = [{"prop": f"p{i % channels}", "t": base_at + i, "v": i} for i in range(start, start + batch)]
        bodies.append(json.dumps({"dps": dps}, separators=(",", ":")).encode())
    return bodies


# --- the load generator ------------------------------------------------------------------------------


class Run:
    def __init__(self, method: str, path: str, headers: dict[str, str], check: Any) -> None:
        self.method, self.path, self.headers, self.check = method, path, headers, check
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()


def drive(port: int, run: Run, bodies: list[bytes], clients: int) -> float:
    """Send every body from `clients` keep-alive connections; wall-clock seconds."""
    work: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    for body in bodies:
        work.put(body)
    for _ in range(clients):
        work.put(None)
    ready = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {**run.headers, "Content-Type": "application/json"}
        ready.wait()
        while (body := work.get()) is not None:
            t0 = time.perf_counter()
            try:
                conn.request(run.method, run.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                problem = run.check(response.status, payload)
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            elapsed = time.perf_counter() - t0
            with run.lock:
                run.latencies.append(elapsed)
                if problem:
                    run.errors.append(problem)
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def check_channel(batch: int) -> Any:
    def check(status: int, payload: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {payload[:200]!r}"
        ids = json.loads(payload)
        if not isinstance(ids, list) or len(ids) != batch or not all(isinstance(i, str) for i in ids):
            return f"unexpected answer {payload[:200]!r}"
        return None

    return check


def check_property(batch: int) -> Any:
    def check(status: int, payload: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {payload[:200]!r}"
        receipt = json.loads(payload)
        if receipt != {"accepted": batch, "rejected": 0}:
            return f"unexpected receipt {receipt}"
        return None

    return check


# --- baseline ----------------------------------------------------------------------------------------


def copy_baseline(platform: testbed.Platform, count: int, channels: int, base_at: int) -> float:
    """COPY `count` rows into data_datapoint (timed), then delete them (not timed)."""
    account_id = "com-" + "c0" * 12
    of = "dev-" + "c0" * 12
    rows = [
        (f"{0xC0 << 88 | i:024x}", account_id, f"bench/c{i % channels}", of, base_at + i, str(i), None)
        for i in range(count)
    ]
    with platform.connect() as conn:
        start = time.perf_counter()
        baseline.copy_points(conn, rows)
        conn.commit()
        seconds = time.perf_counter() - start
    baseline.remove_rows(platform, account_id, count, "COPY", ("data_datapoint",))
    return seconds


def rows_of(platform: testbed.Platform, plug_id: str) -> int:
    with platform.connect() as conn:
        row = conn.execute('SELECT count(*) FROM data_datapoint WHERE "of" = %s', [plug_id]).fetchone()
    return int(row[0]) if row else 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


# --- main ------------------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    points = (args.points // args.batch) * args.batch
    if points <= 0:
        print("--points must be at least --batch")
        return 2
    print(report.machine_note())
    print(
        f"{points:,} points per dialect in requests of {args.batch:,} records from {args.clients} "
        f"keep-alive clients; `serve --workers {args.workers}`."
    )
    with testbed.Platform(**cli.platform_options(args)) as platform:
        account = platform.account()
        warm = platform.plug(account["email"], "bench-warm")
        ch_plug = platform.plug(account["email"], "bench-channel")
        prop_plug = platform.plug(account["email"], "bench-property")
        print(
            f"server pid {platform.pid}, http://127.0.0.1:{platform.http_port}, database {platform.db_name}"
        )

        base_at = (time.time_ns() // 1_000_000) - 10 * 86_400_000  # ten days ago, one ms per point
        bodies_ch = channel_bodies(points, args.batch, args.channels, base_at)
        bodies_prop = property_bodies(points, args.batch, args.channels, base_at)
        body_kb = (len(bodies_ch[0]) / 1024, len(bodies_prop[0]) / 1024)
        print(f"request bodies: channel {body_kb[0]:.0f} KiB, property {body_kb[1]:.0f} KiB each")

        def headers(plug: dict[str, Any]) -> dict[str, str]:
            return {"X-Plug-Id": plug["id"], "X-Plug-Auth": plug["auth"]}

        with meters.CpuMeter(platform) as copy_meter:
            copy_seconds = copy_baseline(platform, points, args.channels, base_at)
        copy_rate = points / copy_seconds
        with meters.CpuMeter(platform) as floor_meter:
            floor_seconds = baseline.two_row_floor(platform, points, args.channels, base_at, args.batch)

        results = []
        for name, method, path_of, bodies, check in (
            ("channel: PUT /iot/data", "PUT", lambda p: "/iot/data", bodies_ch, check_channel(args.batch)),
            (
                "property: POST /v3/data/devices/{id}/properties",
                "POST",
                lambda p: f"/v3/data/devices/{p['id']}/properties",
                bodies_prop,
                check_property(args.batch),
            ),
        ):
            plug = ch_plug if name.startswith("channel") else prop_plug
            # Warm-up on another plug (other timestamps): imports, connections, caches.
            warm_bodies = (channel_bodies if name.startswith("channel") else property_bodies)(
                args.warmup * args.batch, args.batch, args.channels, base_at - 86_400_000
            )
            warm_run = Run(method, path_of(warm), headers(warm), check)
            drive(platform.http_port, warm_run, warm_bodies, min(args.clients, max(1, len(warm_bodies))))
            if warm_run.errors:
                raise testbed.BenchError(f"warm-up failed: {warm_run.errors[0]}")

            run = Run(method, path_of(plug), headers(plug), check)
            out = Path(platform.var_dir.parent) / f"pb_bench_{os.getpid()}_http_{name.split(':')[0]}.txt"
            with profiler.profiled(platform.pid, args.profile, out), meters.CpuMeter(platform) as meter:
                seconds = drive(platform.http_port, run, bodies, args.clients)
            platform.check_alive()
            stored = rows_of(platform, plug["id"])
            results.append((name, points, seconds, run, stored, meter))

    print()
    floor_rate = points / floor_seconds
    rows = [
        [
            "COPY data_datapoint (psycopg 3)",
            report.fmt_int(points),
            f"{copy_seconds:.2f}",
            report.fmt_int(copy_rate),
            "1.00×",
            f"{copy_rate / floor_rate:.2f}×",
        ],
        [
            f"floor: COPY point + journal rows, {baseline.FLOOR_STREAMS} connections",
            report.fmt_int(points),
            f"{floor_seconds:.2f}",
            report.fmt_int(points / floor_seconds),
            f"{points / floor_seconds / copy_rate:.2f}×",
            "1.00×",
        ],
    ]
    for name, n, seconds, _run, _stored, _meter in results:
        rate = n / seconds
        rows.append(
            [
                name,
                report.fmt_int(n),
                f"{seconds:.2f}",
                report.fmt_int(rate),
                f"{rate / copy_rate:.2f}×",
                f"{rate / floor_rate:.2f}×",
            ]
        )
    print(report.table(["path", "points", "seconds", "points/s", "× COPY", "× floor"], rows))
    print()
    detail = []
    for name, _n, _seconds, run, stored, _meter in results:
        detail.append(
            [
                name.split(":")[0],
                f"{1000 * percentile(run.latencies, 0.5):.0f}",
                f"{1000 * percentile(run.latencies, 0.95):.0f}",
                f"{stored:,}",
                str(len(run.errors)),
            ]
        )
    print(
        report.table(
            ["dialect", "p50 ms/request", "p95 ms/request", "rows stored", "failed requests"], detail
        )
    )
    print(f"COPY     {copy_meter.summary()} (includes the untimed DELETE and VACUUM)")
    print(f"floor    {floor_meter.summary()} (includes the untimed DELETE and VACUUM)")
    for name, *_rest, meter in results:
        print(f"{name.split(':')[0]:8} {meter.summary()}")
    print()

    ok = True
    for name, n, _s, run, stored, _meter in results:
        if run.errors or stored != n:
            ok = False
            print(f"VERIFY FAILED {name}: {stored:,} rows stored of {n:,}; {len(run.errors)} failed requests")
            for problem in run.errors[:3]:
                print("   ", problem)
    if ok:
        print(f"verified: every record of both dialects is a row in data_datapoint ({points:,} each)")
    ch_rate = results[0][1] / results[0][2]
    prop_rate = results[1][1] / results[1][2]
    print(
        report.verdict(
            "channel dialect ≥ 50,000 points/s", ch_rate >= TARGET_POINTS_PER_S, f"{ch_rate:,.0f} points/s"
        )
    )
    print(
        report.verdict(
            "channel dialect ≥ 0.4× COPY",
            ch_rate / copy_rate >= TARGET_X_COPY,
            f"{ch_rate / copy_rate:.2f}× COPY ({copy_rate:,.0f} points/s)",
        )
    )
    for name, rate in (("channel", ch_rate), ("property", prop_rate)):
        print(
            report.verdict(
                f"{name} dialect ≥ {TARGET_X_FLOOR}× the two-row floor",
                rate >= TARGET_X_FLOOR * floor_rate,
                f"{rate / floor_rate:.2f}× ({floor_rate:,.0f} points/s)",
            )
        )
    print(
        report.verdict(
            "property dialect within 20% of channel dialect",
            prop_rate >= TARGET_PROPERTY_VS_CHANNEL * ch_rate,
            f"{prop_rate:,.0f} points/s = {prop_rate / ch_rate:.2f}× channel",
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    cli.run(main)
