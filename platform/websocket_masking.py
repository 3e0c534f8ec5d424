"""Unmasking of small WebSocket frames for Daphne's WebSocket server (autobahn), in C.

Every frame a client sends is masked (RFC 6455 §5.3), and the server XORs its payload with the
frame's 4-byte key. Autobahn builds a native (CFFI) masker per frame; for the small frames of
MQTT over WebSocket (a PUBLISH or a PUBACK, tens of bytes, one frame each) building it costs
more than the work: 2.5–4 µs per frame, against 0.7–0.8 µs for one XOR of the payload and the
repeated key as two Python integers (C inside; `bench/ws_masking.py`). From 1–2 KB autobahn's
SIMD masker is the faster one, so frames from 512 bytes keep it (a margin: most MQTT packets
are far smaller).

`install()` puts `create_xor_masker` in autobahn's WebSocket protocol module, the one name
through which it makes every masker; `serve` calls it before Daphne starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SMALL_FRAME = 512  # bytes: below this, the integer XOR; from it, autobahn's own masker


class SmallFrameMasker:
    """Autobahn's masker interface (`process`, `pointer`, `reset`): a frame's payload may come
    in several pieces, and `pointer` counts the bytes unmasked so far, so each piece starts at
    the right byte of the key."""

    __slots__ = ("_key", "_ptr")

    def __init__(self, mask: bytes) -> None:
        self._key = bytes(mask)
        self._ptr = 0

    def pointer(self) -> int:
        return self._ptr

    def reset(self) -> None:
        self._ptr = 0

    def process(self, data: bytes) -> bytes:
        length = len(data)
        if not length:
            return b""
        shift = self._ptr & 3
        key = self._key[shift:] + self._key[:shift] if shift else self._key
        self._ptr += length
        stream = (key * ((length >> 2) + 1))[:length]
        unmasked = int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")
        return unmasked.to_bytes(length, "little")


def masker_factory(native: Callable[..., Any]) -> Callable[..., Any]:
    """`create_xor_masker(mask, length=None)` that makes a `SmallFrameMasker` for a frame known
    to be small, and asks `native` for any other."""

    def create_xor_masker(mask: bytes, length: int | None = None) -> Any:
        if length is not None and length < SMALL_FRAME:
            return SmallFrameMasker(mask)
        return native(mask, length)

    return create_xor_masker


def install() -> None:
    # Imported when `serve` installs it, after Daphne has installed Twisted's reactor.
    from autobahn.websocket import protocol

    native = getattr(protocol, "create_xor_masker", None)
    if native is None:  # another autobahn than the pinned one: its own maskers stay
        log.warning("autobahn has no create_xor_masker: WebSocket frames keep its own maskers")
        return
    if getattr(native, "plugboard_small_frames", False):
        return  # installed already in this process: not wrapped twice
    factory = masker_factory(native)
    factory.plugboard_small_frames = True  # type: ignore[attr-defined]
    protocol.create_xor_masker = factory
