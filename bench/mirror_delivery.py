#!/usr/bin/env python3
"""Live delivery on one MQTT connection: a `{plug}/data/#` subscriber against a device mirror
subscriber (`{account}/devices/+/properties/#`, raw and `{"t","v"}`).

`MqttEndpoint.group_message` is fed the account's live broadcast (batches of 100 records of 10
devices), as the transports hand it over; the packets it queues are taken and dropped (no
socket, no database: the mirror's names are learned before the timed rounds, as a connection
has them after its first records). CPU time of this process per record, median of alternating
rounds:

    .venv/bin/python bench/mirror_delivery.py           # ~30 s of CPU
    .venv/bin/python bench/mirror_delivery.py --rounds 9
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plugboard.settings")
os.environ["DATABASE_URL"] = ""  # nothing here touches a database
os.environ["REDIS_URL"] = ""

import django  # noqa: E402

django.setup()

from report import machine_note, median, table, verdict  # noqa: E402

from commands.mqtt.endpoint import MqttEndpoint  # noqa: E402
from commands.mqtt.mirror import DATA_POINTS, RAW, Mirror  # noqa: E402
from devices.access import EVERYWHERE  # noqa: E402
from devices.selectors import MirroredPlug  # noqa: E402
from plugboard.principals import Principal  # noqa: E402

BATCH = 100
# A mirror subscriber's record costs at most this much more than a channel subscriber's.
TARGET_MIRROR_X_CHANNEL = 1.5
CONNECT = bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 1]) + b"x"  # client id "x"


class Link:
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    async def join(self, group: str) -> None: ...

    async def leave(self, group: str) -> None: ...


def endpoint(kind: str, records: list[dict[str, Any]]) -> MqttEndpoint:
    point = MqttEndpoint(Link(), "mqtt-tcp")
    point.conn.receive(CONNECT)
    point.conn.accept()
    point.conn.data_to_send()
    principal = Principal(account_id="com-" + "0" * 24, kind="account", credential="bench")
    point.session.principal = principal
    point.subscriptions.read_reach = EVERYWHERE
    if kind == "channel":
        point.subscriptions.filters = {"+/data/#": 0}
    else:
        form = DATA_POINTS if kind == "mirror-dp" else RAW
        mirror = Mirror(principal, form, account="acme", granted={"acme/devices/+/properties/#"})
        mirror.reach, mirror.reach_until = EVERYWHERE, float("inf")
        names = {r["of"]: MirroredPlug(r["of"], f"meter-{r['of'][-2:]}", ()) for r in records}
        mirror.plugs = {plug_id: (float("inf"), plug) for plug_id, plug in names.items()}
        point.subscriptions.mirror = mirror
        point.subscriptions.filters = {"acme/devices/+/properties/#": 0}
    return point


def per_record_us(point: MqttEndpoint, message: dict[str, Any], batches: int) -> float:
    async def run() -> None:
        for _ in range(batches):
            await point.group_message(message)
            point.conn.data_to_send()

    loop = asyncio.new_event_loop()
    try:
        start = time.process_time()
        loop.run_until_complete(run())
        return (time.process_time() - start) / (batches * BATCH) * 1e6
    finally:
        loop.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=1_500, help="broadcasts of 100 records per round")
    args = parser.parse_args()
    records = [
        {
            "id": f"{i:024x}",
            "channel": "temp",
            "data": 21.5,
            "at": 1_796_173_615_129 + i,
            "of": f"dev-{i % 10:024d}",
        }
        for i in range(BATCH)
    ]
    message = {"type": "data.points", "records": records}
    kinds = ("channel", "mirror", "mirror-dp")
    points = {kind: endpoint(kind, records) for kind in kinds}
    for kind in kinds:  # warm-up
        per_record_us(points[kind], message, args.batches // 10)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(args.rounds):
        for kind in kinds:
            times[kind].append(per_record_us(points[kind], message, args.batches))
    rows = [
        (kind, f"{median(times[kind]):.2f}", f"{min(times[kind]):.2f}-{max(times[kind]):.2f}")
        for kind in kinds
    ]
    print(table(("subscriber", "µs CPU / record (median)", "range"), rows, "live delivery per record"))
    print(machine_note())
    ratio = median(times["mirror"]) / median(times["channel"])
    print(
        verdict(
            "mirror ÷ channel subscriber",
            ratio <= TARGET_MIRROR_X_CHANNEL,
            f"{ratio:.2f}× (target ≤ {TARGET_MIRROR_X_CHANNEL}×)",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
