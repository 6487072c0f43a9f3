"""A recording's seal: an HMAC-SHA256 chain over its lines, so that an edit made without the key shows.

A recording is evidence (a complaint investigation replays it), so editing, moving, inserting or
deleting a line must not go unnoticed. Every line ends in ``"mac": <64 hex>``: HMAC-SHA256 under
the recording's key of the previous line's MAC followed by the line's own text without its MAC.
The chain binds each line to its place; the sealed end line binds the count, so a cut recording
is a truncated one. The recording's key is derived from a 32-byte master key and the header's
random nonce, so one master key seals many recordings under different keys, and the pen's
service key can serve as a master key without its HMAC answers ever being reproducible from a
recording (the messages carry different tags).

What it does not do (docs/recording.md, Threat model): HMAC is symmetric, so whoever holds the
master key can forge a recording that verifies; the seal proves "written by a holder of the key",
not "said by this pen". The key is never written into the recording, printed or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from hal.errors import InputError
from hal.service_auth import KEY_BYTES, read_key_file

TAG = b"penctl-recording-v2|"
NONCE_BYTES = 16
MAC = re.compile(r',"mac":"([0-9a-f]{64})"\}\Z')
"""How a sealed line ends: its MAC as the last key of its JSON object."""


def key_id(master: bytes) -> str:
    """A short public name of a master key (the header carries it, so replay can say "another key")."""
    return hmac.new(master, b"penctl-recording-key-id", hashlib.sha256).hexdigest()[:16]


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


class LineChain:
    """Seals lines in order (recording) or opens them in order (replay), under one recording's key."""

    def __init__(self, master: bytes, nonce: str) -> None:
        self._key = hmac.new(master, TAG + nonce.encode("ascii"), hashlib.sha256).digest()
        self._previous = b""

    def _next_mac(self, text: str) -> bytes:
        mac = hmac.new(self._key, self._previous + text.encode("utf-8"), hashlib.sha256).digest()
        self._previous = mac
        return mac

    def seal(self, text: str) -> str:
        """``text`` (one JSON object) with its MAC added as its last key."""
        return f'{text[:-1]},"mac":"{self._next_mac(text).hex()}"}}'

    def open(self, line: str) -> str | None:
        """The line's text without its MAC if the MAC is the one expected here, else None."""
        found = MAC.search(line)
        if found is None:
            return None
        text = line[: found.start()] + "}"
        mac = hmac.new(self._key, self._previous + text.encode("utf-8"), hashlib.sha256).digest()
        if not hmac.compare_digest(mac.hex(), found.group(1)):
            return None
        self._previous = mac
        return text


def key_file_beside(log: str | Path) -> Path:
    """Where ``penctl record`` writes a recording's own key when no --key-file is given."""
    return Path(f"{log}.key")


def recording_master_key(log: str | Path, key: bytes | None) -> bytes:
    """The master key a new recording is sealed with: ``key`` (read from --key-file), or a fresh one written beside
    the log."""
    if key is not None:
        return key
    master = secrets.token_bytes(KEY_BYTES)
    path = key_file_beside(log)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(master.hex() + "\n")
    except OSError as exc:
        raise InputError(str(path), "", "a key file penctl can create beside the recording", exc.strerror) from None
    return master


def replay_master_key(recording: str | Path, key_file: str | Path | None) -> bytes:
    """The master key a recording is checked with: the key file given, else the one beside the recording."""
    return read_key_file(key_file if key_file is not None else key_file_beside(recording))
