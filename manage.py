#!/usr/bin/env python
"""Plugboard's command-line entry point."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plugboard.settings")
    if sys.argv[1:2] == ["serve"]:
        # serve's event loop is libuv's (uvloop), under Daphne's Twisted reactor and the TCP MQTT
        # listener: the loop's own work per packet in C. Daphne makes its loop when the daphne
        # app is imported (django.setup, before any command runs), so the policy is set here.
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
