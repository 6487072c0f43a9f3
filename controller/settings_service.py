"""Flashing settings into a pen: validate everything, stage once, commit once, read back, compare.

All-or-nothing: the host checks every key (type, range, rules between settings)
before it sends anything; the pen checks them all again; one batched write
stages the whole block, one commit writes it to the pen's store as one image,
and one read-back proves it. Whatever fails, the pen keeps exactly the settings
it had (a failed commit leaves the old image in force), and the error says which
key and why. A full-block flash costs a handshake (done when the port opens),
one write, one commit and one read-back: four round trips, not one per setting.
"""

from __future__ import annotations

import contextlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.table_reader import InputFileError, Problem
from hal.backend import SettingsPort
from hal.errors import PenError, PenOperationError, PenTimeoutError
from hal.settings import BY_KEY, SCHEMA_VERSION, SETTINGS, Setting, SettingValue, merged, validate_block


class VerifyError(PenOperationError):
    """The read-back after a commit does not match what was flashed."""


@dataclass(frozen=True)
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
            problems.append(Problem(key, "a known setting (see `penctl settings list`)"))
            continue
        if setting.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        why = setting.check(value)
        if why:
            problems.append(Problem(key, why, value))
        else:
            clean[key] = value
    if problems:
        raise InputFileError(source, problems)
    return clean


def check_block(base: Mapping[str, SettingValue], changes: Mapping[str, SettingValue], source: str) -> None:
    """Rules between settings, on the block as it would be after the changes."""
    problems = validate_block(merged(base, changes))
    if problems:
        raise InputFileError(source, [Problem(p.key, p.reason) for p in problems])


def flash(pen: SettingsPort, changes: Mapping[str, SettingValue]) -> FlashResult:
    """Stage ``changes`` in one write, commit once, read back and compare.

    Nothing an earlier, interrupted flash staged can ride along: the pen drops its staged block at
    every handshake, and a failure here aborts what this flash staged.
    """
    try:
        pen.stage_settings(changes)
        pen.commit_settings()
    except PenError:
        _abort_quietly(pen)
        raise
    try:
        read_back = pen.read_settings()
    except PenTimeoutError as exc:
        raise PenTimeoutError(
            f"committed, but the read-back failed ({exc}); run `penctl settings get` to check"
        ) from exc
    wrong = [k for k, v in changes.items() if read_back.get(k) != v]
    if wrong:
        raise VerifyError(
            "read-back differs after commit: "
            + ", ".join(f"{k} is {read_back.get(k)!r}, flashed {changes[k]!r}" for k in wrong)
        )
    return FlashResult(dict(changes), read_back)


def _abort_quietly(pen: SettingsPort) -> None:
    with contextlib.suppress(PenError):
        pen.abort_settings()


# --- settings files ----------------------------------------------------------------------------


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"depth": {"max_mm": 2}}`` -> ``{"depth.max_mm": 2}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def read_settings_file(path: str | Path) -> dict[str, SettingValue]:
    """A settings file (TOML from ``dump``, or JSON); checked key by key, every problem listed."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(source, [Problem("", f"a readable settings file ({exc.strerror})")]) from None
    try:
        text = data.decode("utf-8")
        document = json.loads(text) if source.endswith(".json") else tomllib.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputFileError(source, [Problem("", f"a TOML or JSON settings file ({exc})")]) from None
    if not isinstance(document, dict) or not isinstance(document.get("settings"), dict):
        raise InputFileError(source, [Problem("settings", "a table of settings")])
    schema = document.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise InputFileError(source, [Problem("schema", f"settings schema {SCHEMA_VERSION}", schema)])
    return check_changes(flatten(document["settings"]), source)


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
