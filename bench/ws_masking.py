#!/usr/bin/env python3
"""Unmasking one client WebSocket frame: autobahn's own masker against `plugboard.websocket_masking`.

Daphne's WebSocket server (autobahn) makes a masker for every frame a client sends and runs the
payload through it. MQTT over WebSocket sends one small frame per packet, so this is paid per
message. Both are timed here on the same payloads, in alternating rounds, CPU time of this
process (no server, no network), median of the rounds:

    .venv/bin/python bench/ws_masking.py              # ~20 s
    .venv/bin/python bench/ws_masking.py --rounds 9

Exit 1 if the two maskers' outputs differ for any size.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autobahn.websocket.xormasker import create_xor_masker as autobahn_masker  # noqa: E402
from report import median, table, verdict  # noqa: E402

from plugboard import websocket_masking  # noqa: E402  (no Django needed: it imports none)

SIZES = (16, 64, 256, 511, 512, 4_096, 65_536)
SMALL = 64  # a PUBLISH of a number on a property topic, as a device sends it, is about this
TARGET_SMALL_SPEEDUP = 2.0  # our masker at least this much faster on a small frame
# And every size it unmasks itself at least as fast as autobahn's (the larger ones are
# autobahn's own masker behind one more Python call: reported, not judged).


def per_frame_us(make: Callable[[bytes, int], Any], mask: bytes, payload: bytes, frames: int) -> float:
    length = len(payload)
    started = time.process_time()
    for _ in range(frames):
        make(mask, length).process(payload)
    return (time.process_time() - started) / frames * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per size, masker and round")
    args = parser.parse_args()
    ours = websocket_masking.masker_factory(autobahn_masker)
    mask = os.urandom(4)
    rows, small_speedup, worst = [], 0.0, 0.0
    for size in SIZES:
        payload = os.urandom(size)
        if ours(mask, size).process(payload) != autobahn_masker(mask, size).process(payload):
            print(f"verification failed: the two maskers disagree on a {size}-byte payload")
            return 1
        frames = max(200, int(args.budget / (per_frame_us(autobahn_masker, mask, payload, 200) * 1e-6)))
        theirs_us, ours_us = [], []
        for _ in range(args.rounds):
            theirs_us.append(per_frame_us(autobahn_masker, mask, payload, frames))
            ours_us.append(per_frame_us(ours, mask, payload, frames))
        theirs, mine = median(theirs_us), median(ours_us)
        speedup = theirs / mine
        if size < websocket_masking.SMALL_FRAME:
            worst = max(worst, mine / theirs)
        if size == SMALL:
            small_speedup = speedup
        which = "integer XOR" if size < websocket_masking.SMALL_FRAME else "autobahn's (passed through)"
        rows.append([f"{size:,}", f"{theirs:.2f}", f"{mine:.2f}", f"{speedup:.2f}×", which])
    print(
        table(
            ["payload bytes", "autobahn µs/frame", "plugboard µs/frame", "speed-up", "plugboard uses"],
            rows,
            title=f"unmasking one frame, median of {args.rounds} alternating rounds (CPU time)",
        )
    )
    met_small = small_speedup >= TARGET_SMALL_SPEEDUP
    met_all = worst <= 1.0
    small = f"a {SMALL}-byte frame ≥ {TARGET_SMALL_SPEEDUP}× faster"
    print(verdict(small, met_small, f"{small_speedup:.2f}×"))
    own = f"every size under {websocket_masking.SMALL_FRAME} bytes at least as fast"
    print(verdict(own, met_all, f"slowest {worst:.2f}× autobahn's time"))
    print("verified: both maskers give the same bytes at every size")
    return 0  # a target not met is reported, not an error (bench/README.md)


if __name__ == "__main__":
    sys.exit(main())
