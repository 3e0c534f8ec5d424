import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.models import Plug
from plugboard.management.commands.createplug import account_lookup
from plugboard.services import API_SCOPES, APICLIENT_DEFAULT_SCOPE, key_create


class Command(BaseCommand):
    help = "Create an API key; prints {id, secret, kind} (and an API client's scope) as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="the account's email (or com- id)")
        parser.add_argument("--kind", choices=["user", "apiclient", "device"], required=True)
        parser.add_argument("--plug", help="the plug of a device key, or the app of an API client key")
        parser.add_argument(
            "--scope",
            default=",".join(APICLIENT_DEFAULT_SCOPE),
            help=(
                "API client scopes, comma-separated ('*' for all; default: "
                f"{','.join(APICLIENT_DEFAULT_SCOPE)}, i.e. read and write data, no management)"
            ),
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        account = account_lookup(opts["account"])
        plug = None
        if opts["plug"]:
            plug = Plug.objects.filter(account=account, id=opts["plug"]).first()
            if plug is None:
                raise CommandError(f"no plug {opts['plug']} in account {account.email}")
        if opts["kind"] == "device" and plug is None:
            raise CommandError("a device key needs --plug")
        scope = [s.strip() for s in opts["scope"].split(",") if s.strip()]
        if opts["kind"] == "apiclient":
            unknown = sorted(set(scope) - API_SCOPES)
            if not scope or unknown:
                raise CommandError(f"--scope lists one or more of {', '.join(sorted(API_SCOPES))}")
        else:
            scope = []  # user and device keys have no scopes: their kind says what they may do
        key, secret = key_create(account=account, kind=opts["kind"], plug=plug, scope=scope)
        made: dict[str, Any] = {"id": key.id, "secret": secret, "kind": key.kind}
        if key.kind == "apiclient":
            made["scope"] = list(key.scope)  # what it may do, the default included
        self.stdout.write(json.dumps(made))
