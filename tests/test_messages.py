"""The table of message layouts (hal/messages.py): complete, symmetric, and strict about malformed payloads."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.messages import LAYOUTS, decode, encode, field_names, wire_name
from hal.protocol import Msg, PayloadError
from hal.settings import defaults
from hal.telemetry import TELEMETRY_DTYPE, empty_telemetry

BOUNDS = {"u8": 8, "u16": 16, "u32": 32, "u64": 64}


def boundary_ints(bits: int) -> st.SearchStrategy[int]:
    """Whole numbers of a width, with its edges (0, 1, max-1, max) drawn often."""
    top = 2**bits - 1
    return st.one_of(st.sampled_from([0, 1, top - 1, top]), st.integers(0, top))


def telemetry(n: int) -> Any:
    tel = empty_telemetry(n)
    tel["index"] = np.arange(n)
    tel["depth_mm"] = 1.5
    return tel


SETTINGS_KEYS = sorted(defaults())
STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    **{name: boundary_ints(bits) for name, bits in BOUNDS.items()},
    "f64": st.floats(allow_nan=False),
    "str": st.text(max_size=80).filter(lambda t: len(t.encode()) <= 255),
    "16 bytes": st.binary(min_size=16, max_size=16),
    "32 bytes": st.binary(min_size=32, max_size=32),
    "u16 list": st.lists(boundary_ints(16), max_size=20),
    "telemetry records": st.sampled_from([0, 1, 7]).map(telemetry),
    "settings block": st.lists(st.sampled_from(SETTINGS_KEYS), unique=True, max_size=6).map(
        lambda keys: {k: defaults()[k] for k in keys}
    ),
}


def field_strategy(field: Any) -> st.SearchStrategy[Any]:
    kind = wire_name(field)
    if kind == "u8" and field.name in ("motor_enabled", "estop_latched", "locked"):
        return st.booleans()
    return STRATEGIES[kind]


@st.composite
def messages(draw: st.DrawFn) -> tuple[Msg, dict[str, Any]]:
    msg = draw(st.sampled_from(list(Msg)))
    return msg, {f.name: draw(field_strategy(f)) for f in LAYOUTS[msg].fields}


def test_every_message_type_has_a_layout() -> None:
    assert set(LAYOUTS) == set(Msg)


@settings(max_examples=600, deadline=None)
@given(messages())
def test_every_message_round_trips_with_boundary_values(case: tuple[Msg, dict[str, Any]]) -> None:
    msg, values = case
    payload = encode(msg, **values)
    back = decode(msg, payload)
    assert list(back) == field_names(msg)
    for name, value in values.items():
        if isinstance(value, np.ndarray):
            assert back[name].dtype == TELEMETRY_DTYPE and back[name].tobytes() == value.tobytes()
        else:
            assert back[name] == value, name
    assert encode(msg, **back) == payload


@settings(max_examples=600, deadline=None)
@given(messages(), st.data())
def test_a_cut_or_padded_payload_is_a_payload_error(case: tuple[Msg, dict[str, Any]], data: st.DataObject) -> None:
    """Never a crash: the pen turns a PayloadError into NAK BAD_PAYLOAD."""
    msg, values = case
    payload = encode(msg, **values)
    if data.draw(st.booleans()) and payload:
        bad = payload[: data.draw(st.integers(0, len(payload) - 1))]
    else:
        bad = payload + data.draw(st.binary(min_size=1, max_size=4))
    try:
        decode(msg, bad)
    except PayloadError:
        return
    # A cut payload may still be a complete shorter one only where a length prefix says so (lists, settings).
    assert wire_name(LAYOUTS[msg].fields[-1]) in ("u16 list", "settings block", "telemetry records"), bad


@given(st.sampled_from(list(Msg)), st.binary(max_size=120))
def test_random_bytes_decode_or_raise_payload_error_only(msg: Msg, payload: bytes) -> None:
    with contextlib.suppress(PayloadError):
        decode(msg, payload)


def test_errors_are_one_line_and_name_the_field() -> None:
    with pytest.raises(PayloadError, match=r"^COMMAND payload: field frequency_hz: .*expected 8") as info:
        decode(Msg.COMMAND, bytes(10))
    assert "\n" not in str(info.value)
    with pytest.raises(PayloadError, match="unexpected bytes at the end"):
        decode(Msg.STATUS, b"\0")
    with pytest.raises(PayloadError, match="motor_enabled 7: expected 0 or 1"):
        decode(Msg.COMMAND, bytes(16) + b"\7")
    with pytest.raises(ValueError, match="no value for field"):
        encode(Msg.COMMAND, depth_mm=1.0)
