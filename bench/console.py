#!/usr/bin/env python3
"""Console page server time: 10,000 plugs and a property of 1,000,000 points, vs raw SQL.

An account gets 10,000 plugs and one plug a property with 1,000,000 points (one every 0.6 s,
so the last week holds all of them) and as many journal rows, 20,000 commands (a quarter
pending) and 10,000 device log lines, bulk-loaded with `INSERT … SELECT generate_series` (not
through the API). The console's pages are then served in this process through Django's test
`Client` (signed in; no HTTP server, no network): the home page (the fleet's numbers), the
plug list (first page, a deep keyset page, a search), the plug page, and a one-week chart.
Each is timed (median and p95 of `--runs`, and this process's CPU) with its query count
(`CaptureQueriesContext`), beside the page's slowest query re-run alone through psycopg 3 (the
raw floor); each of the home page's queries is also timed inside PostgreSQL (EXPLAIN ANALYZE:
planning + execution, what a shared machine inflates least). The plug list's queries
are EXPLAINed: they must use the `plug_list` (account, name, id) index.

Last, the live path: `points_write` of one point at a time with no console open, with and
without the after-commit live hook (`broadcast_points`), in CPU time per point.

    .venv/bin/python bench/console.py                 # ~1-2 minutes
    .venv/bin/python bench/console.py --points 200000 --runs 5
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402

TARGET_MS = 100.0
LAST_QUERIES: list[tuple[float, str]] = []
LAST_CPU_MS = [0.0]  # this process's CPU per request (Django's work; PostgreSQL's is not in it)
LAST_P95_MS = [0.0]
TARGET_LIVE_MS = 1.0
PROPERTY = "temperature"
WEEK_MS = 7 * 86_400_000


class Database(testbed.Platform):
    """The testbed's fresh, migrated database, without a server: the pages run in-process."""

    def start_server(self) -> None:
        # What `serve` does before it listens: the hashed, compressed static files the pages name.
        self.manage("collectstatic", "--noinput", "-v", "0", parse=False)


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--plugs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15, help="timed requests per page (median)")
    parser.add_argument("--writes", type=int, default=2_000, help="single-point writes per live-path run")
    return parser.parse_args()


