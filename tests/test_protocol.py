"""The frame codec: round trips, resynchronisation, realtime e-stop mid-frame, and fuzzing."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from hal.protocol import (
    ESTOP,
    FLAG,
    ErrorCode,
    Frame,
    FrameDecoder,
    Msg,
    crc16,
    encode_frame,
    pack_nak,
    pack_settings,
    unpack_nak,
    unpack_settings,
)
from hal.settings import defaults

payloads = st.binary(max_size=300)
seqs = st.integers(0, 255)
types = st.integers(0, 255)


def decode(data: bytes) -> list[Frame | int]:
    return list(FrameDecoder().feed(data))


def test_crc_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1  # the catalogue check value of CRC-16/CCITT-FALSE


@given(seqs, types, payloads)
def test_round_trip(seq: int, msg: int, payload: bytes) -> None:
    assert decode(encode_frame(seq, msg, payload)) == [Frame(seq=seq, type=msg, payload=payload)]


@given(seqs, payloads)
def test_no_stuffed_byte_appears_raw_inside_a_frame(seq: int, payload: bytes) -> None:
    body = encode_frame(seq, Msg.SETTINGS_WRITE, payload)[1:-1]
    assert FLAG not in body and ESTOP not in body


@given(st.binary(max_size=200), payloads, st.binary(max_size=200), payloads)
def test_resynchronises_after_garbage(garbage1: bytes, p1: bytes, garbage2: bytes, p2: bytes) -> None:
    garbage1 = garbage1.replace(bytes([ESTOP]), b"")
    garbage2 = garbage2.replace(bytes([ESTOP]), b"")
    stream = garbage1 + encode_frame(1, Msg.ACK, p1) + garbage2 + encode_frame(2, Msg.ACK, p2)
    frames = [f for f in decode(stream) if isinstance(f, Frame)]
    # The second frame is always recovered; the first too, unless garbage opened a frame just before it
    # (then the flag that closes the garbage is also the one that opens the frame, which still decodes).
    assert frames[-1] == Frame(seq=2, type=Msg.ACK, payload=p2)
    assert Frame(seq=1, type=Msg.ACK, payload=p1) in frames


@given(payloads, st.integers(0, 400))
def test_estop_is_acted_on_mid_frame_and_the_frame_survives(payload: bytes, at: int) -> None:
    wire = encode_frame(9, Msg.SETTINGS_WRITE, payload)
    at = at % len(wire)  # anywhere before the closing flag
    items = decode(wire[:at] + bytes([ESTOP]) + wire[at:])
    assert items == [ESTOP, Frame(seq=9, type=Msg.SETTINGS_WRITE, payload=payload)]


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash_and_never_yield_a_corrupt_frame(data: bytes) -> None:
    decoder = FrameDecoder()
    for item in decoder.feed(data):
        if isinstance(item, Frame):
            # Anything accepted re-encodes to a frame with a valid CRC.
            assert decode(encode_frame(item.seq, item.type, item.payload)) == [item]
    assert decoder.stats.frames + decoder.stats.bad_frames <= data.count(FLAG)


@settings(max_examples=300)
@given(seqs, types, payloads, st.integers(0, 10_000), st.integers(1, 255))
def test_a_corrupted_byte_is_never_acted_on(seq: int, msg: int, payload: bytes, where: int, flip: int) -> None:
    wire = bytearray(encode_frame(seq, msg, payload))
    i = 1 + where % (len(wire) - 2)
    wire[i] ^= flip
    frames = [f for f in decode(bytes(wire)) if isinstance(f, Frame)]
    assert frames == [] or (frames == [Frame(seq=seq, type=msg, payload=payload)] and wire[i] == ESTOP)


def test_oversized_and_truncated_frames_are_dropped() -> None:
    decoder = FrameDecoder()
    assert list(decoder.feed(bytes([FLAG]) + b"\x01" * 70_000 + bytes([FLAG]))) == []
    assert list(decoder.feed(bytes([FLAG, 1, 2, FLAG]))) == []
    assert decoder.stats.bad_frames == 2
    assert list(decoder.feed(encode_frame(3, Msg.ACK))) == [Frame(seq=3, type=Msg.ACK, payload=b"")]


def test_settings_and_nak_payloads_round_trip() -> None:
    values = defaults()
    assert unpack_settings(pack_settings(values)) == values
    assert unpack_nak(pack_nak(ErrorCode(5), 1, "depth too deep")) == (5, 1, "depth too deep")
    assert struct.unpack_from("<H", pack_settings(values))[0] == len(values)
