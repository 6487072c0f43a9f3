"""Service unlock: HMAC-SHA256 challenge-response over a per-pen key.

The pen sends a fresh random nonce; the host answers HMAC-SHA256(key, tag |
nonce | level | serial number). The nonce is used once, whatever the outcome,
so a captured answer replayed later is refused; a few wrong answers in a row
lock service access until power-off and, kept in the pen's store, for a growing
back-off after every power-on (sim/service_access.py). The key never leaves the host's key file:
it is not logged, printed or written into any report.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from hal.errors import InputError

NONCE_BYTES = 16
KEY_BYTES = 32
LEVEL_CODES = {"service": 1, "factory": 2}
TAG = b"penctl-unlock-v1"


def unlock_response(key: bytes, nonce: bytes, level: str, serial_number: str) -> bytes:
    """The answer to a challenge: binds the nonce, the level asked for and the pen's serial number."""
    message = TAG + b"|" + nonce + bytes([LEVEL_CODES[level]]) + serial_number.encode("ascii")
    return hmac.new(key, message, hashlib.sha256).digest()


def read_key_file(path: str | Path) -> bytes:
    """A key file holds the pen's 32-byte key as 64 hex digits. Errors never echo the file's content."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(source, "", "a readable key file of 64 hex digits", type(exc).__name__) from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise InputError(source, "", f"{2 * KEY_BYTES} hex digits (a {KEY_BYTES}-byte key)")
    return key
