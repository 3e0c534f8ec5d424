#!/usr/bin/env python3
"""Rollups and export: a year of one property at one point per 10 s (~3.15 M points).

1. Hourly averages of the year over HTTP (`POST …/properties/{p}/query`, the first to the last
   point, so both edges are partial hours): first while every minute is still marked (the
   query reads raw points, PostgreSQL's GROUP BY, as before rollups existed), then after the
   refresh (hour buckets, raw points for the edges). The two answers must agree. Beside them
   the raw GROUP BY through psycopg 3. Targets: rollups ≤ 0.05× raw, and ≤ 50 ms.
2. Ingest with rollups maintained ÷ without, in one Django process (no HTTP: the write service
   alone, so the difference is not lost in the noise of a server): Data Feeds of 1,000 points
   (10 properties × 100 points 10 s apart) through `data.services.points_write`, in rounds that
   alternate three ways: without marks (`rollups_mark` made a no-op), with one mark per
   (series, minute) (the first design), and with one mark per series and run of adjacent
   minutes (the write service's); both "with" rounds also pay the refresh of what they wrote.
   Target ≥ 0.9× (run marks).
3. Export of 1,000,000 of the points as CSV over HTTP
   (`GET …/properties/{p}/export?format=csv&start&end`), streamed and counted, with the
   server's RSS sampled every 0.1 s; beside it `COPY (SELECT at, data … ORDER BY at) TO STDOUT
   (FORMAT csv)` of the same rows through psycopg 3.

    .venv/bin/python bench/rollups.py                    # ~4-6 minutes
    .venv/bin/python bench/rollups.py --days 30 --export-rows 200000   # quicker
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline  # noqa: E402
import cli  # noqa: E402
import meters  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
PROPERTY = "temperature"
TARGET_RATIO = 0.05
TARGET_SECONDS = 0.050
TARGET_INGEST = 0.9


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365, help="days of history (one point per --step-ms)")
    parser.add_argument("--step-ms", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="timed queries of each kind")
    parser.add_argument("--ingest-points", type=int, default=60_000, help="points per ingest round")
    parser.add_argument("--ingest-rounds", type=int, default=3, help="rounds of each kind, alternating")
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    return parser.parse_args()


def request(
    port: int, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        start = time.perf_counter()
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={**headers, "Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - start
    finally:
        conn.close()


def value(i: int) -> str:
    return f"{(i % 1000) / 10}"


RAW_SQL = """
SELECT at / %(step)s AS bucket, avg((data #>> '{}')::float8) AS v
FROM data_datapoint
WHERE account_id = %(account)s AND channel = %(channel)s AND "of" = %(of)s
  AND at >= %(start)s AND at <= %(end)s
  AND (expire_at IS NULL OR expire_at > %(now)s)
  AND jsonb_typeof(data) = 'number'
GROUP BY 1 ORDER BY 1
"""

INGEST = """
import time, resource
from data import services
from data.rollups import MINUTE, rollups_refresh
from data.services import PointIn, points_write
from data.store import rollup_marks_append
from devices.models import Plug
from plugboard.principals import Principal

plug = Plug.objects.get(id={plug_id!r})
principal = Principal(account_id=plug.account_id, kind="plug", credential=plug.id, plug_id=plug.id)
marking = services.rollups_mark
per_round, rounds, t0 = {points}, {rounds}, {t0}

def minute_marks(keys):
    # The first design's marks: one row per (series, minute) the batch touched.
    minutes = {{(a, c, o, at - at % MINUTE) for a, c, o, at in keys}}
    rollup_marks_append([(a, c, o, m, m + MINUTE) for a, c, o, m in minutes])

MARKS = {{"without": lambda keys: None, "minute marks": minute_marks, "run marks": marking}}

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

def one_round(mode, at0):
    batches = []
    for b in range(per_round // 1000):
        batches.append([PointIn(channel=f"{{mode[:3]}}{{at0}}-p{{k}}", data=(j % 1000) / 10,
                                at=at0 + (b * 100 + j) * 10_000)
                        for k in range(10) for j in range(100)])
    services.rollups_mark = MARKS[mode]
    start, c0 = time.perf_counter(), cpu()
    for points in batches:
        points_write(principal=principal, points=points, source="http")
    write = time.perf_counter() - start
    refresh = 0.0
    if mode != "without":
        s = time.perf_counter()
        rollups_refresh()
        refresh = time.perf_counter() - s
    return write, refresh, cpu() - c0

results = {{mode: [] for mode in MARKS}}
for r in range(rounds):
    modes = list(MARKS) if r % 2 == 0 else list(reversed(MARKS))
    for i, mode in enumerate(modes):
        results[mode].append(one_round(mode, t0 + (r * 3 + i) * 400 * 86_400_000))
services.rollups_mark = marking
print(json.dumps(results))
"""


def main() -> int:
    args = parse_args()
    print(report.machine_note())
    step = args.step_ms
    count = args.days * DAY_MS // step
    now = time.time_ns() // 1_000_000
    first = (now // DAY_MS - args.days - 1) * DAY_MS + 1_234  # not on an hour: both edges partial
    last = first + (count - 1) * step
    query = {
        "startAbsolute": first,
        "endAbsolute": last,
        "aggregators": [{"name": "avg", "sampling": {"value": 1, "unit": "hours"}}],
        "limit": 10_000,  # every hour of the year (the default limit is 1,000)
    }
    print(f"{count:,} points one every {step} ms over {args.days} days; one `serve` process")
    problems: list[str] = []

    with testbed.Platform(**cli.platform_options(args)) as platform:
        account = platform.account()
        plug = platform.plug(account["email"], "bench-series")
        headers = {"X-Plug-Id": plug["id"], "X-Plug-Auth": plug["auth"]}
        path = f"/v3/data/devices/{plug['id']}/properties/{PROPERTY}"
        status, payload, _ = request(
            platform.http_port, "POST", path, headers, {"dps": [{"t": first, "v": float(value(0))}]}
        )
        if status != 200:
            raise testbed.BenchError(f"could not write the first point: HTTP {status} {payload[:300]!r}")
        with platform.connect() as conn:
            start = time.perf_counter()
            baseline.copy_points(
                conn,
                (
                    (
                        f"{0xA0 << 88 | i:024x}",
                        account["id"],
                        PROPERTY,
                        plug["id"],
                        first + i * step,
                        value(i),
                        None,
                    )
                    for i in range(1, count)
                ),
            )
            # What the write service does per batch, here for the whole year at once: every
            # minute written is marked (the migration marks existing points the same way).
            conn.execute(
                'INSERT INTO data_rollupmark (account_id, channel, "of", minute) '
                'SELECT DISTINCT account_id, channel, "of", at / 60000 * 60000 FROM data_datapoint '
                'WHERE "of" = %s',
                [plug["id"]],
            )
            conn.commit()
            copy_seconds = time.perf_counter() - start
        with platform.connect(autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        print(f"loaded {count - 1:,} points with COPY and marked their minutes in {copy_seconds:.1f} s")

        # 1. The year's hourly averages: raw (every minute marked), then from the rollups.
        raw_http: list[float] = []
        raw_answer: dict[str, Any] = {}
        with meters.CpuMeter(platform) as raw_meter:
            for _ in range(max(2, args.runs // 2)):
                status, payload, seconds = request(
                    platform.http_port, "POST", path + "/query", headers, query
                )
                if status != 200:
                    raise testbed.BenchError(f"query failed: HTTP {status} {payload[:300]!r}")
                raw_http.append(seconds)
                raw_answer = json.loads(payload)
        start = time.perf_counter()
        marks = platform.django_script(
            "from data.rollups import rollups_refresh\nprint(json.dumps(rollups_refresh()))", timeout=3600
        )
        refresh_seconds = time.perf_counter() - start
        with platform.connect(autocommit=True) as conn:
            # What autovacuum does shortly after a backlog is drained: without it the planner
            # still counts 525,600 marks and reads the emptied table whole for each query.
            conn.execute("VACUUM ANALYZE data_rollupmark, data_rollup")
        with platform.connect() as conn:
            levels = dict(conn.execute("SELECT level, count(*) FROM data_rollup GROUP BY level").fetchall())
        print(
            f"refresh: {marks:,} marks → {levels.get(60_000, 0):,} minutes, "
            f"{levels.get(HOUR_MS, 0):,} hours, {levels.get(DAY_MS, 0):,} days in {refresh_seconds:.1f} s "
            f"({count / refresh_seconds:,.0f} points/s, "
            "one Django process)"
        )
        rolled_http: list[float] = []
        rolled_answer: dict[str, Any] = {}
        with meters.CpuMeter(platform) as rolled_meter:
            for _ in range(args.runs):
                status, payload, seconds = request(
                    platform.http_port, "POST", path + "/query", headers, query
                )
                if status != 200:
                    raise testbed.BenchError(f"query failed: HTTP {status} {payload[:300]!r}")
                rolled_http.append(seconds)
                rolled_answer = json.loads(payload)
        params = {
            "step": HOUR_MS,
            "account": account["id"],
            "channel": PROPERTY,
            "of": plug["id"],
            "start": first,
            "end": last,
            "now": now,
        }
        sql_times = []
        with platform.connect() as conn:
            for _ in range(max(2, args.runs // 2)):
                start = time.perf_counter()
                rows = conn.execute(RAW_SQL, params).fetchall()
                sql_times.append(time.perf_counter() - start)
            conn.rollback()
        raw_values = raw_answer["results"][0]["values"]
        rolled_values = rolled_answer["results"][0]["values"]
        if raw_answer["sampleSize"] != count or rolled_answer["sampleSize"] != count:
            problems.append(
                f"sampleSize raw {raw_answer['sampleSize']}, rollups {rolled_answer['sampleSize']}, "
                f"want {count}"
            )
        if len(raw_values) != len(rolled_values) or len(rolled_values) != len(rows):
            problems.append(f"buckets: raw {len(raw_values)}, rollups {len(rolled_values)}, SQL {len(rows)}")
        else:
            for a, b in zip(raw_values, rolled_values, strict=True):
                if a["t"] != b["t"] or abs(float(a["v"]) - float(b["v"])) > 1e-9 * max(
                    1.0, abs(float(a["v"]))
                ):
                    problems.append(f"bucket {a['t']}: raw {a['v']} != rollups {b['v']}")
                    break

        # 2. Ingest with rollups maintained ÷ without (one Django process, alternating rounds).
        ingest = platform.django_script(
            INGEST.format(
                plug_id=plug["id"],
                points=args.ingest_points,
                rounds=args.ingest_rounds,
                t0=first - 3000 * DAY_MS,
            ),
            timeout=3600,
        )

        # 3. Export of `export_rows` points as CSV, streamed, server RSS sampled.
        export_rows = min(args.export_rows, count)
        export_end = first + (export_rows - 1) * step
        from urllib.parse import urlencode

        export_path = (
            path + "/export?" + urlencode({"format": "csv", "start": iso(first), "end": iso(export_end)})
        )
        rss_before = meters.rss_kb(platform.pid)
        samples: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(meters.rss_kb(platform.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        conn_http = http.client.HTTPConnection("127.0.0.1", platform.http_port, timeout=600)
        lines = size = 0
        with meters.CpuMeter(platform) as export_meter:
            sampler.start()
            start = time.perf_counter()
            conn_http.request("GET", export_path, headers=headers)
            response = conn_http.getresponse()
            first_byte = time.perf_counter() - start
            while chunk := response.read(1 << 16):
                lines += chunk.count(b"\n")
                size += len(chunk)
            export_seconds = time.perf_counter() - start
            stop.set()
            sampler.join()
        conn_http.close()
        if response.status != 200 or lines != export_rows + 1:
            problems.append(f"export: HTTP {response.status}, {lines - 1:,} rows, want {export_rows:,}")
        copy_sql = (
            'COPY (SELECT at, data FROM data_datapoint WHERE account_id = %s AND channel = %s AND "of" = %s '
            "AND at >= %s AND at <= %s ORDER BY at) TO STDOUT (FORMAT csv)"
        )
        with platform.connect() as conn, conn.cursor() as cur:
            start = time.perf_counter()
            copied = 0
            with cur.copy(copy_sql, [account["id"], PROPERTY, plug["id"], first, export_end]) as copy:
                for block in copy:
                    copied += bytes(block).count(b"\n")
            copy_export_seconds = time.perf_counter() - start
        platform.check_alive()

    print()
    raw_med, rolled_med, sql_med = (
        report.median(raw_http),
        report.median(rolled_http),
        report.median(sql_times),
    )
    print(
        report.table(
            ["hourly averages of the year", "buckets", "runs", "min s", "median s", "× raw HTTP"],
            [
                [
                    "raw SQL GROUP BY (psycopg 3)",
                    str(len(rows)),
                    str(len(sql_times)),
                    f"{min(sql_times):.3f}",
                    f"{sql_med:.3f}",
                    f"{sql_med / raw_med:.3f}×",
                ],
                [
                    "POST …/query, raw points (minutes marked)",
                    str(len(raw_values)),
                    str(len(raw_http)),
                    f"{min(raw_http):.3f}",
                    f"{raw_med:.3f}",
                    "1.000×",
                ],
                [
                    "POST …/query, rollups",
                    str(len(rolled_values)),
                    str(len(rolled_http)),
                    f"{min(rolled_http):.3f}",
                    f"{rolled_med:.3f}",
                    f"{rolled_med / raw_med:.3f}×",
                ],
            ],
        )
    )
    print(f"during the raw HTTP runs: {raw_meter.summary()}")
    print(f"during the rollup HTTP runs: {rolled_meter.summary()}")
    print()
    rows_out = []
    totals = {}
    for mode in ("without", "minute marks", "run marks"):
        runs = ingest[mode]
        points = args.ingest_points * len(runs)
        write = sum(r[0] for r in runs)
        refresh = sum(r[1] for r in runs)
        cpu = sum(r[2] for r in runs)
        totals[mode] = points / (write + refresh)
        rows_out.append(
            [
                "without rollups" if mode == "without" else f"with rollups, {mode}",
                report.fmt_int(points),
                f"{write:.2f}",
                f"{refresh:.2f}",
                report.fmt_int(totals[mode]),
                f"{cpu / points * 1e6:.1f}",
                " ".join(f"{args.ingest_points / (r[0] + r[1]):,.0f}" for r in runs),
            ]
        )
    ratio = totals["run marks"] / totals["without"]
    ratio_minutes = totals["minute marks"] / totals["without"]
    print(
        report.table(
            [
                "ingest (write service, in process)",
                "points",
                "write s",
                "refresh s",
                "points/s",
                "client CPU µs/pt",
                "per round",
            ],
            rows_out,
        )
    )
    print()
    peak = max(samples) if samples else rss_before
    print(
        report.table(
            ["export", "rows", "seconds", "rows/s", "MB", "server RSS MB before / peak"],
            [
                [
                    "GET …/export?format=csv (HTTP, streamed)",
                    report.fmt_int(lines - 1),
                    f"{export_seconds:.1f}",
                    report.fmt_int((lines - 1) / export_seconds),
                    f"{size / 1e6:.0f}",
                    f"{rss_before / 1024:.0f} / {peak / 1024:.0f}",
                ],
                [
                    "COPY (SELECT at, data …) TO STDOUT (psycopg 3)",
                    report.fmt_int(copied),
                    f"{copy_export_seconds:.1f}",
                    report.fmt_int(copied / copy_export_seconds),
                    "",
                    "",
                ],
            ],
        )
    )
    print(f"export: first byte after {first_byte * 1000:.0f} ms; during it: {export_meter.summary()}")
    print()
    if problems:
        print("VERIFY FAILED: " + "; ".join(problems))
    else:
        print(
            f"verified: sampleSize {count:,} and all {len(rolled_values):,} hourly averages equal "
            "raw vs rollups "
            f"(and the SQL's bucket count); {export_rows:,} rows exported"
        )
    print(
        report.verdict(
            "rollups ≤ 0.05× raw", rolled_med <= TARGET_RATIO * raw_med, f"{rolled_med / raw_med:.3f}×"
        )
    )
    print(
        report.verdict("rollups ≤ 50 ms", rolled_med <= TARGET_SECONDS, f"median {rolled_med * 1000:.1f} ms")
    )
    print(
        report.verdict(
            "ingest with ÷ without rollups ≥ 0.9×",
            ratio >= TARGET_INGEST,
            f"{ratio:.3f}× (per-minute marks instead: {ratio_minutes:.3f}×)",
        )
    )
    print(
        report.verdict(
            "export RSS flat",
            peak - rss_before < 50 * 1024,
            f"+{(peak - rss_before) / 1024:.0f} MB over {lines - 1:,} rows",
        )
    )
    return 1 if problems else 0


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


if __name__ == "__main__":
    cli.run(main)
