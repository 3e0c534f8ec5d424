"""Soak: minutes of mixed load, then every accepted point counted in the store and the journal.

Load, paced per tick of 0.1 s (a tick that falls behind is not made up): HTTP channel dialect
(`PUT /iot/data/soak-c`, arrays), HTTP property dialect (`POST /v3/data/devices/{id}/properties`,
Data Feeds), MQTT over TCP and over WebSocket (paho, QoS 1, a plug's own channel), points with a
1 s TTL (`soak-ttl`) for the purge, which runs every `--purge-every` seconds, and commands: an
HTTP property write by the account every 0.25 s to a device subscribed over MQTT (QoS 1).

Verified at the end: accepted (200 / PUBACK) == stored == journalled per stream, every command
`acked`, every TTL point past its expiry purged. The server's RSS is printed every minute.

    .venv/bin/python bench/soak.py --minutes 10

A 60-second variant runs in the suite (tests/plugboard/test_soak.py) through `Soak`.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TICK = 0.1
AT0 = 1_750_000_000_000


@dataclass
class Plug:
    id: str
    key_id: str
    auth: str


@dataclass
class Rates:
    """Points (or messages) per second of each stream."""

    channel: int = 1_000
    prop: int = 500
    mqtt_tcp: int = 200
    mqtt_ws: int = 200
    ttl: int = 100
    commands: float = 4.0

    def scaled(self, k: float) -> Rates:
        return Rates(
            *(max(1, int(v * k)) for v in (self.channel, self.prop, self.mqtt_tcp, self.mqtt_ws, self.ttl)),
            self.commands,
        )  # noqa: E501


@dataclass
class Stream:
    name: str
    accepted: int = 0
    refused: list[str] = field(default_factory=list)


def _paced(stop: threading.Event, per_second: float, step: Callable[[int], None]) -> None:
    """Call `step(n)` with how many items this tick owes, TICK by TICK, until `stop`."""
    owed = 0.0
    next_tick = time.monotonic()
    while not stop.is_set():
        owed += per_second * TICK
        n = int(owed)
        if n:
            owed -= n
            step(n)
        next_tick += TICK
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_tick = time.monotonic()  # behind: go on, without a burst to catch up


class Http:
    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port, self.headers = port, {"Content-Type": "application/json", **headers}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        data = json.dumps(body, separators=(",", ":")).encode()
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, data, self.headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def plug_headers(plug: Plug) -> dict[str, str]:
    return {"X-Plug-Id": plug.id, "X-Plug-Auth": plug.auth}


def master_headers(email: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()}


class MqttPublisher:
    """paho at QoS 1 on a plug's own channel; counts PUBACKs."""

    def __init__(self, port: int, plug: Plug, channel: str, transport: str) -> None:
        self.stream = Stream(f"mqtt-{'ws' if transport == 'websockets' else 'tcp'}")
        self.acked = 0
        self.sent = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=plug.id, protocol=mqtt.MQTTv311, transport=transport
        )
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        self.client.username_pw_set(plug.key_id, plug.auth)
        self.client.max_inflight_messages_set(100)
        self.client.on_publish = self._acked
        self.topic = f"{plug.id}/data/{channel}"
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _acked(self, *args: Any) -> None:
        self.acked += 1

    def step(self, n: int) -> None:
        for _ in range(n):
            at = AT0 + self.sent
            self.client.publish(self.topic, json.dumps({"data": self.sent, "at": at}), qos=1)
            self.sent += 1

    def stop(self) -> None:
        self.stream.accepted = self.acked
        self.client.disconnect()
        self.client.loop_stop()


