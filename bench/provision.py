#!/usr/bin/env python3
"""Zero-touch provisioning over MQTT (issue 15): `--devices` devices provisioned through
`connio/provisions` with a provisioning key, in devices/s, beside the same devices created the
REST way a provisioning script would (`POST /v3/devices` with the profile, then
`GET /v3/devices/{id}/apikey`), in the same run and from as many concurrent clients.

A profile `bench-meter` declares `--properties` properties (one of them the config property);
each MQTT client (paho-mqtt, over TCP) connects once with the provisioning key, subscribes to
`connio/provisions/{clientId}` and then sends its share of requests one after the other,
`{"mac": "<unique>", "configProperty": "config"}`, waiting for each answer. A second MQTT pass
asks for the same ids again (the find path: the same device and key come back). Verified: every
answer names a device, no id made two, the account holds exactly the devices asked for, and each
has every profile property.

    .venv/bin/python bench/provision.py                 # defaults: ~1 minute
    .venv/bin/python bench/provision.py --devices 5000 --clients 16
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli  # noqa: E402
import meters  # noqa: E402
import report  # noqa: E402
import testbed  # noqa: E402
from profile_write import call  # noqa: E402


def parse_args() -> Any:
    parser = cli.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1_000, help="devices per way (MQTT, REST)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of each way")
    parser.add_argument("--properties", type=int, default=5, help="properties of the profile")
    return parser.parse_args()


class Provisioner:
    """One MQTT connection of a provisioning key that asks for ids one at a time."""

    def __init__(self, port: int, client_id: str, key: tuple[str, str]) -> None:
        self.client_id = client_id
        self.answer: dict[str, Any] | None = None
        self.got = threading.Event()
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        self.client.username_pw_set(*key)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"connio/provisions/{client_id}", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.ready.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port, keepalive=60)
        self.client.loop_start()
        if not self.ready.wait(20):
            raise testbed.BenchError(f"{client_id}: no SUBACK")

    def _message(self, client: Any, userdata: Any, message: Any) -> None:
        self.answer = json.loads(message.payload)
        self.got.set()

    def ask(self, mac: str) -> dict[str, Any]:
        self.got.clear()
        self.client.publish("connio/provisions", json.dumps({"mac": mac, "configProperty": "config"}), qos=1)
        if not self.got.wait(30):
            raise testbed.BenchError(f"{self.client_id}: no answer for {mac}")
        assert self.answer is not None
        return self.answer

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def in_threads(count: int, work: Any) -> tuple[float, list[str]]:
    """Run `work(n)` for n in 0..count-1 in threads at once; (seconds, errors)."""
    errors: list[str] = []

    def guarded(n: int) -> None:
        try:
            work(n)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, errors


def main() -> int:
    args = parse_args()
    print(report.machine_note())
    print(
        f"{args.devices:,} devices each way from {args.clients} concurrent clients; a profile of "
        f"{args.properties} properties; one `serve` process."
    )
    with testbed.Platform(**cli.platform_options(args)) as platform:
        account = platform.account()
        master = (account["email"], account["password"])
        port = platform.http_port
        call(port, "POST", "/v3/deviceprofiles", master, {"name": "bench-meter"})
        call(port, "POST", "/v3/properties?owner=bench-meter", master, {"name": "config", "type": "object"})
        for i in range(args.properties - 1):
            call(
                port, "POST", "/v3/properties?owner=bench-meter", master, {"name": f"p{i}", "type": "number"}
            )
        made = call(
            port,
            "POST",
            "/v3/apiclients",
            master,
            {
                "name": "factory",
                "context": {"type": "deviceprofile", "ids": ["bench-meter"]},
                "scope": ["device:provision"],
            },
        )
        key = (made["id"], made["secret"])
        share = [list(range(n, args.devices, args.clients)) for n in range(args.clients)]
        print(f"server pid {platform.pid}, database {platform.db_name}")

        # MQTT: connections first (not timed), then the requests.
        provisioners = [Provisioner(platform.mqtt_port, f"line-{n}", key) for n in range(args.clients)]
        answers: dict[str, dict[str, Any]] = {}
        again: dict[str, dict[str, Any]] = {}

        def provision_into(target: dict[str, dict[str, Any]]) -> Any:
            def work(n: int) -> None:
                for i in share[n]:
                    mac = f"02:00:00:{i >> 16 & 0xFF:02x}:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}"
                    target[mac] = provisioners[n].ask(mac)

            return work

        with meters.CpuMeter(platform) as mqtt_meter:
            mqtt_seconds, mqtt_errors = in_threads(args.clients, provision_into(answers))
        with meters.CpuMeter(platform) as again_meter:
            again_seconds, again_errors = in_threads(args.clients, provision_into(again))
        for provisioner in provisioners:
            provisioner.close()

        # REST, the same number of devices of the same profile.
        def create(n: int) -> None:
            for i in share[n]:
                device = call(
                    port, "POST", "/v3/devices", master, {"name": f"rest-{i}", "profile": "bench-meter"}
                )
                call(port, "GET", f"/v3/devices/{device['id']}/apikey", master)

        with meters.CpuMeter(platform) as rest_meter:
            rest_seconds, rest_errors = in_threads(args.clients, create)
        platform.check_alive()

        counts = platform.django_script(
            "from devices.models import Plug, Property\n"
            "plugs = Plug.objects.filter(name__startswith='bench-meter-')\n"
            "result = {'devices': plugs.count(),"
            " 'properties': Property.objects.filter(plug__in=plugs).count(),"
            " 'rest': Plug.objects.filter(name__startswith='rest-').count()}\n"
            "print(json.dumps(result))\n"
        )

    n = args.devices
    rows = [
        [
            "MQTT provisioning (new devices)",
            report.fmt_int(n / mqtt_seconds),
            f"{mqtt_seconds:.1f}",
            f"{mqtt_meter.server / n * 1000:.2f}",
            f"{mqtt_meter.postgres / n * 1000:.2f}",
        ],
        [
            "MQTT provisioning (same ids again)",
            report.fmt_int(n / again_seconds),
            f"{again_seconds:.1f}",
            f"{again_meter.server / n * 1000:.2f}",
            f"{again_meter.postgres / n * 1000:.2f}",
        ],
        [
            "REST create + key read (baseline)",
            report.fmt_int(n / rest_seconds),
            f"{rest_seconds:.1f}",
            f"{rest_meter.server / n * 1000:.2f}",
            f"{rest_meter.postgres / n * 1000:.2f}",
        ],
    ]
    print()
    print(
        report.table(
            ["way", "devices/s", "seconds", "server CPU ms/device", "PostgreSQL CPU ms/device"], rows
        )
    )
    for name, meter in (("MQTT new", mqtt_meter), ("MQTT again", again_meter), ("REST", rest_meter)):
        print(f"{name:10} {meter.summary()}")
    print()
    problems = [*mqtt_errors, *again_errors, *rest_errors]
    failed = [mac for mac, a in answers.items() if "deviceId" not in a]
    distinct = {a.get("deviceId") for a in answers.values()}
    same = all(again.get(mac, {}).get("deviceId") == a.get("deviceId") for mac, a in answers.items())
    expected_props = n * args.properties
    ok = (
        not problems
        and not failed
        and len(answers) == n
        and len(distinct) == n
        and same
        and counts["devices"] == n
        and counts["properties"] == expected_props
        and counts["rest"] == n
    )
    if ok:
        print(
            f"verified: {n:,} answers, {n:,} distinct devices each with {args.properties} properties; "
            f"the same ids again gave the same devices; {n:,} REST devices"
        )
    else:
        print(
            f"VERIFY FAILED: {len(problems)} errors ({problems[:2]}), {len(failed)} refused answers "
            f"({[answers[m] for m in failed[:2]]}), {len(distinct)} distinct devices, same again: {same}, "
            f"counts {counts} (expected {n} devices, {expected_props} properties)"
        )
    ratio = (n / mqtt_seconds) / (n / rest_seconds)
    print(
        report.verdict(
            "MQTT provisioning of new devices vs the REST way", True, f"{ratio:.2f}× (reported, no target)"
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    cli.run(main)
