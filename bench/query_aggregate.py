#!/usr/bin/env python3
"""Aggregate query latency: 1,000,000 points of one device property, hourly averages over HTTP.

The points go in through COPY (one per second, ~11.6 days, ~278 hourly buckets), then
`POST /v3/data/devices/{id}/properties/{p}/query` with
`{"startAbsolute", "endAbsolute", "aggregators": [{"name": "avg", "sampling": {"value": 1,
"unit": "hours"}}]}` is timed over HTTP. Baseline in the same run: the same GROUP BY written by
hand and run through psycopg 3 on the same table. The answer is checked against the baseline's.

If the endpoint does not exist yet, the script says so and exits with status 2 before loading
anything.

    .venv/bin/python bench/query_aggregate.py                 # ~1-2 minutes
    .venv/bin/python bench/query_aggregate.py --points 5000000 --runs 5
"""

from __future__ import annotations

import http.client
import json
import sys
import tempfile
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

TARGET_SECONDS = 1.0
HOUR_MS = 3_600_000
PROPERTY = "temperature"


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--step-ms", type=int, default=1_000, help="time between points")
    parser.add_argument("--runs", type=int, default=3, help="timed queries (and as many baseline runs)")
    return parser.parse_args()


def post(port: int, path: str, headers: dict[str, str], body: Any) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        start = time.perf_counter()
        conn.request(
            "POST", path, body=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
        )
        response = conn.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - start
    finally:
        conn.close()