class CommandDevice:
    """A device subscribed to its commands (QoS 1, persistent session); paho acks each."""

    def __init__(self, port: int, plug: Plug) -> None:
        self.received = 0
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=plug.id, clean_session=False, protocol=mqtt.MQTTv311
        )
        self.client.username_pw_set(plug.key_id, plug.auth)
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(
            f"csipio/data/in/devices/{plug.id}/properties/#", qos=1
        )
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(15):
            raise RuntimeError("the command device got no SUBACK")

    def _message(self, *args: Any) -> None:
        self.received += 1

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Result:
    streams: dict[str, Stream]
    stored: dict[str, int]
    journalled: dict[str, int]
    commands: dict[str, int]  # state → count
    ttl_left: int
    purges: int
    rss_kb: list[tuple[float, int]]
    seconds: float
    errors: list[str]

    @property
    def ok(self) -> bool:
        counted = all(
            s.accepted == self.stored.get(n) == self.journalled.get(n) and not s.refused
            for n, s in self.streams.items()
            if n != "ttl"
        )
        ttl = self.streams["ttl"]
        return (
            counted
            and not ttl.refused
            and self.journalled.get("ttl") == ttl.accepted
            and self.ttl_left == 0
            and set(self.commands) == {"acked"}
            and not self.errors
        )

    def table(self) -> str:
        rows = ["stream | accepted | stored | journalled | refused"]
        for name, s in self.streams.items():
            stored = "purged" if name == "ttl" else str(self.stored.get(name, 0))
            rows.append(
                f"{name} | {s.accepted} | {stored} | {self.journalled.get(name, 0)} | {len(s.refused)}"
            )
        rows.append(f"commands | {sum(self.commands.values())} | states {self.commands} | | ")
        rows.append(
            f"purges {self.purges}, TTL points left past expiry {self.ttl_left}, {self.seconds:.0f} s"
        )
        rows.append(
            "server RSS (MiB) at: " + ", ".join(f"{t:.0f} s {kb / 1024:.0f}" for t, kb in self.rss_kb)
        )
        return "\n".join(rows)


CHANNELS = {
    "channel": "soak-c",
    "prop": "soak-p",
    "mqtt-tcp": "soak-t",
    "mqtt-ws": "soak-w",
    "ttl": "soak-ttl",
}


