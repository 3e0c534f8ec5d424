#!/usr/bin/env python3
"""HTTP writes into a device whose properties come from its device profile, beside the same load
into a device that defined the same properties itself, in the same run (issue 15's target:
within 5%).

Both devices are provisioned through the v3 API as a client would: a profile `bench-profile`
declares `--channels` number properties with boundaries (`/v3/properties?owner=…`), device
`bench-inherited` is created with `profile`, device `bench-own` defines the same properties on
itself. Then `POST /v3/data/devices/{id}/properties` Data Feeds go to each in alternating
rounds (own, inherited, own, inherited, …), so drift on a shared machine hits both alike. Every
point is one row; the script counts them afterwards and fails if one is missing.

    .venv/bin/python bench/profile_write.py                  # defaults: ~1 minute
    .venv/bin/python bench/profile_write.py --points 400000 --rounds 4
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import meters  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402
from http_write import Run, check_property, drive, property_bodies, rows_of  # noqa: E402

TARGET_INHERITED_VS_OWN = 0.95


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0], workers=2)
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (keep-alive)")
    parser.add_argument("--points", type=int, default=100_000, help="points per device per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; each writes to both devices")
    parser.add_argument("--batch", type=int, default=1_000, help="points per request")
    parser.add_argument("--channels", type=int, default=10, help="properties")
    parser.add_argument("--warmup", type=int, default=8, help="warm-up requests per device (not timed)")
    return parser.parse_args()


def call(port: int, method: str, path: str, auth: tuple[str, str], body: Any = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    if response.status >= 300:
        raise testbed.BenchError(f"{method} {path}: HTTP {response.status} {payload[:300]!r}")
    return json.loads(payload)


def provision(port: int, master: tuple[str, str], channels: int) -> dict[str, dict[str, str]]:
    """The two devices and their device keys, through the v3 API."""
    call(port, "POST", "/v3/deviceprofiles", master, {"name": "bench-profile"})
    definition = {"type": "number", "boundaries": {"min": -1e12, "max": 1e12}}
    for i in range(channels):
        call(port, "POST", "/v3/properties?owner=bench-profile", master, {"name": f"p{i}", **definition})
    devices = {}
    for kind in ("own", "inherited"):
        body: dict[str, Any] = {"name": f"bench-{kind}"}
        if kind == "inherited":
            body["profile"] = "bench-profile"
        device = call(port, "POST", "/v3/devices", master, body)
        if kind == "own":
            for i in range(channels):
                call(
                    port,
                    "POST",
                    f"/v3/devices/{device['id']}/properties",
                    master,
                    {"name": f"p{i}", **definition},
                )
        props = call(port, "GET", f"/v3/devices/{device['id']}/properties?pageSize=1000", master)["results"]
        inherited = {p["inherited"] for p in props}
        if len(props) != channels or inherited != {kind == "inherited"}:
            raise testbed.BenchError(f"bench-{kind}: unexpected properties {props[:2]}")
        key = call(port, "GET", f"/v3/devices/{device['id']}/apikey", master)
        devices[kind] = {"id": device["id"], "auth": key["secret"]}
    return devices


def main() -> int:
    args = parse_args()
    points = (args.points // args.batch) * args.batch
    if points <= 0:
        print("--points must be at least --batch")
        return 2
    print(report.machine_note())
    print(
        f"{points:,} points per device per round, {args.rounds} rounds, requests of {args.batch:,} "
        f"points into {args.channels} properties from {args.clients} keep-alive clients; "
        f"`serve --workers {args.workers}`."
    )
    with testbed.Platform(**cli.platform_options(args)) as platform:
        account = platform.account()
        master = (account["email"], account["password"])
        devices = provision(platform.http_port, master, args.channels)
        print(
            f"server pid {platform.pid}, http://127.0.0.1:{platform.http_port}, database {platform.db_name}"
        )
        base_at = (time.time_ns() // 1_000_000) - 20 * 86_400_000
        check = check_property(args.batch)

        def run_for(kind: str) -> Run:
            device = devices[kind]
            headers = {"X-Plug-Id": device["id"], "X-Plug-Auth": device["auth"]}
            return Run("POST", f"/v3/data/devices/{device['id']}/properties", headers, check)

        for n, kind in enumerate(("own", "inherited")):  # warm-up, earlier timestamps
            warm = property_bodies(
                args.warmup * args.batch, args.batch, args.channels, base_at - (n + 1) * 86_400_000
            )
            warm_run = run_for(kind)
            drive(platform.http_port, warm_run, warm, min(args.clients, len(warm)))
            if warm_run.errors:
                raise testbed.BenchError(f"warm-up failed: {warm_run.errors[0]}")
        warm_rows = args.warmup * args.batch

        totals = {"own": 0.0, "inherited": 0.0}
        errors: dict[str, list[str]] = {"own": [], "inherited": []}
        meters_of: dict[str, Any] = {}
        per_round = []
        for r in range(args.rounds):
            bodies = property_bodies(points, args.batch, args.channels, base_at + r * points)
            seconds = {}
            for kind in ("own", "inherited") if r % 2 == 0 else ("inherited", "own"):
                run = run_for(kind)
                with meters.CpuMeter(platform) as meter:
                    seconds[kind] = drive(platform.http_port, run, bodies, args.clients)
                platform.check_alive()
                totals[kind] += seconds[kind]
                errors[kind] += run.errors
                meters_of[kind] = meter
            per_round.append(seconds)
        stored = {kind: rows_of(platform, devices[kind]["id"]) - warm_rows for kind in devices}

    expected = points * args.rounds
    print()
    rows = []
    for r, seconds in enumerate(per_round, 1):
        own, inh = points / seconds["own"], points / seconds["inherited"]
        rows.append([str(r), report.fmt_int(own), report.fmt_int(inh), f"{inh / own:.3f}"])
    own_rate, inh_rate = expected / totals["own"], expected / totals["inherited"]
    rows.append(["all", report.fmt_int(own_rate), report.fmt_int(inh_rate), f"{inh_rate / own_rate:.3f}"])
    print(report.table(["round", "own properties pt/s", "profile properties pt/s", "profile / own"], rows))
    ratios = sorted(seconds["own"] / seconds["inherited"] for seconds in per_round)
    median = (ratios[(len(ratios) - 1) // 2] + ratios[len(ratios) // 2]) / 2
    # Rounds alternate which device goes first; on a shared machine the median of the paired
    # rounds says more than the total, which the slowest rounds dominate.
    print(
        f"median of the rounds' profile / own: {median:.3f} (rounds {', '.join(f'{r:.3f}' for r in ratios)})"
    )
    for kind in ("own", "inherited"):
        print(f"{kind:9} (last round) {meters_of[kind].summary()}")
    print()
    ok = True
    for kind in ("own", "inherited"):
        if errors[kind] or stored[kind] != expected:
            ok = False
            print(
                f"VERIFY FAILED {kind}: {stored[kind]:,} rows of {expected:,}; "
                f"{len(errors[kind])} failed requests"
            )
            for problem in errors[kind][:3]:
                print("   ", problem)
    if ok:
        print(f"verified: every point is a row ({expected:,} per device)")
    print(
        report.verdict(
            "profile-inherited properties within 5% of own properties",
            inh_rate >= TARGET_INHERITED_VS_OWN * own_rate,
            f"{inh_rate:,.0f} vs {own_rate:,.0f} points/s = {inh_rate / own_rate:.3f}×",
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    cli.run(main)
