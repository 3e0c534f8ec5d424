"""`manage.py demo`: make sure a demo account and device exist and print how to use them.

It prints the credentials as JSON, then as `export` lines to paste into a shell, then the
README's examples (section "Examples") with the credentials, host and ports filled in, and
last the console's address with the credentials that sign in to it.
`EXAMPLES` is that README block word for word (tests/plugboard/test_demo.py holds them equal).
"""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from devices.models import Plug
from devices.services.plugs import plug_create
from plugboard.models import Account, ApiKey
from plugboard.services import account_create, key_secret

# The README's examples, as written there (its host, ports and shell variables).
README_BASE = "http://127.0.0.1:8000"
README_MQTT = "-p 1884"
README_MQTT_HOST = "hostname='127.0.0.1', port=1884"
EXAMPLES = """\
# channel dialect: publish, read with a wildcard, list channels
curl -X PUT http://127.0.0.1:8000/iot/data/home/kitchen/temp \\
     -H "X-Plug-Id: $DEV" -H "X-Plug-Auth: $AUTH" --json '{"data": 21.5}'
curl "http://127.0.0.1:8000/iot/data/home/%2B/temp?limit=10" -H "X-Plug-Id: $DEV" -H "X-Plug-Auth: $AUTH"
curl http://127.0.0.1:8000/iot/channel/home/%23 -u "$EMAIL:$PASSWORD"

# property dialect: a feed, a receipt, the latest values
curl -X POST http://127.0.0.1:8000/v3/data/devices/_this_/properties/temperature -u "$DEV:$AUTH" \\
     --json '{"dps": [{"t": "2026-11-21T10:00:00Z", "v": 20.5}, {"v": 21}]}'
curl http://127.0.0.1:8000/v3/data/devices/$DEV -u "$EMAIL:$PASSWORD"

# MQTT (mosquitto clients; client id = the plug id, name or hwid; username = the device key id
# or the plug id; password = AUTH). A device publishes a property…
mosquitto_pub -p 1884 -i $DEV -u $DEV -P $AUTH -q 1 \\
     -t "csipio/data/out/devices/$DEV/properties/temperature" -m 22.0
# (the same with paho-mqtt, which the venv has, where mosquitto is not installed)
.venv/bin/python -c "import paho.mqtt.publish as m; m.single(
  'csipio/data/out/devices/$DEV/properties/temperature', '22.0', qos=1, hostname='127.0.0.1', port=1884,
  client_id='$DEV', auth={'username': '$DEV', 'password': '$AUTH'})"
# …listens for its commands (QoS 1, persistent session: offline commands wait for it)…
mosquitto_sub -p 1884 -i $DEV -u $DEV -P $AUTH -q 1 -c -t "csipio/data/in/devices/$DEV/properties/#" &
# …which the account sends by writing one of its public properties.
curl -X POST http://127.0.0.1:8000/v3/devices/$DEV/properties -u "$EMAIL:$PASSWORD" \\
     --json '{"name": "setpoint", "type": "number", "access": "public"}'
curl -X POST http://127.0.0.1:8000/v3/data/devices/$DEV -u "$EMAIL:$PASSWORD" --json '{"setpoint": 19}'
curl http://127.0.0.1:8000/v3/devices/$DEV/commands -u "$EMAIL:$PASSWORD"   # pending → sent → acked
"""


def filled_in(template: str, values: dict[str, str], *, host: str, port: int, mqtt_port: int) -> str:
    """`template` with the shell variables replaced by `values` and the README's host and
    ports by the ones the server listens on."""
    text = template.replace(README_BASE, f"http://{host}:{port}")
    text = text.replace(
        README_MQTT, f"-h {host} -p {mqtt_port}" if host != "127.0.0.1" else f"-p {mqtt_port}"
    )
    text = text.replace(README_MQTT_HOST, f"hostname='{host}', port={mqtt_port}")
    # Longest names first, so $PASSWORD is not read as $PASS… of another name.
    for name in sorted(values, key=len, reverse=True):
        text = text.replace(f"${name}", values[name])
    return text


class Command(BaseCommand):
    help = (
        "Create (once) the demo account and device; print their credentials as JSON and as export "
        "lines, and the README's examples filled in with them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@plugboard.local")
        parser.add_argument("--password", default="demo-password")
        parser.add_argument("--host", default="127.0.0.1", help="where the server listens (for the examples)")
        parser.add_argument("--port", type=int, default=8000, help="its HTTP port")
        parser.add_argument("--mqtt-port", type=int, default=1884, help="its TCP MQTT port")

    def handle(self, *args: Any, **opts: Any) -> None:
        account = Account.objects.filter(email__iexact=opts["email"]).first()
        if account is None:
            account = account_create(email=opts["email"], password=opts["password"], name="Demo")
        plug = Plug.objects.filter(account=account, name="demo-thing").first()
        if plug is None:
            plug = plug_create(account=account, name="demo-thing", hwid="DEMO-0001").plug
        key = ApiKey.objects.get(plug=plug, kind=ApiKey.Kind.DEVICE, context_type="device")
        auth = key_secret(key=key)
        self.stdout.write(
            json.dumps(
                {
                    "account": {"id": account.id, "email": account.email, "password": opts["password"]},
                    "device": {"id": plug.id, "name": plug.name, "auth": auth, "key_id": key.id},
                },
                indent=2,
            )
        )
        values = {"EMAIL": account.email, "PASSWORD": opts["password"], "DEV": plug.id, "AUTH": auth}
        # A server on every interface is reached on the loopback from this machine.
        host = "127.0.0.1" if opts["host"] in ("0.0.0.0", "::", "") else opts["host"]  # noqa: S104
        self.stdout.write("\n# The demo credentials, for the README's examples (paste into a shell):")
        for name, value in values.items():
            self.stdout.write(f"export {name}={value}")
        self.stdout.write(
            f"\n# The README's examples with them filled in (server at http://{host}:{opts['port']}/):"
        )
        self.stdout.write(
            filled_in(EXAMPLES, values, host=host, port=opts["port"], mqtt_port=opts["mqtt_port"])
        )
        # Last, so it is the line above the server's own output: where a person starts.
        self.stdout.write(
            f"\n# The console: http://{host}:{opts['port']}/console/ "
            f"(sign in with {account.email} / {opts['password']})"
        )
