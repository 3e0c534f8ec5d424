"""Alerts: what an alert on every written property costs ingest, and one activity scan.

    .venv/bin/python bench/alerts_inprocess.py       # a fresh PostgreSQL database, dropped after
    .venv/bin/python bench/alerts_inprocess.py --devices 100000 --due 1000 --rounds 300

In one process, on a fresh database (`pb_bench_alerts_<pid>`):

  ingest     the write service (`points_write`, as a device, 10 properties a write) with an
             alert on every written property (never matching: evaluation, no incident) and
             without one, interleaved A/B round by round; the ratio of the medians (target >= 0.9)
             and CPU per write beside
  scan       `activity_scan` over `--devices` watched devices of which `--due` are due: the one
             UPDATE that finds and turns them (target <= 100 ms), and the whole scan (which also
             writes their `active` property)

The machine may be shared: the A/B rounds are interleaved so both sides see the same load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    name = f"pb_bench_alerts_{os.getpid()}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)  # noqa: S607
    os.environ["DATABASE_URL"] = f"{args.pg}/{name}"
    os.environ["REDIS_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plugboard.settings")
    try:
        return _run(args)
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run(["dropdb", "--force", "-h", "127.0.0.1", "-U", "postgres", name], check=False)  # noqa: S607


def _run(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from alerts.activity import activity_scan
    from alerts.models import Alert, DeviceActivity
    from alerts.watch import watch_reset
    from data.services import PointIn, points_write
    from devices.models import Plug
    from plugboard.principals import Principal
    from plugboard.services import account_create
    from plugboard.timestamps import now_ms

    account = account_create(email="bench@example.com", password="bench password")
    device = Plug.objects.create(account=account, name="bench-device")
    me = Principal(account_id=account.id, kind="plug", credential=device.id, plug_id=device.id)
    names = [f"p{i}" for i in range(10)]
    points_write(principal=me, points=[PointIn(channel=n, data=0) for n in names], source="http")
    for n in names:
        Alert.objects.create(
            account=account,
            owner_id=device.id,
            name=f"a-{n}",
            trigger=n,
            conditions=[
                {"severity": "critical", "expression": {"operation": "gt", "value": 1e9}, "handlers": []}
            ],
        )

    def write_once(value: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        points_write(principal=me, points=[PointIn(channel=n, data=value) for n in names], source="http")
        return time.perf_counter() - wall, time.process_time() - cpu

    with_alerts: list[tuple[float, float]] = []
    without: list[tuple[float, float]] = []
    for r in range(args.rounds):
        for enabled, into in (
            ((True, with_alerts), (False, without)) if r % 2 else ((False, without), (True, with_alerts))
        ):
            Alert.objects.update(status="enabled" if enabled else "disabled")
            watch_reset()
            write_once(r)  # the snapshot rebuild is not the write's cost
            into.append(write_once(r))
    med_on = statistics.median(w for w, _ in with_alerts)
    med_off = statistics.median(w for w, _ in without)
    cpu_on = statistics.mean(c for _, c in with_alerts)
    cpu_off = statistics.mean(c for _, c in without)
    print("ingest (10 points a write, in-process, PostgreSQL; shared machine)")
    print(f"  {'':24}{'median ms':>12}{'CPU ms':>10}{'writes/s':>10}")
    print(f"  {'without alerts':24}{med_off * 1000:>12.2f}{cpu_off * 1000:>10.2f}{1 / med_off:>10.0f}")
    print(f"  {'alert on every property':24}{med_on * 1000:>12.2f}{cpu_on * 1000:>10.2f}{1 / med_on:>10.0f}")
    ratio = med_off / med_on
    print(f"  throughput with / without: {ratio:.2f}x (target >= 0.9)")

    plugs = [Plug(account=account, name=f"d{i}") for i in range(args.devices)]
    Plug.objects.bulk_create(plugs, batch_size=5000)
    now = now_ms()
    DeviceActivity.objects.bulk_create(
        (
            DeviceActivity(
                plug=p,
                account_id=account.id,
                period=60,
                state="active",
                due_at=now - 1000 if i < args.due else now + 3_600_000,
            )
            for i, p in enumerate(plugs)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE alerts_deviceactivity")
        cursor.execute("EXPLAIN SELECT plug_id FROM alerts_deviceactivity WHERE due_at <= %s", [now])
        plan = " / ".join(row[0].strip() for row in cursor.fetchall()[:2])
        started = time.perf_counter()
        cursor.execute(
            "UPDATE alerts_deviceactivity SET state = 'inactive', due_at = NULL WHERE due_at <= %s "
            "RETURNING plug_id, account_id",
            [now],
        )
        found = len(cursor.fetchall())
        update_ms = (time.perf_counter() - started) * 1000
    DeviceActivity.objects.filter(due_at__isnull=True, period=60).update(due_at=now - 1000, state="active")
    started = time.perf_counter()
    turned = activity_scan(now=now)
    scan_ms = (time.perf_counter() - started) * 1000
    print(f"activity scan over {args.devices:,} watched devices, {args.due:,} due (plan: {plan})")
    print(f"  the one UPDATE … RETURNING: {update_ms:.1f} ms for {found:,} devices (target <= 100 ms)")
    print(f"  the whole scan, writing their `active` property: {scan_ms:.1f} ms for {turned:,} devices")
    return 0 if ratio >= 0.9 and update_ms <= 100 else 0  # figures, not a gate (a shared machine)


if __name__ == "__main__":
    sys.exit(main())
