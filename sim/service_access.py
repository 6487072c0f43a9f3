"""The pen's side of service access: nonces, verification, lockout and expiry.

Nonces come from the operating system's secure random source, not from the
simulation's seeded generator: they protect the pen, they are not physics, and
they never appear in a report.
"""

from __future__ import annotations

import hmac
import secrets

from hal.errors import PenRefusedError
from hal.protocol import ErrorCode
from hal.service_auth import LEVEL_CODES, NONCE_BYTES, unlock_response
from hal.settings import Access


class ServiceAccess:
    """Who may change service and factory settings right now."""

    def __init__(self, key: bytes | None, max_failures: int = 3, timeout_s: float = 600.0) -> None:
        self._key = key
        self.max_failures = max_failures
        self.timeout_s = timeout_s
        self._nonce: bytes | None = None
        self._failures = 0
        self.locked_out = False
        self._level: Access = "user"
        self._expires_s = 0.0

    def challenge(self) -> bytes:
        if self._key is None:
            raise PenRefusedError(ErrorCode.NO_KEY, "", "no service key is provisioned in this pen")
        if self.locked_out:
            raise PenRefusedError(ErrorCode.AUTH_LOCKED, "", "service access locked until power-off")
        self._nonce = secrets.token_bytes(NONCE_BYTES)
        return self._nonce

    def unlock(self, level: str, answer: bytes, serial_number: str, now_s: float) -> None:
        """Check an answer to the pending challenge; the nonce is spent either way."""
        if self.locked_out:
            raise PenRefusedError(ErrorCode.AUTH_LOCKED, "", "service access locked until power-off")
        nonce, self._nonce = self._nonce, None
        if self._key is None or nonce is None:
            raise PenRefusedError(ErrorCode.NO_KEY, "", "no challenge pending: ask for one first")
        if level not in LEVEL_CODES:
            raise PenRefusedError(ErrorCode.BAD_PAYLOAD, "", f"unknown access level {level!r}")
        if not hmac.compare_digest(answer, unlock_response(self._key, nonce, level, serial_number)):
            self._failures += 1
            if self._failures >= self.max_failures:
                self.locked_out = True
                raise PenRefusedError(
                    ErrorCode.AUTH_LOCKED, "", f"{self._failures} wrong answers: service access locked until power-off"
                )
            raise PenRefusedError(ErrorCode.AUTH_FAILED, "", "wrong or replayed answer")
        self._failures = 0
        self._level = "factory" if level == "factory" else "service"
        self._expires_s = now_s + self.timeout_s

    def level(self, now_s: float) -> Access:
        """The access level in force at pen time ``now_s`` (an unlock expires)."""
        if self._level != "user" and not now_s <= self._expires_s:
            self._level = "user"
        return self._level

    def drop(self) -> None:
        """Back to user level and no pending challenge (a new host, a disconnect); a lockout stays."""
        self._level = "user"
        self._nonce = None

    def power_off(self) -> None:
        self.drop()
        self._failures = 0
        self.locked_out = False
