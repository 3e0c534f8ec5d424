"""Purge without pain: 1,000,000 expired points purged while HTTP ingest runs.

    .venv/bin/python bench/purge.py                      # 1 M expired points, ~2 min
    .venv/bin/python bench/purge.py --expired 3000000

1. Seeds `--expired` points that expired a day ago and `--kept` points that expire in a year
   (COPY, straight into `data_datapoint`, for a plug of the bench account).
2. Ingest alone: `--clients` keep-alive connections post property-dialect Data Feeds of 1,000
   points for `--seconds`; points/s.
3. Ingest during the purge: the same load while `data.expiry.expiry_purge` (the task Celery
   beat runs) removes the expired points in its bounded batches, in another process; the
   purge's seconds and the ingest's points/s while it ran.
4. Ingest alone again for `--seconds`, after the purge (autovacuum's clean-up of what it
   deleted included). The baseline is the mean of the two alone phases: this machine's rate
   drifts by a fifth between consecutive windows, and one window before would judge that drift.
5. Verified: no expired point left, every kept point and every ingested point still there.

Targets: the purge takes ≤ 30 s; ingest drops ≤ 20% while it runs.
"""

from __future__ import annotations

import base64
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

TARGET_SECONDS = 30.0
TARGET_DROP = 0.20
BATCH = 1_000
DAY_MS = 86_400_000


