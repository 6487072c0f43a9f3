"""The pen's side of service access: nonces, verification, lockout and expiry.

Nonces come from the operating system's secure random source, not from the
simulation's seeded generator: they protect the pen, they are not physics, and
they never appear in a report.

Everything runs on the pen's power-on clock. An unlock lasts
``service.unlock_timeout_s`` (the value in force) counted from the unlock: no
traffic extends it. Wrong answers are kept in the store, so a power cycle (or
RESET_WORLD, a simulated one) forgives nothing: ``service.max_unlock_failures``
wrong answers in a row lock service access until power-off, and after every
power-on for a back-off that doubles with each lockout (60 s, 120 s, ... up to
a day); only a right answer clears the record.
"""

from __future__ import annotations

import hmac
import math
import secrets
from dataclasses import replace
from typing import NoReturn

from hal.errors import PenRefusedError
from hal.protocol import ErrorCode
from hal.service_auth import LEVEL_CODES, NONCE_BYTES, unlock_response
from hal.settings import Access
from sim.nvm import LockoutRecord
from sim.pen_settings import PenSettings

BACKOFF_FIRST_S = 60.0
"""Service access stays locked this long after a power-on that follows the first lockout."""
BACKOFF_MAX_S = 86_400.0
"""The back-off doubles with each lockout up to a day."""


def backoff_s(lockouts: int) -> float:
    """How long after a power-on service access stays locked, after ``lockouts`` lockouts."""
    if lockouts <= 0:
        return 0.0
    return min(BACKOFF_FIRST_S * 2.0 ** min(lockouts - 1, 64), BACKOFF_MAX_S)


class ServiceAccess:
    """Who may change service and factory settings right now (see the module docstring)."""

    def __init__(self, key: bytes | None, settings: PenSettings, now_s: float) -> None:
        """Power on at ``now_s`` of the power-on clock, with the lockout record ``settings`` holds."""
        self._key = key
        self._settings = settings
        self._nonce: bytes | None = None
        self._level: Access = "user"
        self._unlocked_s = 0.0
        self.unlocks = 0
        """Right answers since power-on: which unlock is in force, so a block staged under one expired unlock is
        not committed under the next."""
        self._locked_until_s = 0.0
        self.power_on(now_s)

    @property
    def record(self) -> LockoutRecord:
        return self._settings.contents.lockout

    @property
    def locked_out(self) -> bool:
        """A lockout is in force (this power-on, or the back-off after one)."""
        return self.record.locked

    def power_on(self, now_s: float) -> None:
        """A new power-on: user level; a lockout in force holds for its back-off from now."""
        self.drop()
        self._locked_until_s = now_s + backoff_s(max(self.record.lockouts, 1)) if self.record.locked else 0.0

    def power_off(self) -> None:
        self.drop()

    def challenge(self, now_s: float) -> bytes:
        if self._key is None:
            raise PenRefusedError(ErrorCode.NO_KEY, "", "no service key is provisioned in this pen")
        self._refuse_while_locked(now_s)
        self._nonce = secrets.token_bytes(NONCE_BYTES)
        return self._nonce

    def unlock(self, level: str, answer: bytes, serial_number: str, now_s: float) -> None:
        """Check an answer to the pending challenge; the nonce is spent either way."""
        self._refuse_while_locked(now_s)
        nonce, self._nonce = self._nonce, None
        if self._key is None or nonce is None:
            raise PenRefusedError(ErrorCode.NO_KEY, "", "no challenge pending: ask for one first")
        if level not in LEVEL_CODES:
            raise PenRefusedError(ErrorCode.BAD_PAYLOAD, "", f"unknown access level {level!r}")
        if not hmac.compare_digest(answer, unlock_response(self._key, nonce, level, serial_number)):
            self._wrong_answer()
        self._remember(LockoutRecord())
        self._level = "factory" if level == "factory" else "service"
        self._unlocked_s = now_s
        self.unlocks += 1

    def level(self, now_s: float) -> Access:
        """The access level in force at ``now_s`` of the power-on clock (an unlock expires)."""
        timeout_s = float(self._settings.contents.settings["service.unlock_timeout_s"])
        if self._level != "user" and not 0.0 <= now_s - self._unlocked_s < timeout_s:
            self._level = "user"
        return self._level

    def drop(self) -> None:
        """Back to user level and no pending challenge (a new host, a disconnect); a lockout stays."""
        self._level = "user"
        self._nonce = None

    def _refuse_while_locked(self, now_s: float) -> None:
        record = self.record
        if not record.locked:
            return
        until = self._locked_until_s
        if now_s < until:
            wait = "until power-off" if math.isinf(until) else f"for {math.ceil(until - now_s)} s more (back-off)"
            raise PenRefusedError(
                ErrorCode.AUTH_LOCKED, "", f"service access locked after {record.lockouts} lockout(s): {wait}"
            )
        self._remember(replace(record, locked=False))  # the back-off is over: max_unlock_failures more tries

    def _wrong_answer(self) -> NoReturn:
        """Count a wrong answer in the store; the one that reaches the limit locks service access."""
        record = self.record
        failures = record.failures + 1
        limit = int(self._settings.contents.settings["service.max_unlock_failures"])
        if failures < limit:
            stored = self._remember(replace(record, failures=failures))
            if stored:
                raise PenRefusedError(ErrorCode.AUTH_FAILED, "", "wrong or replayed answer")
        else:
            self._remember(LockoutRecord(failures=0, lockouts=record.lockouts + 1, locked=True))
        self._lock_until_power_off()
        why = f"{failures} wrong answer(s) in a row" if failures >= limit else "the store could not count the failure"
        raise PenRefusedError(ErrorCode.AUTH_LOCKED, "", f"{why}: service access locked until power-off")

    def _lock_until_power_off(self) -> None:
        self._locked_until_s = math.inf
        if not self.record.locked:  # the store refused the record: the lockout holds in RAM
            self._settings.contents.lockout = replace(self.record, locked=True)

    def _remember(self, record: LockoutRecord) -> bool:
        """Keep ``record`` in the store; False when the store refused (it is held in RAM all the same)."""
        try:
            self._settings.record_lockout(record)
        except PenRefusedError:
            return False
        return True
