"""Malformed inputs are refused cleanly.

The promise of README.md ("exit codes", 2) and docs/plan-format.md / docs/settings.md: a bad plan file,
settings file or argument gets a clear error that names the file (or the argument) and the key and
says what was expected, exit code 2, no Python traceback, and nothing is written (no report directory,
no file) and nothing is sent (settings commands run against `loop://`, an echoing port on which any
real exchange fails with exit 1, so exit 2 also shows the input was refused before the port was used).

The corpus lives in tests/malformed/; every malformed plan there is tests/malformed/plan-base.toml
(a valid 50-stroke plan) with one change, so each case isolates one problem. Inputs too large or too
deep to commit (5000-digit integers, 3000 levels of nesting) are generated here at run time.

Every case runs as a subprocess in a directory of its own; the cases are run a few at a time in a
thread pool (started by the first test) so the module stays well under a minute.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "malformed"
BASE_PLAN = "plan-base.toml"
VALID_SETTINGS = "settings-valid.toml"
TIMEOUT_S = 20.0  # a refusal takes a fraction of a second; this only bounds an input that was accepted
SERVE_TIMEOUT_S = 8.0  # `penctl serve` that accepts its arguments runs until killed
DIGITS_400 = "1" + "0" * 399
DIGITS_5000 = "1" + "0" * 4999
DEPTH = 3000
PORT_PLACEHOLDER = "{bound_port}"


# --------------------------------------------------------------------------------------------------
# Cases


@dataclass(frozen=True)
class Case:
    """One malformed input and what its refusal must mention.

    `args` are penctl's arguments, run in a fresh directory holding `files` (copied from the corpus)
    and `generated` (written at run time); `names` must appear in stderr verbatim (the file or the
    argument); each of `keys` (a dotted key path) must appear on one line of stderr, its parts in order
    (`zone.depth_mm` matches `zone[1].depth_mm` and `zone 1 (cheeks): depth_mm`); `out_dir` must not
    exist afterwards.
    """

    id: str
    args: tuple[str, ...]
    files: tuple[str, ...] = ()
    generated: tuple[tuple[str, bytes], ...] = ()
    dirs: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    out_dir: str | None = None
    timeout_s: float = TIMEOUT_S


def mutated_plan(base: str, section: str, key: str, value: str | None, *, drop: tuple[str, ...] = ()) -> str:
    """`base` with `key` of the first `[section]` / `[[section]]` table set to the TOML `value`.

    `value` None removes the key; a key the table lacks is added at the end of the table; `drop`
    names further keys of that table to remove.
    """
    lines = base.splitlines()
    headers = (f"[{section}]", f"[[{section}]]")
    start = next(i for i, line in enumerate(lines) if line.strip() in headers)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    body = lines[start + 1 : end]
    pattern = re.compile(rf"^{re.escape(key)}\s*=")
    dropped = [re.compile(rf"^{re.escape(k)}\s*=") for k in drop]
    new_body: list[str] = []
    replaced = False
    for line in body:
        if any(p.match(line) for p in dropped):
            continue
        if pattern.match(line):
            replaced = True
            if value is not None:
                new_body.append(f"{key} = {value}")
            continue
        new_body.append(line)
    if not replaced and value is not None:
        new_body.append(f"{key} = {value}")
    return "\n".join([*lines[: start + 1], *new_body, *lines[end:]]) + "\n"


def base_plan_text() -> str:
    return (CORPUS / BASE_PLAN).read_text(encoding="utf-8")


def treat(case_id: str, plan: str, *keys: str, generated: bytes | None = None) -> Case:
    """`penctl treat PLAN --out out` with a malformed plan (a corpus file, or `generated` content)."""
    if generated is None:
        return Case(case_id, ("treat", plan, "--out", "out"), files=(plan,), names=(plan,), keys=keys, out_dir="out")
    return Case(
        case_id,
        ("treat", plan, "--out", "out"),
        generated=((plan, generated),),
        names=(plan,),
        keys=keys,
        out_dir="out",
    )


# Every numeric key of the plan: (section, key, integer?, valid value, a value above its range, one below).
NUMERIC_KEYS: tuple[tuple[str, str, bool, str, str | None, str | None], ...] = (
    ("pen", "max_depth_mm", False, "2.5", "2.6", "0"),
    ("pen", "battery_soc", False, "0.9", "1.5", None),
    ("cartridge", "id", True, "20240117", "4294967296", "0"),
    ("cartridge", "needles", True, "12", "65", "0"),
    ("cartridge", "max_depth_mm", False, "2.5", "3.5", "0"),
    ("cartridge", "field_diameter_mm", False, "3.5", "10.5", "0.4"),
    ("zone", "depth_mm", False, "0.75", None, "0"),
    ("zone", "max_depth_mm", False, "1.0", "1.5", "0"),
    ("zone", "frequency_hz", False, "100", "151", "24"),
    ("zone", "area_cm2", False, "1", "2001", "0"),
    ("zone", "speed_mm_s", False, "100", "501", "0"),
    ("zone", "passes", True, "1", "21", "0"),
    ("zone", "duration_s", False, "0.5", "3601", "0"),
    ("zone", "pause_s", False, "0", "601", None),
    ("patient", "age", True, "35", "121", None),
    ("patient", "fitzpatrick", True, "2", "7", "0"),
    ("fault", "at_s", False, "3000", "1000001", None),
    ("fault", "value", False, "1.0", "1e7", None),
)

# Variants committed as files, and those generated at run time (too big to commit).
VARIANTS: tuple[str, ...] = ("string", "bool", "nan", "inf", "negative", "digits400", "float", "above", "below")
RUNTIME_VARIANTS: tuple[str, ...] = ("digits5000",)


def numeric_variant_value(variant: str, integer: bool, valid: str, above: str | None, below: str | None) -> str | None:
    """The TOML text of `variant` for a key, or None when the variant does not apply to it."""
    values: dict[str, str | None] = {
        "string": f'"{valid}"',
        "bool": "true",
        "nan": "nan",
        "inf": "inf",
        "negative": "-1",
        "digits400": DIGITS_400,
        "digits5000": DIGITS_5000,
        "float": f"{int(valid)}.5" if integer else None,
        "above": above,
        "below": below,
    }
    return values[variant]


def numeric_plan(base: str, section: str, key: str, value: str) -> str:
    """The base plan with one numeric key changed (`passes` replaces the zone's `duration_s`)."""
    drop = ("duration_s",) if (section, key) == ("zone", "passes") else ()
    return mutated_plan(base, section, key, value, drop=drop)


def numeric_plan_cases() -> Iterator[Case]:
    base = base_plan_text()
    for section, key, integer, valid, above, below in NUMERIC_KEYS:
        for variant in (*VARIANTS, *RUNTIME_VARIANTS):
            if (section, key, variant) == ("fault", "value", "negative"):
                continue  # negative fault values are meaningful for some kinds; see the fault cases
            value = numeric_variant_value(variant, integer, valid, above, below)
            if value is None:
                continue
            name = f"plan-{section}-{key}-{variant}.toml"
            path = f"{section}.{key}"
            if variant in RUNTIME_VARIANTS:
                content = numeric_plan(base, section, key, value).encode()
                yield treat(f"plan:{path}={variant}", name, path, generated=content)
            else:
                yield treat(f"plan:{path}={variant}", name, path)


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_inline_table(depth: int) -> str:
    return "{a = " * depth + "1" + "}" * depth


def plan_cases() -> Iterator[Case]:
    yield from numeric_plan_cases()
    base = base_plan_text()
    # the file as a whole
    yield treat("plan:empty-file", "plan-empty.toml", "cartridge", "zone")
    yield treat("plan:settings-file-as-plan", "plan-settings-file.toml", "schema", "settings")
    yield treat("plan:latin-1-not-utf8", "plan-latin1.toml")
    yield treat("plan:utf-16-not-utf8", "plan-utf16.toml")
    yield treat("plan:nul-byte", "plan-nul-byte.toml")
    yield treat("plan:toml-missing-equals", "plan-toml-missing-equals.toml")
    yield treat("plan:toml-unterminated-string", "plan-toml-unterminated-string.toml")
    yield treat("plan:toml-duplicate-key", "plan-toml-duplicate-key.toml")
    yield treat("plan:toml-duplicate-table", "plan-toml-duplicate-table.toml")
    yield treat("plan:toml-month-13", "plan-toml-month-13.toml")
    yield treat("plan:toml-year-0", "plan-toml-year-0.toml")
    yield treat("plan:deep-array-3000", "plan-deep-array.toml", generated=f"x = {deep_array(DEPTH)}\n{base}".encode())
    yield treat(
        "plan:deep-inline-table-3000",
        "plan-deep-inline-table.toml",
        generated=f"x = {deep_inline_table(DEPTH)}\n{base}".encode(),
    )
    # structure
    yield treat("plan:zone-as-table", "plan-zone-as-table.toml", "zone")
    yield treat("plan:zone-empty-list", "plan-zone-empty-list.toml", "zone")
    yield treat("plan:no-zone", "plan-no-zone.toml", "zone")
    yield treat("plan:fault-as-table", "plan-fault-as-table.toml", "fault")
    yield treat("plan:cartridge-not-a-table", "plan-cartridge-scalar.toml", "cartridge")
    yield treat("plan:patient-history-string", "plan-patient-history-string.toml", "patient.history")
    # unknown keys (typos), one per table
    yield treat("plan:typo-plan.nmae", "plan-typo-plan.toml", "plan.nmae")
    yield treat("plan:typo-pen.max_depht_mm", "plan-typo-pen.toml", "pen.max_depht_mm")
    yield treat("plan:typo-cartridge.neeldes", "plan-typo-cartridge.toml", "cartridge.neeldes")
    yield treat("plan:typo-zone.frequncy_hz", "plan-typo-zone.toml", "zone.frequncy_hz")
    yield treat("plan:typo-patient.pregnat", "plan-typo-patient.toml", "patient.pregnat")
    yield treat("plan:typo-patient.history.area_name", "plan-typo-history.toml", "patient.history.area_name")
    yield treat("plan:typo-fault.vaule", "plan-typo-fault.toml", "fault.vaule")
    yield treat("plan:typo-table-patinet", "plan-typo-table.toml", "patinet")
    yield treat("plan:typo-array-zones", "plan-typo-zones.toml", "zones")
    yield treat("plan:typo-top-level-seed", "plan-typo-top-level.toml", "seed")
    # missing required keys
    yield treat("plan:missing-cartridge", "plan-missing-cartridge.toml", "cartridge")
    yield treat("plan:missing-cartridge.id", "plan-missing-cartridge-id.toml", "cartridge.id")
    yield treat("plan:missing-cartridge.needles", "plan-missing-cartridge-needles.toml", "cartridge.needles")
    yield treat(
        "plan:missing-cartridge.max_depth_mm", "plan-missing-cartridge-max-depth.toml", "cartridge.max_depth_mm"
    )
    yield treat("plan:missing-zone.area", "plan-missing-zone-area.toml", "zone.area")
    yield treat("plan:missing-zone.frequency_hz", "plan-missing-zone-frequency.toml", "zone.frequency_hz")
    yield treat("plan:missing-zone.area_cm2", "plan-missing-zone-area-cm2.toml", "zone.area_cm2")
    yield treat("plan:missing-zone.speed_mm_s", "plan-missing-zone-speed.toml", "zone.speed_mm_s")
    yield treat("plan:missing-zone-passes-and-duration", "plan-missing-zone-passes.toml", "zone.passes")
    yield treat("plan:missing-patient.age", "plan-missing-patient-age.toml", "patient.age")
    yield treat("plan:missing-patient.fitzpatrick", "plan-missing-patient-fitzpatrick.toml", "patient.fitzpatrick")
    yield treat("plan:missing-plan.start-with-patient", "plan-missing-plan-start.toml", "plan.start")
    yield treat("plan:missing-history.kind", "plan-missing-history-kind.toml", "patient.history.kind")
    yield treat("plan:missing-history.date", "plan-missing-history-date.toml", "patient.history.date")
    yield treat("plan:missing-fault.at_s", "plan-missing-fault-at.toml", "fault.at_s")
    yield treat("plan:missing-fault.kind", "plan-missing-fault-kind.toml", "fault.kind")
    # depth limits
    yield treat("plan:depth-above-cartridge-rating", "plan-depth-above-rating.toml", "zone.depth_mm")
    yield treat("plan:depth-above-rating-with-override", "plan-depth-above-rating-override.toml", "zone.depth_mm")
    yield treat("plan:depth-above-pen-max-with-override", "plan-depth-above-pen-override.toml", "zone.depth_mm")
    yield treat("plan:depth-above-2.5-with-override", "plan-depth-above-2-5-override.toml", "zone.depth_mm")
    yield treat("plan:depth-above-area-max-no-override", "plan-depth-above-area.toml", "zone.depth_mm")
    yield treat("plan:depth-above-zone-max", "plan-depth-above-zone-max.toml", "zone.depth_mm")
    yield treat("plan:depth-above-zone-max-with-override", "plan-depth-above-zone-max-override.toml", "zone.depth_mm")
    yield treat("plan:override-reason-empty", "plan-override-reason-empty.toml", "zone.override_reason")
    yield treat("plan:override-reason-bool", "plan-override-reason-bool.toml", "zone.override_reason")
    # zone strings and lists
    yield treat("plan:zone.area-unknown", "plan-zone-area-unknown.toml", "zone.area")
    yield treat("plan:zone.area-integer", "plan-zone-area-integer.toml", "zone.area")
    yield treat("plan:zone.indication-unknown", "plan-zone-indication-unknown.toml", "zone.indication")
    yield treat("plan:zone.skin-unknown", "plan-zone-skin-unknown.toml", "zone.skin")
    yield treat("plan:density-low-above-high", "plan-density-reversed.toml", "zone.target_density_per_cm2")
    yield treat("plan:density-out-of-range", "plan-density-out-of-range.toml", "zone.target_density_per_cm2")
    yield treat("plan:density-one-element", "plan-density-one.toml", "zone.target_density_per_cm2")
    yield treat("plan:density-string", "plan-density-string.toml", "zone.target_density_per_cm2")
    yield treat("plan:density-nan", "plan-density-nan.toml", "zone.target_density_per_cm2")
    # dates
    yield treat("plan:start-date-only", "plan-start-date-only.toml", "plan.start")
    yield treat("plan:start-with-offset", "plan-start-offset.toml", "plan.start")
    yield treat("plan:start-string", "plan-start-string.toml", "plan.start")
    yield treat("plan:start-year-1", "plan-start-year-1.toml", "plan.start")
    yield treat("plan:start-year-9999", "plan-start-year-9999.toml", "plan.start")
    yield treat("plan:anaesthetic-after-start", "plan-anaesthetic-after-start.toml", "patient.anaesthetic_applied")
    yield treat("plan:history-date-after-start", "plan-history-after-start.toml", "patient.history.date")
    yield treat("plan:history-date-string", "plan-history-date-string.toml", "patient.history.date")
    # patient data
    yield treat("plan:patient.id-65-chars", "plan-patient-id-long.toml", "patient.id")
    yield treat("plan:patient.id-integer", "plan-patient-id-integer.toml", "patient.id")
    yield treat("plan:patient.pregnant-string", "plan-patient-pregnant-string.toml", "patient.pregnant")
    yield treat(
        "plan:patient.breastfeeding-integer", "plan-patient-breastfeeding-integer.toml", "patient.breastfeeding"
    )
    yield treat("plan:patient.conditions-string", "plan-patient-conditions-string.toml", "patient.conditions")
    yield treat("plan:patient.conditions-unknown", "plan-patient-conditions-unknown.toml", "patient.conditions")
    yield treat("plan:patient.conditions-integer", "plan-patient-conditions-integer.toml", "patient.conditions")
    yield treat("plan:history.kind-unknown", "plan-history-kind-unknown.toml", "patient.history.kind")
    yield treat("plan:history.area-unknown", "plan-history-area-unknown.toml", "patient.history.area")
    # faults
    yield treat("plan:fault.kind-unknown", "plan-fault-kind-unknown.toml", "fault.kind")
    yield treat("plan:fault.kind-integer", "plan-fault-kind-integer.toml", "fault.kind")
    yield treat("plan:fault.kind-empty", "plan-fault-kind-empty.toml", "fault.kind")
    yield treat("plan:fault-cartridge_swap-value--1", "plan-fault-swap-negative.toml", "fault.value")
    yield treat("plan:fault-cartridge_swap-value-1.5", "plan-fault-swap-fraction.toml", "fault.value")
    yield treat("plan:fault-cartridge_swap-value-2^32", "plan-fault-swap-too-big.toml", "fault.value")
    yield treat("plan:fault-battery_drain-value-7", "plan-fault-drain-7.toml", "fault.value")
    yield treat("plan:fault-battery_drain-value--0.5", "plan-fault-drain-negative.toml", "fault.value")
    yield treat("plan:fault-motor_overheat-negative-watts", "plan-fault-overheat-negative.toml", "fault.value")
    yield treat("plan:fault.at_s-1e306", "plan-fault-at-1e306.toml", "fault.at_s")


def settings_file(
    case_id: str, file: str, *keys: str, generated: bytes | None = None, absent: bool = False
) -> Iterator[Case]:
    """A malformed settings file, given to `settings load --dry-run` and to `settings diff`.

    The file comes from the corpus, or is `generated`, or (`absent`) does not exist.
    """
    gen: tuple[tuple[str, bytes], ...] = () if generated is None else ((file, generated),)
    files: tuple[str, ...] = (file,) if generated is None and not absent else ()
    for command in (("load", file, "--dry-run"), ("diff", file)):
        yield Case(
            f"settings-{command[0]}:{case_id}",
            ("settings", *command, "--port", "loop://"),
            files=files,
            generated=gen,
            names=(file,),
            keys=keys,
        )


def settings_file_cases() -> Iterator[Case]:
    yield from settings_file("invalid-toml", "settings-invalid.toml")
    yield from settings_file("toml-duplicate-key", "settings-toml-duplicate-key.toml")
    yield from settings_file("invalid-json-trailing-comma", "settings-trailing-comma.json")
    yield from settings_file("invalid-json-truncated", "settings-truncated.json")
    yield from settings_file("empty-json", "settings-empty.json")
    yield from settings_file("not-utf8", "settings-latin1.toml")
    yield from settings_file("json-top-level-array", "settings-array.json")
    yield from settings_file("json-NaN", "settings-nan.json", "depth.max_mm")
    yield from settings_file("json-Infinity", "settings-infinity.json", "depth.max_mm")
    yield from settings_file("json-key-twice", "settings-duplicate-key.json", "depth.max_mm")
    yield from settings_file("json-dotted-and-nested", "settings-dotted-and-nested.json", "depth")
    yield from settings_file("toml-dotted-and-table", "settings-dotted-and-table.toml", "depth.max_mm")
    yield from settings_file("unknown-key", "settings-unknown-key.toml", "depth.max_mn")
    yield from settings_file("unknown-group", "settings-unknown-group.toml", "dpeth.max_mm")
    yield from settings_file("unknown-key-json", "settings-unknown-key.json", "depth.max_mn")
    yield from settings_file("unknown-top-level-key", "settings-unknown-top-level.toml", "scheme")
    yield from settings_file("settings-not-a-table", "settings-not-a-table.toml", "settings")
    yield from settings_file("value-is-a-table", "settings-value-table.toml", "depth.max_mm")
    yield from settings_file("above-range", "settings-above-range.toml", "depth.max_mm")
    yield from settings_file("int-below-range", "settings-int-below-range.toml", "session.max_minutes")
    yield from settings_file("cartridge.max_uses-2", "settings-max-uses.toml", "cartridge.max_uses")
    yield from settings_file("negative", "settings-negative.toml", "depth.step_mm")
    yield from settings_file("string-for-float", "settings-string.toml", "depth.max_mm")
    yield from settings_file("bool-for-float", "settings-bool.toml", "depth.max_mm")
    yield from settings_file("float-for-int", "settings-float-for-int.toml", "session.max_minutes")
    yield from settings_file("bool-for-int-json", "settings-bool-for-int.json", "session.max_minutes")
    yield from settings_file("int-for-string", "settings-serial-integer.toml", "pen.serial_number")
    yield from settings_file("string-too-short", "settings-serial-short.toml", "pen.serial_number")
    yield from settings_file("nan", "settings-nan.toml", "depth.max_mm")
    yield from settings_file("inf", "settings-inf.toml", "depth.max_mm")
    yield from settings_file("400-digit-int", "settings-digits400-int.toml", "session.max_minutes")
    yield from settings_file("400-digit-for-float", "settings-digits400-float.toml", "depth.max_mm")
    yield from settings_file("400-digit-json", "settings-digits400.json", "session.max_minutes")
    yield from settings_file("rule-min-above-max", "settings-rule-frequency.toml", "frequency.min_hz")
    yield from settings_file("schema-1", "settings-schema-1.toml", "schema")
    yield from settings_file("schema-3-json", "settings-schema-3.json", "schema")
    yield from settings_file("schema-string", "settings-schema-string.toml", "schema")
    yield from settings_file("schema-400-digit", "settings-schema-digits400.toml", "schema")
    yield from settings_file(
        "5000-digit-json",
        "settings-digits5000.json",
        generated=f'{{"schema": 2, "settings": {{"session.max_minutes": {DIGITS_5000}}}}}\n'.encode(),
    )
    yield from settings_file(
        "5000-digit-toml",
        "settings-digits5000.toml",
        generated=f"schema = 2\n\n[settings.session]\nmax_minutes = {DIGITS_5000}\n".encode(),
    )
    yield from settings_file(
        "deep-json-3000",
        "settings-deep.json",
        generated=f'{{"schema": 2, "settings": {{"depth.max_mm": {deep_array(DEPTH)}}}}}\n'.encode(),
    )
    yield from settings_file(
        "deep-toml-3000",
        "settings-deep.toml",
        generated=f"schema = 2\n\n[settings.depth]\nmax_mm = {deep_array(DEPTH)}\n".encode(),
    )
    yield from settings_file("missing-file", "no-such-settings.toml", absent=True)


def settings_set(case_id: str, *assignments: str, key: str) -> Case:
    return Case(f"settings-set:{case_id}", ("settings", "set", *assignments, "--port", "loop://"), keys=(key,))


def settings_cli_cases() -> Iterator[Case]:
    yield settings_set("unknown-key", "depth.max_mn=1.0", key="depth.max_mn")
    yield settings_set("above-range", "depth.max_mm=9", key="depth.max_mm")
    yield settings_set("negative", "depth.max_mm=-1", key="depth.max_mm")
    yield settings_set("400-digit-int", f"session.max_minutes={DIGITS_400}", key="session.max_minutes")
    yield settings_set("400-digit-float", f"depth.max_mm={DIGITS_400}", key="depth.max_mm")
    yield settings_set("5000-digit-int", f"session.max_minutes={DIGITS_5000}", key="session.max_minutes")
    yield settings_set("nan", "depth.max_mm=nan", key="depth.max_mm")
    yield settings_set("inf", "depth.max_mm=inf", key="depth.max_mm")
    yield settings_set("float-for-int", "session.max_minutes=30.5", key="session.max_minutes")
    yield settings_set("word-for-int", "session.max_minutes=abc", key="session.max_minutes")
    yield settings_set("no-equals", "depth.max_mm", key="depth.max_mm")
    yield settings_set("empty-value", "depth.max_mm=", key="depth.max_mm")
    yield settings_set("key-twice", "depth.max_mm=1.0", "depth.max_mm=2.0", key="depth.max_mm")
    yield settings_set("rule-min-above-max", "frequency.min_hz=100", "frequency.max_hz=50", key="frequency.min_hz")
    yield settings_set("string-too-short", "pen.serial_number=A", key="pen.serial_number")
    yield settings_set("cartridge.max_uses-2", "cartridge.max_uses=2", key="cartridge.max_uses")
    yield Case("settings-set:empty-key", ("settings", "set", "=2.0", "--port", "loop://"), names=("=2.0",))
    yield Case("settings-get:nosuchkey", ("settings", "get", "nosuchkey", "--port", "loop://"), keys=("nosuchkey",))
    yield Case(
        "settings-get:known-and-unknown",
        ("settings", "get", "depth.max_mm", "nosuchkey", "--port", "loop://"),
        keys=("nosuchkey",),
    )


def argument(case_id: str, *args: str, name: str, timeout_s: float = TIMEOUT_S) -> Case:
    return Case(case_id, args, names=(name,), timeout_s=timeout_s)


def treat_argument(case_id: str, *args: str, name: str) -> Case:
    """`penctl treat` of the valid base plan with one bad argument (no --out given: `out` is added)."""
    full = ("treat", BASE_PLAN, *args) if "--out" in args else ("treat", BASE_PLAN, "--out", "out", *args)
    out_dir = args[args.index("--out") + 1] if "--out" in args else "out"
    return Case(case_id, full, files=(BASE_PLAN,), names=(name,), out_dir=out_dir)


def argument_cases() -> Iterator[Case]:
    yield treat_argument("treat:--seed=-1", "--seed", "-1", name="--seed")
    yield treat_argument("treat:--seed=2^63", "--seed", "9223372036854775808", name="--seed")
    yield treat_argument("treat:--seed=400-digits", "--seed", DIGITS_400, name="--seed")
    yield treat_argument("treat:--seed=5000-digits", "--seed", DIGITS_5000, name="--seed")
    yield treat_argument("treat:--seed=abc", "--seed", "abc", name="--seed")
    yield treat_argument("treat:--seed=1.5", "--seed", "1.5", name="--seed")
    yield treat_argument("treat:--seed=empty", "--seed", "", name="--seed")
    yield Case(
        "treat:--out-under-a-regular-file",
        ("treat", BASE_PLAN, "--out", "afile/out"),
        files=(BASE_PLAN,),
        generated=(("afile", b"a regular file\n"),),
        names=("--out",),
        out_dir="afile/out",
    )
    yield Case(
        "treat:--out-is-a-regular-file",
        ("treat", BASE_PLAN, "--out", "afile"),
        files=(BASE_PLAN,),
        generated=(("afile", b"a regular file\n"),),
        names=("--out",),
    )
    yield treat_argument("treat:--out-under-/proc", "--out", "/proc/penctl-malformed/out", name="--out")
    yield Case("treat:plan-missing", ("treat", "no-such-plan.toml", "--out", "out"), names=("no-such-plan.toml",))
    yield Case(
        "treat:plan-is-a-directory",
        ("treat", "plandir", "--out", "out"),
        dirs=("plandir",),
        names=("plandir",),
        out_dir="out",
    )
    yield treat_argument("treat:unknown-option", "--sede", "1", name="--sede")
    yield argument("course:--sessions=0", "course", "--sessions", "0", "--start", "2026-01-05", name="--sessions")
    yield argument("course:--sessions=-1", "course", "--sessions", "-1", "--start", "2026-01-05", name="--sessions")
    yield argument("course:--sessions=13", "course", "--sessions", "13", "--start", "2026-01-05", name="--sessions")
    yield argument("course:--sessions=abc", "course", "--sessions", "abc", "--start", "2026-01-05", name="--sessions")
    yield argument(
        "course:--sessions=400-digits", "course", "--sessions", DIGITS_400, "--start", "2026-01-05", name="--sessions"
    )
    yield argument("course:--start=9999-12-01", "course", "--sessions", "3", "--start", "9999-12-01", name="--start")
    yield argument("course:--start=notadate", "course", "--sessions", "3", "--start", "notadate", name="--start")
    yield argument("course:--start=2026-02-30", "course", "--sessions", "3", "--start", "2026-02-30", name="--start")
    yield argument("course:--start-missing", "course", "--sessions", "3", name="--start")
    for weeks in ("7-2", "0-0", "a-b", "4-", f"4-{DIGITS_400}"):
        label = "4-400-digits" if weeks.startswith("4-1") else weeks
        yield argument(
            f"course:--interval-weeks={label}",
            "course",
            "--sessions",
            "3",
            "--start",
            "2026-01-05",
            "--interval-weeks",
            weeks,
            name="--interval-weeks",
        )
    for value in ("-1", "nan", "inf", "abc"):
        yield argument(f"bench:--seconds={value}", "bench", "--seconds", value, name="--seconds")
    for value in ("0", "-5", DIGITS_400):
        label = "400-digits" if value == DIGITS_400 else value
        yield argument(f"bench:--rate={label}", "bench", "--rate", value, name="--rate")
    for value in ("99999", "-1", "abc"):
        yield argument(f"serve:--tcp={value}", "serve", "--tcp", value, name="--tcp", timeout_s=SERVE_TIMEOUT_S)
    yield argument(
        "serve:--tcp=port-in-use", "serve", "--tcp", PORT_PLACEHOLDER, name="--tcp", timeout_s=SERVE_TIMEOUT_S
    )
    yield argument(
        "serve:--service-key-file-missing",
        "serve",
        "--tcp",
        "0",
        "--service-key-file",
        "no-such.key",
        name="no-such.key",
        timeout_s=SERVE_TIMEOUT_S,
    )
    yield argument(
        "service:unlock-key-file-missing",
        "service",
        "unlock",
        "--key-file",
        "no-such.key",
        "--port",
        "loop://",
        name="no-such.key",
    )
    yield argument("cli:unknown-command", "frobnicate", name="frobnicate")
    yield argument("cli:misspelt-command", "treet", name="treet")
    yield argument("cli:unknown-settings-action", "settings", "frobnicate", name="frobnicate")
    yield argument("cli:unknown-service-action", "service", "frobnicate", name="frobnicate")


ALL_CASES: tuple[Case, ...] = (*plan_cases(), *settings_file_cases(), *settings_cli_cases(), *argument_cases())


# --------------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: timed out (the input was accepted and the command kept running)
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]
    out_dir_exists: bool