class Ingest:
    """Data Feeds of `BATCH` points from `clients` threads until stopped; counts accepted points."""

    def __init__(self, port: int, plug_id: str, auth: str, clients: int, base_at: int) -> None:
        self.port, self.clients = port, clients
        self.path = f"/v3/data/devices/{plug_id}/properties"
        token = base64.b64encode(f"{plug_id}:{auth}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        self.next_at = base_at
        self.lock = threading.Lock()
        self.accepted = 0
        self.errors: list[str] = []

    def _body(self) -> bytes:
        with self.lock:
            start, self.next_at = self.next_at, self.next_at + BATCH
        dps = [{"prop": f"p{i % 8}", "t": start + i, "v": i} for i in range(BATCH)]
        return json.dumps({"dps": dps}, separators=(",", ":")).encode()

    def run_until(self, stop: threading.Event) -> tuple[int, float]:
        """(points accepted, seconds) between now and `stop`."""
        before = self.accepted

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            while not stop.is_set():
                body = self._body()
                try:
                    conn.request("POST", self.path, body=body, headers=self.headers)
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    self.errors.append(f"{exc.__class__.__name__}: {exc}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                    continue
                if response.status != 200 or json.loads(payload) != {"accepted": BATCH, "rejected": 0}:
                    self.errors.append(f"HTTP {response.status}: {payload[:200]!r}")
                    continue
                with self.lock:
                    self.accepted += BATCH
            conn.close()

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self.accepted - before, time.perf_counter() - start

    def run_for(self, seconds: float) -> tuple[int, float]:
        """(points accepted, seconds) of ingest alone for `seconds`."""
        stop = threading.Event()
        threading.Timer(seconds, stop.set).start()
        return self.run_until(stop)


def seed(platform: testbed.Platform, account_id: str, plug_id: str, expired: int, kept: int) -> None:
    now = int(time.time() * 1000)

    def rows() -> Any:
        for i in range(expired):
            yield (
                f"{0xE0 << 88 | i:024x}",
                account_id,
                f"old/c{i % 16}",
                plug_id,
                now - 2 * DAY_MS + i,
                "1",
                now - DAY_MS,
            )
        for i in range(kept):
            yield (
                f"{0xE1 << 88 | i:024x}",
                account_id,
                f"kept/c{i % 16}",
                plug_id,
                now - DAY_MS + i,
                "1",
                now + 365 * DAY_MS,
            )

    with platform.connect() as conn:
        baseline.copy_points(conn, rows())
        conn.commit()
        conn.execute("ANALYZE data_datapoint")


def count(platform: testbed.Platform, where: str, params: list[Any]) -> int:
    with platform.connect() as conn:
        return int(conn.execute(f"SELECT count(*) FROM data_datapoint WHERE {where}", params).fetchone()[0])


def main() -> int:
    parser = cli.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--expired", type=int, default=1_000_000, help="expired points to purge")
    parser.add_argument("--kept", type=int, default=100_000, help="unexpired points that must stay")
    parser.add_argument("--clients", type=int, default=4, help="HTTP ingest connections")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="each ingest-alone phase (before, after): the baseline"
    )
    args = parser.parse_args()
    with testbed.Platform(**cli.platform_options(args)) as platform:
        account = platform.account()
        plug = platform.plug(account["email"], "ingest")
        print(f"seeding {args.expired:,} expired and {args.kept:,} kept points …", flush=True)
        seed(platform, account["id"], plug["id"], args.expired, args.kept)
        ingest = Ingest(platform.http_port, plug["id"], plug["auth"], args.clients, 1_800_000_000_000)

        # warm-up, then ingest alone
        ingest.run_for(2.0)
        with meters.CpuMeter(platform) as meter_alone:
            points_alone, seconds_alone = ingest.run_for(args.seconds)

        # ingest while the purge runs in another process (what a Celery worker does)
        during = threading.Event()
        outcome: dict[str, Any] = {}

        def purge() -> None:
            t0 = time.perf_counter()
            try:
                outcome["counts"] = platform.django_script(
                    "from data.expiry import expiry_purge\nprint(json.dumps(expiry_purge()))", timeout=1800
                )
            except BaseException as exc:  # reported below
                outcome["error"] = exc
            outcome["seconds"] = time.perf_counter() - t0
            during.set()

        purger = threading.Thread(target=purge, daemon=True)
        with meters.CpuMeter(platform) as meter_during:
            purger.start()
            points_during, seconds_during = ingest.run_until(during)
        purger.join()
        platform.check_alive()
        if "error" in outcome:
            raise testbed.BenchError(f"the purge failed: {outcome['error']}")
        with meters.CpuMeter(platform) as meter_after:
            points_after, seconds_after = ingest.run_for(args.seconds)

        left = count(platform, "of = %s AND channel LIKE 'old/%%'", [plug["id"]])
        kept = count(platform, "of = %s AND channel LIKE 'kept/%%'", [plug["id"]])
        ingested = count(platform, "of = %s AND channel LIKE 'p%%'", [plug["id"]])
    # the script's own start-up (Django set-up, ~1 s) is inside the purge's seconds: a bound
    purge_s = outcome["seconds"]
    rate_before = points_alone / seconds_alone
    rate_after = points_after / seconds_after
    rate_alone = (rate_before + rate_after) / 2
    rate_during = points_during / seconds_during
    drop = 1 - rate_during / rate_alone if rate_alone else 0.0
    print(
        report.table(
            ["phase", "seconds", "points ingested", "ingest points/s"],
            [
                ["ingest alone, before", f"{seconds_alone:.1f}", points_alone, f"{rate_before:,.0f}"],
                ["ingest during the purge", f"{seconds_during:.1f}", points_during, f"{rate_during:,.0f}"],
                ["ingest alone, after", f"{seconds_after:.1f}", points_after, f"{rate_after:,.0f}"],
                ["alone: mean of before and after", "", "", f"{rate_alone:,.0f}"],
            ],
            f"Purge of {args.expired:,} expired points under HTTP ingest "
            f"({args.clients} clients, feeds of {BATCH:,})",
        )
    )
    print(f"ingest alone, before — {meter_alone.summary()}")
    print(f"during the purge — {meter_during.summary()}")
    print(f"ingest alone, after — {meter_after.summary()}")
    print(f"purge counts: {outcome['counts']}")
    failed = False
    if outcome["counts"].get("points") != args.expired or left:
        print(f"VERIFY FAILED: purged {outcome['counts'].get('points')}, {left} expired left")
        failed = True
    if kept != args.kept or ingested != ingest.accepted or ingest.errors:
        print(
            f"VERIFY FAILED: kept {kept}/{args.kept}, ingested {ingested}/{ingest.accepted}, "
            f"errors {ingest.errors[:3]}"
        )
        failed = True
    print(report.verdict(f"purge ≤ {TARGET_SECONDS:.0f} s", purge_s <= TARGET_SECONDS, f"{purge_s:.1f} s"))
    print(
        report.verdict(
            f"ingest drop ≤ {TARGET_DROP:.0%}", drop <= TARGET_DROP, f"{drop:.1%} of the mean alone rate"
        )
    )
    print(report.machine_note())
    return 1 if failed else 0


if __name__ == "__main__":
    cli.run(main)
