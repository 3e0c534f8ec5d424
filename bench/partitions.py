"""Time-partitioned journal: retention by DROP vs DELETE, and writes with vs without partitions.

    .venv/bin/python bench/partitions.py                     # 3 M journal rows, ~6 min
    .venv/bin/python bench/partitions.py --rows 10000000     # the issue's 10 M (DELETE takes long)

Two databases in the same run, each with its own `serve`:

- `plain`: migrated, then `migrate data 0003`: the journal as one table (as before migration
  0004, through 0004's reverse);
- `partitioned`: migrated: one partition per day of `received_at` and a default partition.

1. Seeds, into both alike (`INSERT … SELECT generate_series`, no Python per row): `--rows`
   journal entries spread over the 30 whole days before the retention cutoff's day (1,000
   plugs), `--recent` entries of the last day, and a reader plug's entry every 30 minutes of
   the last 29 days. The partitioned database gets the old days' partitions first, as 60 days
   of purges would have made them. Then `VACUUM ANALYZE`, as autovacuum would have.
2. Write throughput: `--clients` keep-alive connections post property-dialect Data Feeds of
   1,000 points, `--rounds` rounds of `--seconds` into each database, the order alternating;
   median points/s of each, and the ratio.
3. Journal read: `GET /v3/data/devices/{reader}/events?pageSize=25` (count plus newest page
   across every partition), `--reads` requests one after another; p50 and p99, before the
   purge (60 old days of partitions) and after it (the steady state).
4. Retention: `data.expiry.expiry_purge` (what Celery beat runs; 30 days) in a Django process
   against each database: on `plain` the batched DELETE, on `partitioned` DROP of the 30 old
   days; seconds inside the call. The purge's rest after each batch is off
   (`PLUGBOARD_PURGE_PAUSE_PERCENT=0`): the work is compared, not the courtesy to ingest
   (a DROP has no batches to rest after).
5. Verified: each purge reports `--rows` journal entries removed; no entry older than the
   cutoff is left; every recent, reader and ingested entry is still there, the same in both.

Targets: writes into the partitioned journal ≥ 0.95× the plain one (same run); retention by
DROP at least 10× faster than by DELETE.
"""

from __future__ import annotations

import base64
import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import meters  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402
from purge import Ingest  # noqa: E402

DAY_MS = 86_400_000
RETENTION_DAYS = 30
TARGET_WRITE_RATIO = 0.95
TARGET_DROP_SPEEDUP = 10.0
SEED_PLUGS = 1_000

SEED = f"""
INSERT INTO data_journalentry (account_id, received_at, event, source, credential, point_id,
                               channel, "of", at, data, expire_at)
SELECT %(account)s, %(start)s + (g::float8 * %(step)s)::bigint, 'data', 'http',
       'dev-seed-' || (g %% {SEED_PLUGS}),
       lpad(to_hex(g), 24, '0'), 'p' || (g %% 8), 'dev-seed-' || (g %% {SEED_PLUGS}),
       %(start)s + (g::float8 * %(step)s)::bigint, to_jsonb(g %% 100), NULL
FROM generate_series(0, %(count)s - 1) AS g
"""


def seed(platform: testbed.Platform, account_id: str, reader_id: str, args: Any, now: int) -> dict[str, int]:
    """Old, recent and reader entries; returns the old range's bounds."""
    cutoff = now - RETENTION_DAYS * DAY_MS
    old_end = cutoff - cutoff % DAY_MS  # the cutoff's own day stays whole on the partitioned side
    old_start = old_end - 30 * DAY_MS
    reads = 29 * 48
    with platform.connect(autocommit=True) as conn:
        for day in range(30):  # one statement per day: bounded transactions, one partition each
            per_day = args.rows // 30 + (1 if day < args.rows % 30 else 0)
            conn.execute(
                SEED,
                {
                    "account": account_id,
                    "start": old_start + day * DAY_MS,
                    "step": DAY_MS / per_day,
                    "count": per_day,
                },
            )
        conn.execute(
            SEED,
            {
                "account": account_id,
                "start": now - DAY_MS,
                "step": DAY_MS / args.recent,
                "count": args.recent,
            },
        )
        conn.execute(
            SEED.replace(f"'dev-seed-' || (g %% {SEED_PLUGS})", "%(reader)s"),
            {
                "account": account_id,
                "start": now - 29 * DAY_MS,
                "step": 1_800_000,
                "count": reads,
                "reader": reader_id,
            },
        )
        conn.execute("VACUUM ANALYZE data_journalentry")
    return {"cutoff": cutoff, "old_start": old_start, "old_end": old_end}


def journal_count(platform: testbed.Platform, where: str, params: list[Any]) -> int:
    with platform.connect() as conn:
        return int(
            conn.execute(f"SELECT count(*) FROM data_journalentry WHERE {where}", params).fetchone()[0]
        )


