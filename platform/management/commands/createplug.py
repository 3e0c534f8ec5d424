import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.services.fields import PlugError
from devices.services.plugs import plug_create
from plugboard.models import Account


class Command(BaseCommand):
    help = "Create a plug in an account; prints {id, name, auth, key_id, key_secret} as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="the account's email (or com- id)")
        parser.add_argument("--name", required=True)
        parser.add_argument("--kind", choices=["thing", "controller"], default="thing")
        parser.add_argument("--hwid", default="")

    def handle(self, *args: Any, **opts: Any) -> None:
        account = account_lookup(opts["account"])
        try:
            enrolled = plug_create(account=account, name=opts["name"], kind=opts["kind"], hwid=opts["hwid"])
        except PlugError as exc:
            raise CommandError(str(exc))
        self.stdout.write(
            json.dumps(
                {
                    "id": enrolled.plug.id,
                    "name": enrolled.plug.name,
                    "auth": enrolled.auth,
                    "key_id": enrolled.key.id,
                    "key_secret": enrolled.auth,
                }
            )
        )


def account_lookup(ref: str) -> Account:
    account = Account.objects.filter(email__iexact=ref).first() or Account.objects.filter(id=ref).first()
    if account is None:
        raise CommandError(f"no account {ref}")
    return account
