"""py-spy sampling of the server during a timed phase, summarised as the hottest functions."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from report import table
from testbed import ROOT

PY_SPY = os.environ.get("PY_SPY", "/tmp/bench_tools/bin/py-spy")


class Profiler:
    """py-spy sampling of `pid` for `seconds` from `start()`; `finish()` waits and summarises.

    A no-op when seconds is 0. Usable as a context manager that starts at once."""

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        self.pid, self.seconds, self.out = pid, seconds, out
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.seconds <= 0 or self.proc is not None:
            return
        if not Path(PY_SPY).exists():
            print(f"py-spy not found at {PY_SPY}; set PY_SPY or install it in a throwaway venv")
            return
        self.proc = subprocess.Popen(
            [
                PY_SPY,
                "record",
                "--pid",
                str(self.pid),
                "--duration",
                str(max(1, int(self.seconds))),
                "--format",
                "raw",
                "--threads",
                "--nonblocking",
                "--gil",  # only the thread holding the GIL: Python's CPU, not threads waiting on I/O
                "--subprocesses",  # `serve --workers N`: the workers are children
                "--rate",
                "250",
                "--output",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def finish(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if self.out.exists():
            print(f"py-spy samples (collapsed stacks, flamegraph.pl input): {self.out}")
            print(profile_summary(self.out))

    def __enter__(self) -> Profiler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


def profiled(pid: int, seconds: float, out: Path) -> Profiler:
    return Profiler(pid, seconds, out)


def profile_summary(path: Path, top: int = 25) -> str:
    """Self and inclusive time per function from py-spy's collapsed stacks (`frame;frame;… count`)."""
    inclusive: dict[str, int] = {}
    self_time: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short_frame(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        if frames:
            self_time[frames[-1]] = self_time.get(frames[-1], 0) + count
    if not total:
        return "(no samples)"

    def rows(counts: dict[str, int]) -> list[list[str]]:
        best = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [[f"{100 * n / total:5.1f}%", name] for name, n in best]

    project = {name: n for name, n in inclusive.items() if _is_project(name)}
    return (
        table(["incl.", "project code (inclusive: time with this frame on the stack)"], rows(project))
        + "\n\n"
        + table(["incl.", "any function (inclusive)"], rows(inclusive))
        + "\n\n"
        + table(["self", "function (self: time in the frame itself)"], rows(self_time))
    )


_PLATFORM_FILES = {p.name for p in (ROOT / "platform").glob("*.py")} | {"serve.py"}


def _is_project(frame: str) -> bool:
    """A frame of the project's own code (py-spy names files relative to their sys.path entry)."""
    _, _, file = frame.rpartition("(")
    file = file.rstrip(")")
    if file.startswith(("data/", "devices/", "commands/", "management/commands/")):
        return True
    return "/" not in file and file in _PLATFORM_FILES and file not in {"threading.py", "selectors.py"}


def _short_frame(frame: str) -> str:
    # py-spy frames look like "function (path/to/file.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file, _, _line = where.rpartition(":")
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{name} ({file})" if file else name
