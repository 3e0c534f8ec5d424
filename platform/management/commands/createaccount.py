import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.shapes.base import retention_seconds
from plugboard.errors import ApiError
from plugboard.services import AccountExists, account_create


class Command(BaseCommand):
    help = "Create an account; prints {id, email[, defaultRetention]} as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--default-retention",
            default=None,
            help='TTL of points with no expiry of their own and no property retention: seconds or "30d"',
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        retention = None
        if opts["default_retention"] is not None:
            try:
                retention = retention_seconds(opts["default_retention"], "--default-retention")
            except ApiError as exc:
                raise CommandError(str(exc.detail))
        try:
            account = account_create(
                email=opts["email"], password=opts["password"], name=opts["name"], default_retention=retention
            )
        except AccountExists:
            raise CommandError(f"an account with email {opts['email']} already exists")
        result: dict[str, Any] = {"id": account.id, "email": account.email}
        if account.default_retention:
            result["defaultRetention"] = account.default_retention
        self.stdout.write(json.dumps(result))
