#!/usr/bin/env python3
"""Memory of idle MQTT connections: N TCP connections (CONNECT accepted, keep-alive 300 s) held
open against one `serve` process; server RSS (VmRSS) before and after, KB per connection.

Every connection is a device of its own (client id = plug id, username = its device key id,
password = its secret): the same client id twice would close the older session. The plugs are
created in bulk through `devices.services.plugs.plug_create` in one Django process.

Baseline in the same run: the same number of connections held by a bare asyncio TCP server
(in a separate process: accept, read the CONNECT, answer CONNACK, keep reading) — what Python's
asyncio streams alone cost per connection.

    .venv/bin/python bench/mqtt_idle.py                       # 10,000 connections, ~2-3 minutes
    .venv/bin/python bench/mqtt_idle.py --connections 2000    # quicker
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import meters  # noqa: E402
import mqtt_load  # noqa: E402
import profiler  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402

TARGET_KB = 30


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--keepalive", type=int, default=300, help="CONNECT keep-alive, seconds")
    parser.add_argument("--parallel", type=int, default=100, help="connection attempts at once")
    parser.add_argument(
        "--max-seconds", type=float, default=150, help="stop opening connections after this long"
    )
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait before reading RSS")
    return parser.parse_args()


BARE_SERVER = textwrap.dedent(
    """
    import asyncio, resource, sys
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def handle(reader, writer):
        first = await reader.read(65536)        # the CONNECT
        if first:
            writer.write(bytes((0x20, 2, 0, 0)))  # CONNACK accepted
        while await reader.read(65536):
            pass
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
        print("ready", flush=True)
        await server.serve_forever()

    asyncio.run(main())
    """
)


async def hold(
    port: int,
    devices: list[dict[str, Any]] | None,
    count: int,
    keepalive: int,
    parallel: int,
    max_seconds: float,
    rss: Any,
    progress_every: int = 1000,
) -> tuple[list[mqtt_load.MqttLoadClient], list[tuple[int, int]], float, int]:
    """Open up to `count` connections; (clients, [(connections, rss_kb)], seconds, refused)."""
    clients: list[mqtt_load.MqttLoadClient] = []
    samples = [(0, rss())]
    refused = 0
    start = time.perf_counter()
    next_sample = progress_every
    i = 0
    while i < count and time.perf_counter() - start < max_seconds:
        batch = range(i, min(i + parallel, count))
        results = await asyncio.gather(
            *(
                mqtt_load.mqtt_open(
                    port,
                    client_id=devices[j]["id"] if devices else f"bare-{j}",
                    username=devices[j]["key_id"] if devices else None,
                    password=devices[j]["auth"] if devices else None,
                    keepalive=keepalive,
                    wait=60,
                )
                for j in batch
            ),
            return_exceptions=True,
        )
        for r in results:
            if isinstance(r, BaseException):
                refused += 1
            else:
                clients.append(r)
        i = batch.stop
        if len(clients) >= next_sample:
            samples.append((len(clients), rss()))
            next_sample += progress_every
    return clients, samples, time.perf_counter() - start, refused


def measure(
    label: str,
    pid: int,
    port: int,
    devices: list[dict[str, Any]] | None,
    args: Any,
    connected_count: Any = None,
) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        # Warm-up: a few connections open and close, so code paths and pools exist before "before".
        warm, _, _, _ = await hold(
            port, devices[-20:] if devices else None, 20, args.keepalive, 20, 30, lambda: 0
        )
        for c in warm:
            c.disconnect()
        await asyncio.sleep(args.settle)
        before = meters.rss_kb(pid)
        clients, samples, seconds, refused = await hold(
            port,
            devices,
            args.connections,
            args.keepalive,
            args.parallel,
            args.max_seconds,
            lambda: meters.rss_kb(pid),
        )
        await asyncio.sleep(args.settle)
        after = meters.rss_kb(pid)
        alive = sum(1 for c in clients if not c.closed.done())
        marked = connected_count() if connected_count else None
        for c in clients:
            c.disconnect()
        await asyncio.sleep(0.5)
        return {
            "label": label,
            "before": before,
            "after": after,
            "opened": len(clients),
            "alive": alive,
            "refused": refused,
            "seconds": seconds,
            "samples": samples,
            "marked": marked,
        }

    return asyncio.run(go())


def kb_per_connection(result: dict[str, Any]) -> float:
    return (result["after"] - result["before"]) / result["alive"] if result["alive"] else float("nan")


def marginal_kb(result: dict[str, Any]) -> float | None:
    samples = [s for s in result["samples"] if s[0] > 0]
    if len(samples) < 2:
        return None
    (n0, r0), (n1, r1) = samples[0], samples[-1]
    return (r1 - r0) / (n1 - n0) if n1 > n0 else None


def main() -> int:
    args = parse_args()
    nofile = testbed.raise_nofile(args.connections + 1_000)
    if nofile < args.connections + 100:
        print(f"open-file limit {nofile} is too low for {args.connections:,} connections")
        return 2
    print(report.machine_note())
    print(
        f"{args.connections:,} idle MQTT connections over TCP, keep-alive {args.keepalive} s, "
        "one `serve` process"
    )
    results = []

    # Baseline: a bare asyncio server in its own process.
    bare_port = testbed.free_port()
    bare = subprocess.Popen(
        [sys.executable, "-c", BARE_SERVER, str(bare_port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert bare.stdout is not None
        if bare.stdout.readline().strip() != b"ready":
            raise testbed.BenchError(
                f"the bare asyncio server did not start: {bare.stderr.read() if bare.stderr else ''}"
            )
        results.append(measure("bare asyncio streams server", bare.pid, bare_port, None, args))
    finally:
        bare.terminate()
        bare.wait(timeout=10)

    with testbed.Platform(**cli.platform_options(args), server_nofile=args.connections + 1_000) as platform:
        account = platform.account()
        t0 = time.perf_counter()
        devices = platform.plugs_bulk(account["email"], "idle-", args.connections)
        print(
            f"provisioned {len(devices):,} plugs in {time.perf_counter() - t0:.1f} s; "
            f"server pid {platform.pid}"
        )
        profile_out = Path(tempfile.gettempdir()) / f"pb_bench_idle_{platform.pid}.txt"

        def connected_count() -> int:
            with platform.connect() as conn:
                row = conn.execute("SELECT count(*) FROM devices_plug WHERE connected").fetchone()
            return int(row[0]) if row else 0

        with profiler.profiled(platform.pid, args.profile, profile_out):
            result = measure(
                "Plugboard serve (TCP MQTT)", platform.pid, platform.mqtt_port, devices, args, connected_count
            )
        platform.check_alive()
        results.append(result)

    print()
    rows = []
    for r in results:
        rows.append(
            [
                r["label"],
                report.fmt_int(r["alive"]),
                report.fmt_int(r["before"] / 1024),
                report.fmt_int(r["after"] / 1024),
                f"{kb_per_connection(r):.1f}",
                f"{marginal_kb(r):.1f}" if marginal_kb(r) is not None else "n/a",
                f"{r['seconds']:.1f}",
                report.fmt_int(r["opened"] / r["seconds"]) if r["seconds"] else "n/a",
            ]
        )
    print(
        report.table(
            [
                "server",
                "connections",
                "RSS before MB",
                "RSS after MB",
                "KB/connection",
                "KB/conn (1k→N slope)",
                "connect s",
                "connects/s",
            ],
            rows,
        )
    )
    print()
    ok = True
    for r in results:
        problems = []
        if r["refused"]:
            problems.append(f"{r['refused']:,} connection attempts failed")
        if r["alive"] != r["opened"]:
            problems.append(f"{r['opened'] - r['alive']:,} connections were closed while idle")
        if problems:
            ok = False
            print(f"{r['label']}: " + "; ".join(problems))
    plugboard = results[-1]
    if plugboard["marked"] is not None:
        print(f"plugs marked connected in the database while held: {plugboard['marked']:,}")
    bare_kb = kb_per_connection(results[0])
    kb = kb_per_connection(plugboard)
    print(
        "RSS samples (connections → MB): "
        + ", ".join(f"{n:,}→{v / 1024:.0f}" for n, v in plugboard["samples"])
    )
    print(
        report.verdict(
            f"all {args.connections:,} connections open and idle",
            plugboard["alive"] >= args.connections,
            f"{plugboard['alive']:,} held; {plugboard['opened'] / plugboard['seconds']:,.0f} CONNECTs/s "
            f"({plugboard['seconds']:.0f} s, --max-seconds {args.max_seconds:.0f})",
        )
    )
    print(
        report.verdict(
            f"≤ {TARGET_KB} KB per idle connection",
            kb <= TARGET_KB,
            f"{kb:.1f} KB over {plugboard['alive']:,} connections (bare asyncio: {bare_kb:.1f} KB)"
            + (
                ""
                if plugboard["alive"] >= args.connections
                else f" — measured on fewer than {args.connections:,}"
            ),
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    cli.run(main)
