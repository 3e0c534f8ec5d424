"""What a benchmark prints: tables, verdict lines, the machine it ran on."""

from __future__ import annotations

import os
import platform as _stdlib_platform
import statistics
from collections.abc import Sequence
from typing import Any


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A plain-text table: text left-aligned, numbers (and number-like strings) right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def numeric(text: str) -> bool:
        stripped = text.replace(",", "").replace(".", "").replace("×", "").replace("%", "").strip()
        return stripped.lstrip("-").isdigit()

    def line(row: Sequence[str]) -> str:
        return " | ".join(
            (c.rjust(w) if numeric(c) else c.ljust(w)) for c, w in zip(row, widths, strict=True)
        ).rstrip()

    out = [title] if title else []
    out += [line(list(headers)), "-+-".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def verdict(name: str, met: bool, detail: str) -> str:
    return f"[{'MET' if met else 'NOT MET'}] {name}: {detail}"


def machine_note() -> str:
    cores = os.cpu_count() or 0
    load = os.getloadavg()
    return (
        f"machine: {cores} cores, Python {_stdlib_platform.python_version()}, "
        f"load avg {load[0]:.2f} at start; "
        "the load generator runs on the same cores as the server and competes with it for CPU."
    )
