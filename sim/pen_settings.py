"""The pen's side of settings: validate every write again, stage, commit atomically, keep alarms.

The pen never trusts the host: a write is checked key by key (known id, type and
range, the access level for every key written, whatever its value) and then as a whole block (rules
between settings). Any problem refuses the whole write and leaves nothing
staged. A commit writes the staged block to the two-slot store in one image;
until it succeeds, the settings in force are the old ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from hal.errors import PenRefusedError
from hal.protocol import Alarm, ErrorCode
from hal.settings import ACCESS_LEVELS, BY_KEY, SETTINGS, Access, SettingValue, validate_block
from sim.nvm import Flash, LockoutRecord, MemoryFlash, SettingsStore, StoreContents


def _stored(value: SettingValue) -> SettingValue:
    """The value as the store keeps it: -0.0 becomes 0.0 (one zero, so a read-back never shows a sign)."""
    return 0.0 if isinstance(value, float) and value == 0.0 else value


class PenSettings:
    """Settings in force, the staged block, the store and its alarms."""

    def __init__(self, flash: Flash | None = None) -> None:
        self.store = SettingsStore(flash or MemoryFlash())
        boot = self.store.boot()
        self.contents = boot.contents
        self.alarms: set[Alarm] = set(boot.alarms)
        self.staged: dict[str, SettingValue] | None = None
        self.staged_needs: Access = "user"
        """The highest access level a write in the staged block needed: the commit needs it still in force."""
        self.staged_under = 0
        """The unlock (ServiceAccess.unlocks) that staged writes needing one: the commit needs that same unlock."""
        self.access: Access = "user"
        self.unlock_id = 0
        """The unlock in force now (set by the backend with ``access``)."""

    @property
    def values(self) -> dict[str, SettingValue]:
        return dict(self.contents.settings)

    def stage(self, changes: Mapping[str, SettingValue]) -> None:
        """Stage ``changes`` on top of what is staged (or in force); refuse all on any problem."""
        base = self.staged if self.staged is not None else self.contents.settings
        needs = self.staged_needs if self.staged is not None else "user"
        try:
            for key, value in changes.items():
                setting = BY_KEY.get(key)
                if setting is None:
                    raise PenRefusedError(ErrorCode.SETTING_UNKNOWN, key, "no such setting")
                why = setting.check(value)
                if why:
                    raise PenRefusedError(ErrorCode.SETTING_RANGE, key, f"expected {why}, got {value!r}")
                if ACCESS_LEVELS.index(setting.access) > ACCESS_LEVELS.index(self.access):
                    raise PenRefusedError(
                        ErrorCode.ACCESS, key, f"{setting.access} setting: needs a {setting.access} unlock to write"
                    )
                needs = max(needs, setting.access, key=ACCESS_LEVELS.index)
            block = dict(base) | {key: _stored(value) for key, value in changes.items()}
            problems = validate_block(block)
            if problems:
                raise PenRefusedError(ErrorCode.SETTING_RULE, problems[0].key, problems[0].reason)
        except PenRefusedError:
            self.staged = None
            raise
        stale = self.staged is not None and self.staged_needs != "user" and self.staged_under != self.unlock_id
        if stale:  # a write added to a block staged under an unlock that has ended: the block goes, unwritten
            self.staged = None
            raise PenRefusedError(
                ErrorCode.ACCESS, "", "the block staged before was staged under an unlock that has ended: dropped"
            )
        self.staged, self.staged_needs = block, needs
        if needs != "user":
            self.staged_under = self.unlock_id

    def stage_factory_reset(self) -> None:
        """Stage factory defaults for every setting the current access level may change; the rest stay.

        Without an unlock only user settings revert: a clinic's tightened service limits (a lower
        winding trip, an older minimum age) survive a reset a user asked for.
        """
        allowed = ACCESS_LEVELS[: ACCESS_LEVELS.index(self.access) + 1]
        self.staged = {s.key: (s.default if s.access in allowed else self.contents.settings[s.key]) for s in SETTINGS}
        self.staged_needs, self.staged_under = self.access, self.unlock_id

    def commit(self) -> None:
        """Write the staged block, if the access it was staged under is still in force (``self.access``).

        An unlock that expired or was dropped between the write and the commit takes the block with it:
        otherwise a block staged under an unlock could be committed long after the unlock ended.
        """
        if self.staged is None:
            raise PenRefusedError(ErrorCode.NOTHING_STAGED, "", "nothing staged to commit")
        ended = self.staged_needs != "user" and self.staged_under != self.unlock_id
        if ended or ACCESS_LEVELS.index(self.staged_needs) > ACCESS_LEVELS.index(self.access):
            self.staged = None
            raise PenRefusedError(
                ErrorCode.ACCESS,
                "",
                f"the block holds {self.staged_needs} settings and the {self.staged_needs} unlock it was staged "
                "under has ended: nothing committed, the staged block is dropped",
            )
        new = replace(self.contents, settings=dict(self.staged))
        self._write(new)
        self.contents = new
        self.staged = None

    def abort(self) -> None:
        self.staged = None

    def record_used_cartridge(self, cartridge_id: int, strokes: int) -> None:
        """Add a cartridge to the store's used list (single-use lockout), in one commit of its own.

        The record is kept in RAM even when the store refuses the write, so the lockout holds until
        power-off; the caller hears about the failure (PenRefusedError STORE) and must stop stroking.
        """
        used = dict(self.contents.used_cartridges)
        used[cartridge_id] = max(used.get(cartridge_id, 0), strokes)
        self._keep(replace(self.contents, used_cartridges=used))

    def record_lockout(self, lockout: LockoutRecord) -> None:
        """Keep the service-lockout record in the store, in one commit of its own (kept in RAM if that fails)."""
        if lockout != self.contents.lockout:
            self._keep(replace(self.contents, lockout=lockout))

    def _keep(self, contents: StoreContents) -> None:
        """Write ``contents`` and hold it in force, also when the store refuses the write (STORE is raised)."""
        try:
            self._write(contents)
        finally:
            self.contents = contents

    def _write(self, contents: StoreContents) -> None:
        try:
            self.store.commit(contents)
        except OSError as exc:
            raise PenRefusedError(ErrorCode.STORE, "", f"the settings store could not be written: {exc}") from exc
