"""`manage.py demo`: make sure a demo account and device exist and print how to use them."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from devices.models import Plug
from devices.services.plugs import plug_create
from plugboard.models import Account, ApiKey
from plugboard.services import account_create, key_secret


class Command(BaseCommand):
    help = "Create (once) the demo account and device; print their credentials as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@plugboard.local")
        parser.add_argument("--password", default="demo-password")

    def handle(self, *args: Any, **opts: Any) -> None:
        account = Account.objects.filter(email__iexact=opts["email"]).first()
        if account is None:
            account = account_create(email=opts["email"], password=opts["password"], name="Demo")
        plug = Plug.objects.filter(account=account, name="demo-thing").first()
        if plug is None:
            plug = plug_create(account=account, name="demo-thing", hwid="DEMO-0001").plug
        key = ApiKey.objects.get(plug=plug, kind=ApiKey.Kind.DEVICE, context_type="device")
        self.stdout.write(
            json.dumps(
                {
                    "account": {"id": account.id, "email": account.email, "password": opts["password"]},
                    "device": {
                        "id": plug.id,
                        "name": plug.name,
                        "auth": key_secret(key=key),
                        "key_id": key.id,
                    },
                },
                indent=2,
            )
        )
