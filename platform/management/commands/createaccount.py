import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from plugboard.services import AccountExists, account_create


class Command(BaseCommand):
    help = "Create an account; prints {id, email} as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--name", default="")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            account = account_create(email=opts["email"], password=opts["password"], name=opts["name"])
        except AccountExists:
            raise CommandError(f"an account with email {opts['email']} already exists")
        self.stdout.write(json.dumps({"id": account.id, "email": account.email}))
