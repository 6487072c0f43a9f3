"""Flashing settings into a pen: validate everything, stage once, commit once, read back, compare.

All-or-nothing: the host checks every key (type, range, rules between settings)
before it sends anything; the pen checks them all again; one batched write
stages the whole block, one commit writes it to the pen's store as one image,
and one read-back proves it. Whatever fails, the pen keeps exactly the settings
it had (a failed commit leaves the old image in force), and the error says which
key and why. A full-block flash costs a handshake (done when the port opens),
one write, one commit and one read-back: four round trips, not one per setting (plus the
challenge and answer of an unlock when the block holds service or factory keys).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.host.table_reader import InputFileError, Problem, did_you_mean, parse_document, shown
from hal.errors import PenError, PenOperationError, PenTimeoutError
from hal.settings import (
    BY_KEY,
    CROSS_RULES,
    SCHEMA_VERSION,
    SETTINGS,
    Setting,
    SettingValue,
    merged,
    validate_block,
)

if TYPE_CHECKING:  # the protocol only types arguments; importing it would import NumPy for `penctl --help`
    from hal.backend import SettingsPort

READ_BACK_ATTEMPTS = 3
"""Read-backs tried (each with the link's own retransmissions) before a flash is called unverified."""


class UnverifiedError(PenOperationError):
    """The commit was (or may have been) applied, but the read-back could not confirm it."""


class VerifyError(UnverifiedError):
    """The read-back after a commit does not match what was flashed."""


@dataclass(kw_only=True, frozen=True)
class FlashResult:
    written: dict[str, SettingValue]
    read_back: dict[str, SettingValue]


def check_changes(changes: Mapping[str, Any], source: str) -> dict[str, SettingValue]:
    """Host-side check of every key and value; raises InputFileError listing every problem."""
    problems: list[Problem] = []
    clean: dict[str, SettingValue] = {}
    for key, value in changes.items():
        setting = BY_KEY.get(key)
        if setting is None:
            hint = did_you_mean(key, list(BY_KEY))
            problems.append(Problem(key=key, expected=f"a known setting (see `penctl settings list`){hint}"))
            continue
        if setting.kind == "float" and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53:
            value = float(value)
        why = setting.check(value)
        if why:
            problems.append(Problem(key=key, expected=why, got=shown(value)))
        else:
            clean[key] = value
    if problems:
        raise InputFileError(source, problems)
    return clean


def check_block(base: Mapping[str, SettingValue], changes: Mapping[str, SettingValue], source: str) -> None:
    """Rules between settings, on the block as it would be after the changes."""
    problems = validate_block(merged(base, changes))
    if problems:
        raise InputFileError(source, [Problem(key=p.key, expected=_expected(p.reason)) for p in problems])


def _expected(reason: str) -> str:
    """A block problem's reason as what was expected ("no such setting" -> "a known setting")."""
    if reason == "no such setting":
        return "a known setting (see `penctl settings list`)"
    if reason == "missing":
        return "a value (the setting is missing)"
    return reason.removeprefix("expected ")


def flash(pen: SettingsPort, changes: Mapping[str, SettingValue]) -> FlashResult:
    """Stage ``changes`` in one write, commit once, read back and compare.

    Three outcomes: verified (returns); not applied (raises the pen's refusal or the link error,
    and the pen keeps exactly the settings it had); applied but not verified (raises
    :class:`UnverifiedError`). A commit whose reply is lost is settled by reading back. Nothing an
    earlier, interrupted flash staged can ride along: the pen drops its staged block at every
    handshake, and a failure here aborts what this flash staged.
    """
    try:
        pen.stage_settings(changes)
    except PenError:
        _abort_quietly(pen)
        raise
    try:
        pen.commit_settings()
    except PenTimeoutError as exc:
        return _settle_lost_commit(pen, changes, exc)
    except PenError:
        _abort_quietly(pen)
        raise
    read_back = _read_back(pen, "committed")
    wrong = [k for k, v in changes.items() if read_back.get(k) != v]
    if wrong:
        raise VerifyError(
            "committed, but the read-back differs: "
            + ", ".join(f"{k} is {read_back.get(k)!r}, flashed {changes[k]!r}" for k in wrong)
        )
    return FlashResult(written=dict(changes), read_back=read_back)


def _read_back(pen: SettingsPort, what: str) -> dict[str, SettingValue]:
    """Read the settings, retrying (reading changes nothing); UnverifiedError when it never works."""
    error: PenError | None = None
    for _ in range(READ_BACK_ATTEMPTS):
        try:
            return pen.read_settings()
        except PenError as exc:
            error = exc
    raise UnverifiedError(
        f"{what}, but the read-back failed {READ_BACK_ATTEMPTS} times ({error}); "
        "run `penctl settings get` to check what is in force"
    )


def _settle_lost_commit(pen: SettingsPort, changes: Mapping[str, SettingValue], lost: PenError) -> FlashResult:
    """The commit's reply never came: the read-back says whether it happened.

    The pen commits exactly the staged block or nothing, and serves one host at a time, so a
    read-back that shows every change means it was applied, and one that does not means it was not.
    """
    read_back = _read_back(pen, "the commit's reply was lost (it may have been applied)")
    if all(read_back.get(k) == v for k, v in changes.items()):
        return FlashResult(written=dict(changes), read_back=read_back)
    _abort_quietly(pen)
    raise PenTimeoutError(f"not applied: the commit's reply was lost and the read-back shows the old settings ({lost})")


def _abort_quietly(pen: SettingsPort) -> None:
    with contextlib.suppress(PenError):
        pen.abort_settings()


# --- settings files ----------------------------------------------------------------------------


def flatten(table: Mapping[str, Any], prefix: str = "", source: str = "settings") -> dict[str, Any]:
    """``{"depth": {"max_mm": 2}}`` -> ``{"depth.max_mm": 2}``; a key given twice (dotted and nested) is an error."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        parts = flatten(value, name, source) if isinstance(value, dict) else {name: value}
        for part, item in parts.items():
            if part in flat:
                raise InputFileError(
                    source, [Problem(key=f"settings.{part}", expected="each setting once (it is given twice)")]
                )
            flat[part] = item
    return flat


def check_rules_among(changes: Mapping[str, SettingValue], source: str) -> None:
    """The rules between settings, for every rule whose two settings are both given."""
    for lower, upper, message in CROSS_RULES:
        if lower in changes and upper in changes:
            lo, hi = changes[lower], changes[upper]
            assert isinstance(lo, (int, float)) and isinstance(hi, (int, float))
            if lo > hi or (lo == hi and lower != "frequency.min_hz"):
                raise InputFileError(
                    source, [Problem(key=lower, expected=f"a value allowed by the rule: {message}", got=lo)]
                )


def read_settings_file(path: str | Path) -> dict[str, SettingValue]:
    """A settings file (TOML from ``dump``, or JSON); checked key by key, every problem listed."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(source, [Problem(key="", expected=f"a readable settings file ({exc.strerror})")]) from None
    document = parse_document(data, source, "json" if source.endswith(".json") else "toml")
    if not isinstance(document, dict) or not isinstance(document.get("settings"), dict):
        raise InputFileError(source, [Problem(key="settings", expected="a table of settings")])
    unknown = sorted(set(document) - {"schema", "settings"})
    if unknown:
        raise InputFileError(
            source,
            [
                Problem(key=k, expected=f"a top-level key schema or settings{did_you_mean(k, ['schema', 'settings'])}")
                for k in unknown
            ],
        )
    schema = document.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION or isinstance(schema, bool):
        raise InputFileError(
            source, [Problem(key="schema", expected=f"settings schema {SCHEMA_VERSION}", got=shown(schema))]
        )
    changes = check_changes(flatten(document["settings"], source=source), source)
    check_rules_among(changes, source)
    return changes


def dump_toml(values: Mapping[str, SettingValue], header: str) -> str:
    """Settings as TOML grouped by prefix, replayable with ``load``."""
    lines = [f"# {header}", f"schema = {SCHEMA_VERSION}"]
    groups: dict[str, list[Setting]] = {}
    for setting in SETTINGS:
        groups.setdefault(setting.key.split(".", 1)[0], []).append(setting)
    for prefix, members in groups.items():
        lines += ["", f"[settings.{prefix}]"]
        for setting in members:
            value = values[setting.key]
            if isinstance(value, str):
                text = json.dumps(value)
            elif isinstance(value, bool):
                text = str(value).lower()
            else:
                text = repr(value)
            unit = f"  # {setting.unit}" if setting.unit else ""
            lines.append(f"{setting.key.split('.', 1)[1]} = {text}{unit}")
    return "\n".join(lines) + "\n"


def dump_json(values: Mapping[str, SettingValue]) -> str:
    return json.dumps({"schema": SCHEMA_VERSION, "settings": dict(values)}, indent=2) + "\n"


def diff(current: Mapping[str, SettingValue], wanted: Mapping[str, SettingValue]) -> dict[str, tuple[Any, Any]]:
    """Keys whose value would change: key -> (now, wanted)."""
    return {k: (current.get(k), v) for k, v in wanted.items() if current.get(k) != v}