def penctl_command() -> list[str]:
    script = Path(sys.executable).parent / "penctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "controller.cli"]


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` with a digest of its content ("dir" for directories)."""
    result: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            result[rel] = "dir"
        else:
            result[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def run_case(case: Case, workdir: Path, bound_port: int) -> Outcome:
    for name in case.files:
        shutil.copyfile(CORPUS / name, workdir / name)
    for name, content in case.generated:
        (workdir / name).write_bytes(content)
    for name in case.dirs:
        (workdir / name).mkdir()
    before = snapshot(workdir)
    args = [a.replace(PORT_PLACEHOLDER, str(bound_port)) for a in case.args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [*penctl_command(), *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    returncode: int | None
    try:
        out, err = proc.communicate(timeout=case.timeout_s)
        returncode = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        returncode = None
    out_dir_exists = case.out_dir is not None and (workdir / case.out_dir).exists()
    return Outcome(
        returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        before,
        snapshot(workdir),
        out_dir_exists,
    )


class Runner:
    """Runs cases in a small thread pool, each in a fresh directory, and hands out their outcomes."""

    def __init__(self, factory: pytest.TempPathFactory, bound_port: int) -> None:
        self._factory = factory
        self._port = bound_port
        self._pool = ThreadPoolExecutor(max_workers=max(2, min(4, (os.cpu_count() or 2))))
        self._futures: dict[str, Future[Outcome]] = {}

    def submit(self, case: Case) -> Future[Outcome]:
        if case.id not in self._futures:
            workdir = self._factory.mktemp(re.sub(r"[^A-Za-z0-9_.=-]+", "_", case.id)[:60])
            self._futures[case.id] = self._pool.submit(run_case, case, workdir, self._port)
        return self._futures[case.id]

    def outcome(self, case: Case) -> Outcome:
        return self.submit(case).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def bound_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that is bound and listening for the whole module."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def runner(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, bound_port: int
) -> Iterator[Runner]:
    run = Runner(tmp_path_factory, bound_port)
    for item in request.session.items:  # start every selected case now; each test then waits for its own
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case") if callspec is not None else None
        if isinstance(case, Case):
            run.submit(case)
    yield run
    run.close()


def key_pattern(key: str) -> re.Pattern[str]:
    """`a.b.c` matches a line naming a, then b, then c as whole words (`a[1].b (x): c`)."""
    parts = [rf"(?<![A-Za-z0-9_]){re.escape(p)}(?![A-Za-z0-9_])" for p in key.split(".")]
    return re.compile(".*?".join(parts))


def last_traceback_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def summary(outcome: Outcome) -> str:
    if "Traceback" in outcome.stderr or "Traceback" in outcome.stdout:
        return "traceback: " + last_traceback_line(outcome.stderr or outcome.stdout)
    lines = [line for line in outcome.stderr.splitlines() if line.strip() and not line.startswith(("usage:", " "))]
    first = lines[0] if lines else (outcome.stdout.splitlines() or [""])[0]
    return "stderr: " + first.strip()[:200]


def problems(case: Case, outcome: Outcome) -> list[str]:
    found: list[str] = []
    if outcome.returncode is None:
        found.append(f"still running after {case.timeout_s:.0f} s (the input was accepted)")
    elif outcome.returncode != 2:
        found.append(f"exit {outcome.returncode}, expected 2")
    both = outcome.stdout + outcome.stderr
    if "Traceback" in both:
        found.append("Python traceback")
    missing_names = [n for n in case.names if n not in outcome.stderr]
    if missing_names:
        found.append(f"stderr does not name {missing_names}")
    lines = outcome.stderr.splitlines()
    missing_keys = [k for k in case.keys if not any(key_pattern(k).search(line) for line in lines)]
    if missing_keys:
        found.append(f"stderr does not name key {missing_keys}")
    if "expected" not in both.lower():
        found.append("does not say what was expected")
    if outcome.out_dir_exists:
        found.append(f"{case.out_dir}/ was created")
    if outcome.after != outcome.before:
        changed = sorted(set(outcome.after) ^ set(outcome.before)) or [
            k for k in outcome.after if outcome.after[k] != outcome.before.get(k)
        ]
        found.append(f"wrote {changed[:5]}")
    return found


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_malformed_input_is_refused_cleanly(case: Case, runner: Runner) -> None:
    outcome = runner.outcome(case)
    found = problems(case, outcome)
    assert not found, f"{'; '.join(found)} | {summary(outcome)}"


# --------------------------------------------------------------------------------------------------
# The corpus itself


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in ALL_CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(ids) >= 60


def test_every_corpus_file_is_used_and_every_case_file_exists() -> None:
    used = {name for case in ALL_CASES for name in case.files} | {BASE_PLAN, VALID_SETTINGS}
    present = {p.name for p in CORPUS.iterdir() if p.is_file()}
    assert sorted(used - present) == [], "cases refer to missing corpus files"
    assert sorted(present - used) == [], "corpus files no case uses"
    assert all((CORPUS / name).stat().st_size < 16_384 for name in present), "keep committed corpus files small"


def test_the_base_plan_is_valid(tmp_path: Path) -> None:
    """Control: the plan every malformed plan is derived from runs (50 strokes), so each case isolates its change."""
    shutil.copyfile(CORPUS / BASE_PLAN, tmp_path / BASE_PLAN)
    proc = subprocess.run(
        [*penctl_command(), "treat", BASE_PLAN, "--out", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode in (0, 5), proc.stderr[-2000:]  # 50 strokes are too few for the density band
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["verdict"]["pen_outcome"] == "completed"


def test_a_valid_settings_file_gets_past_the_checks(tmp_path: Path) -> None:
    """Control: a valid file does reach `loop://` (which echoes, so the link fails: exit 1, not 2).

    So exit 2 for a malformed settings file means it was refused before the port was used.
    """
    shutil.copyfile(CORPUS / VALID_SETTINGS, tmp_path / VALID_SETTINGS)
    proc = subprocess.run(
        [*penctl_command(), "settings", "load", VALID_SETTINGS, "--dry-run", "--port", "loop://"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
