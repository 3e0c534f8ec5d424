"""Unmasking of small WebSocket frames (plugboard/websocket_masking.py): the same bytes as the
RFC 6455 rule and as autobahn's own masker, however a frame's payload arrives in pieces."""

from __future__ import annotations

import pytest
from autobahn.websocket import protocol
from autobahn.websocket.xormasker import create_xor_masker as autobahn_masker
from hypothesis import given, settings
from hypothesis import strategies as st

from plugboard import websocket_masking
from plugboard.websocket_masking import SMALL_FRAME, SmallFrameMasker, masker_factory


def rfc6455(mask: bytes, payload: bytes) -> bytes:
    # §5.3: octet i of the payload XOR octet i MOD 4 of the masking key.
    return bytes(octet ^ mask[i % 4] for i, octet in enumerate(payload))


@st.composite
def frames(draw: st.DrawFn) -> tuple[bytes, bytes, list[bytes]]:
    mask = draw(st.binary(min_size=4, max_size=4))
    payload = draw(st.binary(max_size=SMALL_FRAME - 1))
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=6)))
    bounds = [0, *cuts, len(payload)]
    return mask, payload, [payload[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=300, deadline=None)
@given(frames())
def test_a_frame_in_pieces_unmasks_as_the_rfc_says_and_as_autobahn_does(
    frame: tuple[bytes, bytes, list[bytes]],
) -> None:
    mask, payload, pieces = frame
    ours = SmallFrameMasker(mask)
    theirs = autobahn_masker(mask, len(payload))
    unmasked = b"".join(ours.process(piece) for piece in pieces)
    assert unmasked == rfc6455(mask, payload)
    assert unmasked == b"".join(theirs.process(piece) for piece in pieces)
    assert ours.pointer() == len(payload) == theirs.pointer()
    ours.reset()
    assert ours.pointer() == 0 and ours.process(payload) == unmasked


def test_small_frames_get_ours_and_the_rest_autobahns() -> None:
    made: list[tuple[bytes, int | None]] = []

    def native(mask: bytes, length: int | None = None) -> str:
        made.append((mask, length))
        return "native"

    factory = masker_factory(native)
    assert isinstance(factory(b"abcd", 0), SmallFrameMasker)
    assert isinstance(factory(b"abcd", SMALL_FRAME - 1), SmallFrameMasker)
    assert factory(b"abcd", SMALL_FRAME) == "native"
    assert factory(b"abcd") == "native"  # length unknown
    assert made == [(b"abcd", SMALL_FRAME), (b"abcd", None)]


def test_install_replaces_the_name_autobahn_makes_maskers_through_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(protocol, "create_xor_masker", protocol.create_xor_masker)  # restored after
    websocket_masking.install()
    installed = protocol.create_xor_masker
    assert isinstance(installed(b"abcd", 10), SmallFrameMasker)
    websocket_masking.install()
    assert protocol.create_xor_masker is installed  # not wrapped twice


def test_an_autobahn_without_the_name_keeps_its_own_maskers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(protocol, "create_xor_masker")
    websocket_masking.install()  # no error: `serve` still starts
    assert not hasattr(protocol, "create_xor_masker")