def copy_points(
    platform: testbed.Platform, account_id: str, plug_id: str, first: int, count: int, step: int
) -> float:
    """Points 1..count-1 (point 0 went in over HTTP to create the property); seconds taken."""
    with platform.connect() as conn:
        start = time.perf_counter()
        baseline.copy_points(
            conn,
            (
                (f"{0xA0 << 88 | i:024x}", account_id, PROPERTY, plug_id, first + i * step, value(i), None)
                for i in range(1, count)
            ),
        )
        conn.commit()
        seconds = time.perf_counter() - start
    with platform.connect(autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE data_datapoint")
    return seconds


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

COUNT_SQL = """
SELECT count(*) FROM data_datapoint
WHERE account_id = %(account)s AND channel = %(channel)s AND "of" = %(of)s
  AND at >= %(start)s AND at <= %(end)s
  AND (expire_at IS NULL OR expire_at > %(now)s)
"""


def main() -> int:
    args = parse_args()
    print(report.machine_note())
    count, step = args.points, args.step_ms
    first = (time.time_ns() // 1_000_000 // HOUR_MS) * HOUR_MS - 30 * 86_400_000  # 30 days ago, on the hour
    last = first + (count - 1) * step
    buckets = (last // HOUR_MS) - (first // HOUR_MS) + 1
    query = {
        "startAbsolute": first,
        "endAbsolute": last,
        "aggregators": [{"name": "avg", "sampling": {"value": 1, "unit": "hours"}}],
    }
    print(f"{count:,} points one every {step} ms → {buckets:,} hourly buckets; one `serve` process")

    with testbed.Platform(**cli.platform_options(args)) as platform:
        account = platform.account()
        plug = platform.plug(account["email"], "bench-series")
        headers = {"X-Plug-Id": plug["id"], "X-Plug-Auth": plug["auth"]}
        path = f"/v3/data/devices/{plug['id']}/properties/{PROPERTY}"
        status, payload, _ = post(
            platform.http_port, path, headers, {"dps": [{"t": first, "v": float(value(0))}]}
        )
        if status != 200:
            raise testbed.BenchError(f"could not write the first point: HTTP {status} {payload[:300]!r}")

        # Does the query endpoint exist? (404/405 before loading a million rows.)
        status, payload, _ = post(platform.http_port, path + "/query", headers, query)
        if status in (404, 405, 501):
            print(f"\nENDPOINT MISSING: POST {path}/query answered HTTP {status}: {payload[:300]!r}")
            print("The aggregate query endpoint is not there yet; nothing was measured.")
            return 2
        if status != 200:
            raise testbed.BenchError(f"query probe failed: HTTP {status} {payload[:300]!r}")

        copy_seconds = copy_points(platform, account["id"], plug["id"], first, count, step)
        print(
            f"loaded {count - 1:,} points with COPY in {copy_seconds:.1f} s "
            f"({(count - 1) / copy_seconds:,.0f}/s)"
        )

        http_times = []
        answer: dict[str, Any] = {}
        profile_out = Path(tempfile.gettempdir()) / f"pb_bench_query_{platform.pid}.txt"
        with profiler.profiled(platform.pid, args.profile, profile_out), meters.CpuMeter(platform) as meter:
            for _ in range(args.runs):
                status, payload, seconds = post(platform.http_port, path + "/query", headers, query)
                if status != 200:
                    raise testbed.BenchError(f"query failed: HTTP {status} {payload[:300]!r}")
                http_times.append(seconds)
                answer = json.loads(payload)
        platform.check_alive()

        raw_times = []
        params = {
            "step": HOUR_MS,
            "account": account["id"],
            "channel": PROPERTY,
            "of": plug["id"],
            "start": first,
            "end": last,
            "now": time.time_ns() // 1_000_000,
        }
        rows: list[tuple[int, float]] = []
        count_times, big_mem_times = [], []
        with platform.connect() as conn:
            for _ in range(args.runs):
                start = time.perf_counter()
                rows = conn.execute(RAW_SQL, params).fetchall()
                raw_times.append(time.perf_counter() - start)
            plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + RAW_SQL, params).fetchall()
            # Informational: the endpoint's separate count(*) for sampleSize, and the GROUP BY
            # with more sort/hash memory than the default 4 MB work_mem.
            for _ in range(args.runs):
                start = time.perf_counter()
                conn.execute(COUNT_SQL, params).fetchall()
                count_times.append(time.perf_counter() - start)
            conn.execute("SET work_mem = '64MB'")
            for _ in range(args.runs):
                start = time.perf_counter()
                conn.execute(RAW_SQL, params).fetchall()
                big_mem_times.append(time.perf_counter() - start)
            work_mem_plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + RAW_SQL, params).fetchall()
            conn.rollback()

    # Check the answer against the baseline.
    problems = []
    if answer.get("sampleSize") != count:
        problems.append(f"sampleSize {answer.get('sampleSize')} != {count}")
    values = (answer.get("results") or [{}])[0].get("values", [])
    if len(values) != len(rows):
        problems.append(f"{len(values)} buckets, the baseline has {len(rows)}")
    else:
        for got, (bucket, expected) in zip(values, rows, strict=True):
            if abs(float(got["v"]) - expected) > 1e-6 * max(1.0, abs(expected)):
                problems.append(f"bucket {bucket}: {got['v']} != {expected}")
                break

    print()
    raw_min, raw_med = min(raw_times), report.median(raw_times)
    http_min, http_med = min(http_times), report.median(http_times)
    print(
        report.table(
            ["path", "points", "buckets", "runs", "min s", "median s", "× raw SQL (median)"],
            [
                [
                    "raw SQL GROUP BY (psycopg 3)",
                    report.fmt_int(count),
                    str(len(rows)),
                    str(args.runs),
                    f"{raw_min:.3f}",
                    f"{raw_med:.3f}",
                    "1.00×",
                ],
                [
                    "POST …/properties/{p}/query (HTTP)",
                    report.fmt_int(count),
                    str(len(values)),
                    str(args.runs),
                    f"{http_min:.3f}",
                    f"{http_med:.3f}",
                    f"{http_med / raw_med:.2f}×",
                ],
            ],
        )
    )
    print()
    print(
        report.table(
            ["informational (raw SQL, same data)", "min s", "median s"],
            [
                [
                    "count(*) of the range (the endpoint's sampleSize)",
                    f"{min(count_times):.3f}",
                    f"{report.median(count_times):.3f}",
                ],
                [
                    "GROUP BY with work_mem = 64MB",
                    f"{min(big_mem_times):.3f}",
                    f"{report.median(big_mem_times):.3f}",
                ],
            ],
        )
    )
    print("plan with work_mem 64MB: " + " / ".join(r[0].strip() for r in work_mem_plan[:3]))
    print(
        "HTTP runs: "
        + ", ".join(f"{t:.3f} s" for t in http_times)
        + "; raw SQL runs: "
        + ", ".join(f"{t:.3f} s" for t in raw_times)
    )
    print(f"during the HTTP runs: {meter.summary()}")
    print("baseline plan: " + " / ".join(r[0].strip() for r in plan[:4]))
    print()
    if problems:
        print("VERIFY FAILED: " + "; ".join(problems))
    else:
        print(f"verified: sampleSize {count:,} and all {len(values)} hourly averages equal the baseline's")
    print(
        report.verdict(
            "aggregate query < 1 s",
            http_med < TARGET_SECONDS,
            f"median {http_med:.3f} s, min {http_min:.3f} s over {args.runs} runs",
        )
    )
    return 1 if problems else 0


if __name__ == "__main__":
    cli.run(main)