def django_setup(db: Database) -> None:
    os.environ.update(
        {
            k: v
            for k, v in db.env.items()
            if k in ("DATABASE_URL", "REDIS_URL", "PLUGBOARD_VAR_DIR", "SECRET_KEY", "LOG_LEVEL")
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plugboard.settings")
    sys.path.insert(0, str(testbed.ROOT))
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


def load(db: Database, account_id: str, plug_id: str, plugs: int, points: int, now: int) -> dict[str, float]:
    """Bulk rows in SQL; seconds taken per table."""
    took: dict[str, float] = {}
    with db.connect() as conn:
        perm = conn.execute("SELECT perm::text FROM devices_plug WHERE id = %s", (plug_id,)).fetchone()[0]
        start = time.perf_counter()
        conn.execute(
            """
            INSERT INTO devices_plug (id, account_id, name, friendly_name, description, tags, hwid,
              kind, origin, status, props, perm, control_password, connected, transport, date_created,
              date_modified)
            SELECT 'dev-' || lpad(to_hex(i), 24, '0'), %(account)s, 'node-' || lpad(i::text, 5, '0'), '', '',
              '[]', 'HW-' || i, 'thing', 'prototype', 'ok', '{}', %(perm)s::jsonb, '', i %% 3 = 0,
              CASE WHEN i %% 3 = 0 THEN 'mqtt-tcp' ELSE '' END, now(), now()
            FROM generate_series(1, %(n)s) AS i
            """,
            {"account": account_id, "perm": perm, "n": plugs},
        )
        conn.commit()
        took["plugs"] = time.perf_counter() - start
        step = WEEK_MS / points
        params = {"account": account_id, "of": plug_id, "ch": PROPERTY, "n": points, "now": now, "step": step}
        start = time.perf_counter()
        conn.execute(
            """
            INSERT INTO data_datapoint (id, account_id, channel, "of", at, data, expire_at)
            SELECT 'b0' || lpad(to_hex(i), 22, '0'), %(account)s, %(ch)s, %(of)s,
              %(now)s - 60000 - floor(i * %(step)s)::bigint, to_jsonb((i %% 1000) / 10.0), NULL
            FROM generate_series(1, %(n)s) AS i
            """,
            params,
        )
        conn.commit()
        took["points"] = time.perf_counter() - start
        start = time.perf_counter()
        conn.execute(
            """
            INSERT INTO data_journalentry (account_id, received_at, event, source, credential, point_id,
              channel, "of", at, data, expire_at)
            SELECT %(account)s, %(now)s - 60000 - floor(i * %(step)s)::bigint, 'data', 'mqtt-tcp', %(of)s,
              'b0' || lpad(to_hex(i), 22, '0'), %(ch)s, %(of)s, %(now)s - 60000 - floor(i * %(step)s)::bigint,
              to_jsonb((i %% 1000) / 10.0), NULL
            FROM generate_series(%(n)s, 1, -1) AS i
            """,
            params,
        )
        conn.commit()
        took["journal"] = time.perf_counter() - start
        # What the home page counts besides: commands (every fourth still pending) and device log
        # lines spread over the plugs.
        start = time.perf_counter()
        conn.execute(
            """
            INSERT INTO commands_command (id, account_id, plug_id, property, value, at, point_id,
              credential, state, created_at, expire_at)
            SELECT 'c0' || lpad(to_hex(i), 22, '0'), %(account)s,
              'dev-' || lpad(to_hex(1 + i %% %(plugs)s), 24, '0'), 'setpoint', '21'::jsonb,
              %(now)s - i * 1000, '', %(account)s,
              CASE WHEN i %% 4 = 0 THEN 'pending' ELSE 'acked' END, now() - i * interval '1 second',
              %(now)s + 86400000
            FROM generate_series(1, %(n)s) AS i
            """,
            {"account": account_id, "plugs": plugs, "now": now, "n": min(points // 50, 20_000)},
        )
        conn.execute(
            """
            INSERT INTO devices_devicelogentry (plug_id, at, source, property, code, message)
            SELECT 'dev-' || lpad(to_hex(1 + i %% %(plugs)s), 24, '0'), now() - i * interval '1 second',
              'http', 'temperature', 'BadValue', 'not a number'
            FROM generate_series(1, %(n)s) AS i
            """,
            {"plugs": plugs, "n": min(points // 100, 10_000)},
        )
        conn.commit()
        took["commands and device log"] = time.perf_counter() - start
    with db.connect(autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return took


def time_page(client: Any, path: str, runs: int) -> tuple[float, int, dict[str, Any], int]:
    """(median ms, queries, the slowest query of one run, status); each query of that run is
    kept in `LAST_QUERIES` (time in ms, SQL)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(path)  # warm-up (and caches)
    status = response.status_code
    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    queries = list(captured.captured_queries)  # the next requests reset Django's query log
    LAST_QUERIES[:] = [(float(q["time"]) * 1000, q["sql"]) for q in queries]
    # The page's main query: its slowest, leaving out the session and account look-ups.
    own = [q for q in queries if "django_session" not in q["sql"] and '"plugboard_account"' not in q["sql"]]
    slowest = max(own or queries, key=lambda q: float(q["time"]))
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    LAST_CPU_MS[0] = report.median(cpu)
    LAST_P95_MS[0] = sorted(times)[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return report.median(times), len(queries), slowest, status


def time_raw(db: Database, sql: str, runs: int) -> float:
    with db.connect(autocommit=True) as conn:
        conn.execute(sql).fetchall()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            conn.execute(sql).fetchall()
            times.append((time.perf_counter() - start) * 1000)
    return report.median(times)


def server_ms(db: Database, sql: str, runs: int) -> tuple[float, float]:
    """(planning, execution) ms of the query in PostgreSQL itself, median of `runs` EXPLAIN
    ANALYZE: what the server spends on it, without the round trip or this process's wait for a
    core on a shared machine."""
    plans, execs = [], []
    with db.connect(autocommit=True) as conn:
        for _ in range(runs):
            lines = [row[0] for row in conn.execute("EXPLAIN (ANALYZE, TIMING OFF) " + sql).fetchall()]
            plans.append(float(next(x for x in lines if x.startswith("Planning Time")).split()[2]))
            execs.append(float(next(x for x in lines if x.startswith("Execution Time")).split()[2]))
    return report.median(plans), report.median(execs)


def explain(db: Database, sql: str) -> list[str]:
    with db.connect(autocommit=True) as conn:
        return [row[0] for row in conn.execute("EXPLAIN " + sql).fetchall()]


def live_path(plug: Any, writes: int) -> tuple[float, float]:
    """CPU ms per single-point write with the live hook as shipped (nobody listening), and with
    it replaced by nothing."""
    import data.services as services
    from data.services import PointIn, points_write
    from plugboard.principals import Principal
    from plugboard.timestamps import now_ms

    own = Principal(account_id=plug.account_id, kind="plug", credential=plug.id, plug_id=plug.id)
    shipped = services.broadcast_points

    def run(channel: str) -> float:
        base = now_ms() - 10 * WEEK_MS
        for i in range(50):  # warm-up, creates the property
            points_write(
                principal=own,
                points=[PointIn(channel=channel, data=i, at=base - i, of=plug.id)],
                source="mqtt-tcp",
            )
        start = time.process_time()
        for i in range(writes):
            points_write(
                principal=own,
                points=[PointIn(channel=channel, data=i, at=base + i, of=plug.id)],
                source="mqtt-tcp",
            )
        return (time.process_time() - start) * 1000 / writes

    results = {}
    for round_ in range(2):  # alternate, twice each, to spread the machine's noise
        services.broadcast_points = shipped  # type: ignore[assignment]
        results.setdefault("with", []).append(run(f"live/with{round_}"))
        services.broadcast_points = lambda accounts, records, source="": None  # type: ignore[assignment]
        results.setdefault("without", []).append(run(f"live/without{round_}"))
    services.broadcast_points = shipped  # type: ignore[assignment]
    return min(results["with"]), min(results["without"])


def main() -> int:
    args = parse_args()
    print(report.machine_note())
    print(
        f"{args.plugs:,} plugs, {args.points:,} points of one property over the last week; pages in-process"
    )
    with Database(**cli.platform_options(args)) as db:
        django_setup(db)
        from django.test import Client

        from data.services import PointIn, points_write
        from devices.services.plugs import plug_create
        from plugboard.principals import Principal
        from plugboard.services import account_create
        from plugboard.timestamps import now_ms

        password = "bench-pass-1"
        account = account_create(email="bench@example.com", password=password)
        enrolled = plug_create(account=account, name="node-05000x", hwid="SENSOR-1")
        plug = enrolled.plug
        own = Principal(account_id=account.id, kind="plug", credential=plug.id, plug_id=plug.id)
        now = now_ms()
        points_write(
            principal=own, points=[PointIn(channel=PROPERTY, data=1.0, at=now, of=plug.id)], source="http"
        )
        took = load(db, account.id, plug.id, args.plugs, args.points, now)
        print("bulk load: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()))

        client = Client()
        response = client.post("/console/sign-in/", {"email": account.email, "password": password})
        if response.status_code != 302:
            raise testbed.BenchError(f"sign-in answered {response.status_code}")
        deep = f"node-{int(args.plugs * 0.9):05d}"
        with db.connect() as conn:
            deep_id = conn.execute(
                "SELECT id FROM devices_plug WHERE account_id = %s AND name = %s", (account.id, deep)
            ).fetchone()[0]
        pages = [
            ("home (the fleet at a glance)", "/console/"),
            ("plug list, first page", "/console/plugs/"),
            (f"plug list, keyset page after {deep}", f"/console/plugs/?after={deep}:{deep_id}"),
            ("plug list, search 'node-0999'", "/console/plugs/?q=node-0999"),
            ("plug page (last hour chart)", f"/console/plugs/{plug.id}/"),
            ("plug page, one-week chart", f"/console/plugs/{plug.id}/?chart={PROPERTY}&window=week"),
        ]
        rows, verdicts, plans = [], [], []
        worst = 0.0
        for name, path in pages:
            ms, queries, slowest, status = time_page(client, path, args.runs)
            if status != 200:
                raise testbed.BenchError(f"{path} answered {status}")
            raw = time_raw(db, slowest["sql"], args.runs)
            if name.startswith("home"):  # what each query costs, in the page and in PostgreSQL
                home_queries = []
                for ms_q, sql in LAST_QUERIES:
                    planning, execution = server_ms(db, sql, 5)
                    home_queries.append(
                        [
                            f"{ms_q:.1f}",
                            f"{time_raw(db, sql, 5):.1f}",
                            f"{planning:.2f} + {execution:.2f}",
                            sql[:80].replace("\n", " "),
                        ]
                    )
                home_server = sum(sum(map(float, row[2].split(" + "))) for row in home_queries)
            rows.append(
                [
                    name,
                    f"{ms:.1f}",
                    f"{LAST_P95_MS[0]:.1f}",
                    f"{LAST_CPU_MS[0]:.1f}",
                    queries,
                    f"{raw:.1f}",
                    slowest["sql"][:60].replace("\n", " "),
                ]
            )
            worst = max(worst, ms)
            verdicts.append(
                report.verdict(name, ms <= TARGET_MS, f"{ms:.1f} ms (target ≤ {TARGET_MS:.0f} ms)")
            )
            if name.startswith("plug list"):
                plan = explain(db, slowest["sql"])
                uses = any("plug_list" in line for line in plan)
                plans.append(
                    f"{name}: {'uses plug_list' if uses else 'DOES NOT use plug_list'}: {plan[0].strip()}"
                )
        print()
        print(
            report.table(
                [
                    "page",
                    "server ms (median)",
                    "p95",
                    "Django CPU ms",
                    "queries",
                    "raw SQL ms",
                    "its slowest query, alone in psycopg",
                ],
                rows,
                title=f"Console pages, median of {args.runs} (Django test Client in process, signed in)",
            )
        )
        print()
        print(
            report.table(
                [
                    "in the page, ms",
                    "alone in psycopg, ms (median of 5)",
                    "PostgreSQL plan + run ms",
                    "query",
                ],
                home_queries,
                title="The home page's queries, one request (PostgreSQL's time by EXPLAIN ANALYZE)",
            )
        )
        print(f"home page: {home_server:.1f} ms of PostgreSQL time over its {len(home_queries)} queries")
        print()
        print("\n".join(plans))
        print()
        with_hook, without_hook = live_path(plug, args.writes)
        added = with_hook - without_hook
        print(
            report.table(
                ["single-point points_write, no console open", "CPU ms per point"],
                [
                    ["with the live hook", f"{with_hook:.3f}"],
                    ["hook removed", f"{without_hook:.3f}"],
                    ["added", f"{added:.3f}"],
                ],
            )
        )
        print()
        for line in verdicts:
            print(line)
        print(
            report.verdict(
                "live path, no console open", added <= TARGET_LIVE_MS, f"{added:.3f} ms CPU per point"
            )
        )
        return 0


if __name__ == "__main__":
    cli.run(main)
