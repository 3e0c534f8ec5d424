"""The flags every benchmark script shares, and how a script exits."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from profiler import PY_SPY
from testbed import DEFAULT_PG, DEFAULT_REDIS, BenchError


def base_parser(description: str, *, workers: int = 1) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL (no database name)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis URL of the channel layer")
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"sample the server with py-spy for this long during the main run ({PY_SPY})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and server log on exit")
    parser.add_argument(
        "--workers",
        type=int,
        default=workers,
        help="`serve --workers`: server processes sharing the listeners (needs Redis, which the bench uses)",
    )
    return parser


def platform_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `Platform` keyword arguments the common command-line flags ask for."""
    return {"pg": args.pg, "redis": args.redis, "keep": args.keep, "workers": args.workers}


def run(main: Callable[[], int]) -> None:
    """Run a benchmark's `main` as a script: its exit code, one line for an error or Ctrl-C."""
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"benchmark error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted")
        sys.exit(130)