def read_latencies(platform: testbed.Platform, plug: dict[str, Any], n: int) -> tuple[list[float], list[Any]]:
    """`n` event-page reads in a row: their seconds, and the last page's values."""
    token = base64.b64encode(f"{plug['id']}:{plug['auth']}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    conn = http.client.HTTPConnection("127.0.0.1", platform.http_port, timeout=60)
    seconds, body = [], b""
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", f"/v3/data/devices/{plug['id']}/events?pageSize=25", headers=headers)
        response = conn.getresponse()
        body = response.read()
        seconds.append(time.perf_counter() - t0)
        if response.status != 200:
            raise testbed.BenchError(f"events read answered {response.status}: {body[:200]!r}")
    conn.close()
    page = json.loads(body)
    return seconds, [page["total"], [e["v"] for e in page["results"]]]


def purge(platform: testbed.Platform) -> dict[str, Any]:
    code = (
        "import time\nfrom data.expiry import expiry_purge\n"
        "t0 = time.perf_counter()\ncounts = expiry_purge()\n"
        "print(json.dumps({**counts, 'seconds': time.perf_counter() - t0}))"
    )
    return dict(platform.django_script(code, timeout=7200))


def main() -> int:
    parser = cli.base_parser(__doc__.split("\n")[0])
    parser.add_argument(
        "--rows", type=int, default=3_000_000, help="journal entries past retention (30 days)"
    )
    parser.add_argument("--recent", type=int, default=100_000, help="journal entries of the last day")
    parser.add_argument("--clients", type=int, default=4, help="HTTP ingest connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one ingest round")
    parser.add_argument("--rounds", type=int, default=5, help="ingest rounds per database")
    parser.add_argument("--reads", type=int, default=200, help="event-page reads per database")
    args = parser.parse_args()
    env = {"PLUGBOARD_JOURNAL_RETENTION_DAYS": str(RETENTION_DAYS), "PLUGBOARD_PURGE_PAUSE_PERCENT": "0"}
    options = {**cli.platform_options(args), "extra_env": env}
    now = int(time.time() * 1000)
    with (
        testbed.Platform(**options, tag="plain") as plain,
        testbed.Platform(**options, tag="partitioned") as partitioned,
    ):
        plain.stop_server()
        plain.manage("migrate", "data", "0003", "--noinput", "-v", "0", parse=False)
        plain.start_server()
        layout = plain.django_script(
            "from data.partitions import journal_is_partitioned\nprint(json.dumps(journal_is_partitioned()))"
        )
        if layout:
            raise testbed.BenchError("the plain database's journal is still partitioned")
        sides = {"plain": plain, "partitioned": partitioned}
        plugs: dict[str, dict[str, dict[str, Any]]] = {}
        bounds: dict[str, int] = {}
        for name, platform in sides.items():
            account = platform.account()
            plugs[name] = {
                "ingest": platform.plug(account["email"], "ingest"),
                "reader": platform.plug(account["email"], "reader"),
            }
            if name == "partitioned":
                made = platform.django_script(
                    "from data.partitions import journal_partitions_create\n"
                    f"print(json.dumps(len(journal_partitions_create(since={now - 62 * DAY_MS}))))"
                )
                print(f"partitioned: {made} day partitions made for the old days")
            print(
                f"{name}: seeding {args.rows:,} old and {args.recent:,} recent journal entries …", flush=True
            )
            t0 = time.perf_counter()
            bounds = seed(platform, account["id"], plugs[name]["reader"]["id"], args, now)
            print(f"{name}: seeded in {time.perf_counter() - t0:.0f} s", flush=True)

        ingests = {
            name: Ingest(
                platform.http_port,
                plugs[name]["ingest"]["id"],
                plugs[name]["ingest"]["auth"],
                args.clients,
                1_800_000_000_000,
            )
            for name, platform in sides.items()
        }
        rates: dict[str, list[float]] = {name: [] for name in sides}
        cpu: dict[str, str] = {}
        for name in sides:  # warm-up
            warm = threading.Event()
            threading.Timer(2.0, warm.set).start()
            ingests[name].run_until(warm)
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for name in order:
                stop = threading.Event()
                threading.Timer(args.seconds, stop.set).start()
                with meters.CpuMeter(sides[name]) as meter:
                    points, seconds = ingests[name].run_until(stop)
                rates[name].append(points / seconds)
                cpu[name] = meter.summary()
        reads = {
            name: read_latencies(platform, plugs[name]["reader"], args.reads)
            for name, platform in sides.items()
        }

        purged: dict[str, dict[str, Any]] = {}
        for name, platform in sides.items():
            print(f"{name}: purging …", flush=True)
            purged[name] = purge(platform)
            platform.check_alive()
        # after the purge: the steady state, the retention window's days and the days ahead
        reads_after = {
            name: read_latencies(platform, plugs[name]["reader"], args.reads)
            for name, platform in sides.items()
        }
        partitions = partitioned.django_script(
            "from data.partitions import journal_partitions\nprint(json.dumps(len(journal_partitions())))"
        )

        failed = False
        left: dict[str, list[int]] = {}
        for name, platform in sides.items():
            left[name] = [
                journal_count(platform, "received_at < %s", [bounds["cutoff"]]),
                journal_count(platform, "received_at >= %s", [bounds["cutoff"]]),
                journal_count(platform, '"of" = %s', [plugs[name]["ingest"]["id"]]),
            ]
            if purged[name]["journal"] != args.rows or left[name][0] or ingests[name].errors:
                print(
                    f"VERIFY FAILED ({name}): removed {purged[name]['journal']:,} of {args.rows:,}, "
                    f"{left[name][0]:,} old left, errors {ingests[name].errors[:3]}"
                )
                failed = True
            if left[name][2] != ingests[name].accepted:
                print(
                    f"VERIFY FAILED ({name}): {left[name][2]:,} of {ingests[name].accepted:,} "
                    "ingested entries left"
                )
                failed = True
        kept = {name: left[name][1] - left[name][2] for name in sides}
        if kept["plain"] != kept["partitioned"] or kept["plain"] != args.recent + 29 * 48:
            print(f"VERIFY FAILED: entries within retention left {kept}, seeded {args.recent + 29 * 48:,}")
            failed = True
        if reads["plain"][1] != reads["partitioned"][1] or reads_after["plain"][1] != reads["plain"][1]:
            print(f"VERIFY FAILED: the events pages differ: {reads['plain'][1]} vs {reads['partitioned'][1]}")
            failed = True

    median = {name: statistics.median(values) for name, values in rates.items()}
    ratio = median["partitioned"] / median["plain"]
    print()
    print(
        report.table(
            ["journal", "rounds (points/s)", "median points/s", "× plain"],
            [
                [
                    name,
                    " ".join(f"{v:,.0f}" for v in rates[name]),
                    f"{median[name]:,.0f}",
                    f"{median[name] / median['plain']:.3f}",
                ]
                for name in sides
            ],
            f"HTTP batch ingest (Data Feeds of 1,000, {args.clients} clients, "
            f"{args.rounds}×{args.seconds:.0f} s each, alternating), "
            f"journal holding {args.rows + args.recent:,} entries",
        )
    )
    for name in sides:
        print(f"{name}, last round — {cpu[name]}")
    print()
    print(
        report.table(
            ["journal", "when", "p50 ms", "p99 ms"],
            [
                [
                    name,
                    when,
                    f"{statistics.median(taken[name][0]) * 1000:.1f}",
                    f"{sorted(taken[name][0])[int(0.99 * (len(taken[name][0]) - 1))] * 1000:.1f}",
                ]
                for when, taken in (
                    ("before the purge", reads),
                    (f"after ({partitions} partitions)", reads_after),
                )
                for name in sides
            ],
            f"GET …/events?pageSize=25 of a plug with {29 * 48:,} entries over 29 days, "
            f"{args.reads} in a row",
        )
    )
    print()
    print(
        report.table(
            ["journal", "how", "entries removed", "seconds", "entries/s"],
            [
                [
                    name,
                    "DELETE in batches" if name == "plain" else "DROP of 30 day partitions",
                    f"{purged[name]['journal']:,}",
                    f"{purged[name]['seconds']:.2f}",
                    f"{purged[name]['journal'] / max(purged[name]['seconds'], 1e-9):,.0f}",
                ]
                for name in sides
            ],
            f"Retention: {args.rows:,} journal entries of 30 days past the {RETENTION_DAYS}-day cutoff "
            "(expiry_purge, seconds inside the call)",
        )
    )
    speedup = purged["plain"]["seconds"] / max(purged["partitioned"]["seconds"], 1e-9)
    print()
    print(
        report.verdict(
            f"writes partitioned ≥ {TARGET_WRITE_RATIO:.2f}× plain",
            ratio >= TARGET_WRITE_RATIO,
            f"{ratio:.3f}× ({median['partitioned']:,.0f} vs {median['plain']:,.0f} points/s)",
        )
    )
    print(
        report.verdict(
            f"DROP ≥ {TARGET_DROP_SPEEDUP:.0f}× faster than DELETE",
            speedup >= TARGET_DROP_SPEEDUP,
            f"{speedup:,.0f}× "
            f"({purged['partitioned']['seconds']:.2f} s vs {purged['plain']['seconds']:.1f} s)",
        )
    )
    print(report.machine_note())
    return 1 if failed else 0


if __name__ == "__main__":
    cli.run(main)