class Soak:
    """The load and its verification. `sql(query, params)` reads the platform's database;
    `purge()` runs the real purge (`data.expiry.expiry_purge`) once; `rss()` is the server's
    resident set in KiB."""

    def __init__(
        self,
        *,
        http_port: int,
        mqtt_port: int,
        plugs: dict[str, Plug],
        account: tuple[str, str],
        sql: Callable[[str, list[Any]], list[tuple[Any, ...]]],
        purge: Callable[[], Any],
        rss: Callable[[], int],
        rates: Rates,
        purge_every: float = 20.0,
        report_every: float = 60.0,
        say: Callable[[str], None] = print,
    ) -> None:
        self.http_port, self.mqtt_port, self.plugs, self.account = http_port, mqtt_port, plugs, account
        self.sql, self.purge, self.rss, self.rates = sql, purge, rss, rates
        self.purge_every, self.report_every, self.say = purge_every, report_every, say
        self.errors: list[str] = []

    def _guard(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                target()
            except Exception as exc:  # reported in the result
                self.errors.append(f"{name}: {exc.__class__.__name__}: {exc}")

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    def run(self, seconds: float) -> Result:
        stop = threading.Event()
        streams = {n: Stream(n) for n in ("channel", "prop", "ttl")}
        counter = {"channel": 0, "prop": 0, "ttl": 0, "commands": 0, "purges": 0}
        chan_http = Http(self.http_port, plug_headers(self.plugs["channel"]))
        prop_http = Http(self.http_port, plug_headers(self.plugs["prop"]))
        ttl_http = Http(self.http_port, plug_headers(self.plugs["channel"]))
        cmd_http = Http(self.http_port, master_headers(*self.account))
        device = CommandDevice(self.mqtt_port, self.plugs["command"])
        tcp = MqttPublisher(self.mqtt_port, self.plugs["mqtt-tcp"], CHANNELS["mqtt-tcp"], "tcp")
        ws = MqttPublisher(self.http_port, self.plugs["mqtt-ws"], CHANNELS["mqtt-ws"], "websockets")

        def channel_step(n: int) -> None:
            start = counter["channel"]
            counter["channel"] += n
            body = [{"data": i, "at": AT0 + i} for i in range(start, start + n)]
            status, answer = chan_http.call("PUT", f"/iot/data/{CHANNELS['channel']}", body)
            if status == 200 and isinstance(answer, list) and all(isinstance(a, str) for a in answer):
                streams["channel"].accepted += n
            else:
                streams["channel"].refused.append(f"{status} {str(answer)[:200]}")

        def prop_step(n: int) -> None:
            start = counter["prop"]
            counter["prop"] += n
            dps = [{"prop": CHANNELS["prop"], "t": AT0 + i, "v": i} for i in range(start, start + n)]
            path = f"/v3/data/devices/{self.plugs['prop'].id}/properties"
            status, answer = prop_http.call("POST", path, {"dps": dps})
            if status == 200 and answer == {"accepted": n, "rejected": 0}:
                streams["prop"].accepted += n
            else:
                streams["prop"].refused.append(f"{status} {str(answer)[:200]}")

        def ttl_step(n: int) -> None:
            start = counter["ttl"]
            counter["ttl"] += n
            body = [{"data": i, "at": AT0 + i, "ttl": 1} for i in range(start, start + n)]
            status, answer = ttl_http.call("PUT", f"/iot/data/{CHANNELS['ttl']}", body)
            if status == 200 and isinstance(answer, list):
                streams["ttl"].accepted += n
            else:
                streams["ttl"].refused.append(f"{status} {str(answer)[:200]}")

        def command_step(n: int) -> None:
            for _ in range(n):
                counter["commands"] += 1
                path = f"/v3/data/devices/{self.plugs['command'].id}"
                status, answer = cmd_http.call("POST", path, {"setpoint": counter["commands"]})
                if status != 200 or answer != {"accepted": 1, "rejected": 0}:
                    self.errors.append(f"command: {status} {str(answer)[:200]}")

        def purging() -> None:
            while not stop.wait(self.purge_every):
                self.purge()
                counter["purges"] += 1

        started = time.monotonic()
        rss: list[tuple[float, int]] = [(0.0, self.rss())]
        self.say(f"soak: {seconds:.0f} s; RSS at start {rss[0][1] / 1024:.0f} MiB")
        threads = [
            self._guard("channel", lambda: _paced(stop, self.rates.channel, channel_step)),
            self._guard("prop", lambda: _paced(stop, self.rates.prop, prop_step)),
            self._guard("ttl", lambda: _paced(stop, self.rates.ttl, ttl_step)),
            self._guard("commands", lambda: _paced(stop, self.rates.commands, command_step)),
            self._guard("mqtt-tcp", lambda: _paced(stop, self.rates.mqtt_tcp, tcp.step)),
            self._guard("mqtt-ws", lambda: _paced(stop, self.rates.mqtt_ws, ws.step)),
            self._guard("purge", purging),
        ]
        while (elapsed := time.monotonic() - started) < seconds:
            time.sleep(min(self.report_every - elapsed % self.report_every, seconds - elapsed) + 0.001)
            now = time.monotonic() - started
            if now + 0.5 >= seconds or now % self.report_every < 1.0:
                rss.append((now, self.rss()))
                self.say(f"  {now:5.0f} s  server RSS {rss[-1][1] / 1024:7.1f} MiB")
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        # Everything sent is acked (paho resends nothing here: no reconnects), and commands land.
        for publisher in (tcp, ws):
            deadline = time.monotonic() + 60
            while publisher.acked < publisher.sent and time.monotonic() < deadline:
                time.sleep(0.1)
            publisher.stop()
            streams[publisher.stream.name] = publisher.stream
            if publisher.acked != publisher.sent:
                self.errors.append(f"{publisher.stream.name}: {publisher.sent - publisher.acked} unacked")
        cmd = self.plugs["command"].id
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self._commands(cmd).keys() - {"acked"}:
            time.sleep(0.2)
        device.stop()
        time.sleep(1.1)  # the last TTL points expire
        self.purge()
        counter["purges"] += 1
        elapsed = time.monotonic() - started
        return self._result(streams, counter["purges"], rss, elapsed)

    def _commands(self, plug_id: str) -> dict[str, int]:
        rows = self.sql(
            "SELECT state, count(*) FROM commands_command WHERE plug_id = %s GROUP BY state", [plug_id]
        )
        return {state: int(n) for state, n in rows}

    def _result(
        self, streams: dict[str, Stream], purges: int, rss: list[tuple[float, int]], seconds: float
    ) -> Result:
        account_plugs = [p.id for p in self.plugs.values()]
        names = {v: k for k, v in CHANNELS.items()}
        stored = {
            names[c]: int(n)
            for c, n in self.sql(
                "SELECT channel, count(*) FROM data_datapoint WHERE of = ANY(%s) GROUP BY channel",
                [account_plugs],
            )
            if c in names
        }
        journalled = {
            names[c]: int(n)
            for c, n in self.sql(
                "SELECT channel, count(*) FROM data_journalentry WHERE of = ANY(%s) AND event = 'data' "
                "GROUP BY channel",
                [account_plugs],
            )
            if c in names
        }
        ttl_left = stored.pop("ttl", 0)
        commands = self._commands(self.plugs["command"].id)
        return Result(streams, stored, journalled, commands, ttl_left, purges, rss, seconds, self.errors)


# --- the script ------------------------------------------------------------------------------


def main() -> int:
    import sys
    from pathlib import Path

    import psycopg

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench's shared modules
    import cli
    import meters
    import testbed

    parser = cli.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every rate (see Rates)")
    parser.add_argument("--purge-every", type=float, default=30.0)
    args = parser.parse_args()
    rates = Rates().scaled(args.scale)
    with testbed.Platform(**cli.platform_options(args)) as platform:
        account = platform.account()
        made = platform.plugs_bulk(account["email"], "soak", 5)
        plugs = {
            name: Plug(m["id"], m["key_id"], m["auth"])
            for name, m in zip(("channel", "prop", "mqtt-tcp", "mqtt-ws", "command"), made, strict=True)
        }
        platform.django_script(
            "from devices.models import Property\n"
            f"Property.objects.create(plug_id={plugs['command'].id!r}, name='setpoint', type='number',"
            " access='public')\nprint('{}')"
        )
        db = psycopg.connect(platform.database_url, autocommit=True)

        def sql(query: str, params: list[Any]) -> list[tuple[Any, ...]]:
            with db.cursor() as cursor:
                cursor.execute(query, params)
                return list(cursor.fetchall())

        def purge() -> Any:
            return platform.django_script(
                "from data.expiry import expiry_purge\nprint(json.dumps(expiry_purge()))", timeout=600
            )

        soak = Soak(
            http_port=platform.http_port,
            mqtt_port=platform.mqtt_port,
            plugs=plugs,
            account=(account["email"], account["password"]),
            sql=sql,
            purge=purge,
            rss=lambda: meters.rss_kb(platform.pid),
            rates=rates,
            purge_every=args.purge_every,
        )
        print(f"rates/s: {rates}")
        result = soak.run(args.minutes * 60)
        print(result.table())
        first = result.rss_kb[1][1] if len(result.rss_kb) > 2 else result.rss_kb[0][1]
        growth = result.rss_kb[-1][1] / first - 1
        print(f"RSS growth from minute 1 to the end: {growth:+.1%}")
        for error in result.errors[:20]:
            print("error:", error)
        print("verdict:", "PASS" if result.ok else "FAIL")
        return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
