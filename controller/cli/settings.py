"""``penctl settings``: read and flash a pen's settings, all or nothing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from controller.cli.common import EXIT_FAULT, EXIT_OK, Parser, add_json, add_port, described, unlock
from controller.host.numbers import plain
from controller.host.table_reader import did_you_mean, shown
from hal.errors import InputError

ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "list": (
        "list every setting (with --port or $PENCTL_PORT: and its value on the pen)",
        ("penctl settings list", "penctl settings list --port /dev/pts/3 --json"),
    ),
    "get": (
        "print settings from the pen",
        (
            "penctl settings get depth.max_mm --port /dev/pts/3",
            "PENCTL_PORT=/dev/pts/3 penctl settings get depth.max_mm alarm.volume --json",
        ),
    ),
    "set": (
        "change settings on the pen (all or nothing)",
        ("penctl settings set depth.max_mm=2.0 alarm.volume=3 --port /dev/pts/3",),
    ),
    "dump": (
        "print every setting in a form `load` accepts (TOML; JSON with --json)",
        ("penctl settings dump --port /dev/pts/3 > pen.toml", "penctl settings dump --json --port /dev/pts/3"),
    ),
    "load": (
        "flash a settings file (all or nothing)",
        (
            "penctl settings load pen.toml --dry-run --port /dev/pts/3",
            "penctl settings load pen.toml --port /dev/pts/3",
        ),
    ),
    "diff": (
        "show how a settings file differs from the pen (exit 1 when it differs, 0 when not, as diff(1))",
        ("penctl settings diff pen.toml --port /dev/pts/3",),
    ),
    "reset": (
        "restore factory defaults (factory-set values such as the serial number stay)",
        ("penctl settings reset --factory --port /dev/pts/3",),
    ),
    "alarms": (
        "show (and with --clear acknowledge) the pen's alarms",
        ("penctl settings alarms --port /dev/pts/3", "penctl settings alarms --clear --port /dev/pts/3"),
    ),
}


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    settings = commands.add_parser(
        "settings",
        help="read and flash pen settings",
        **described(
            "Read and flash pen settings (docs/settings.md). --port defaults to $PENCTL_PORT.",
            *(example for _, examples in ACTIONS.values() for example in examples[:1]),
        ),
    )
    actions = settings.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    subs = {name: _action(actions, name, text, examples) for name, (text, examples) in ACTIONS.items()}
    subs["get"].add_argument("keys", nargs="+", metavar="KEY", help="a setting's key (see `penctl settings list`)")
    subs["set"].add_argument("assignments", nargs="+", metavar="KEY=VALUE", help="a setting and its new value")
    subs["dump"].add_argument("--format", choices=("toml", "json"), default="toml", help=argparse.SUPPRESS)
    subs["load"].add_argument("file", metavar="FILE", help="a settings file (TOML from `dump`, or .json)")
    subs["load"].add_argument("--dry-run", action="store_true", help="check the file and show what would change")
    subs["diff"].add_argument("file", metavar="FILE", help="a settings file (TOML from `dump`, or .json)")
    subs["reset"].add_argument("--factory", action="store_true", required=True, help="required: say it is meant")
    subs["alarms"].add_argument("--clear", action="store_true", help="acknowledge every alarm shown")
    for name in ("list", "get", "set", "dump", "load", "diff", "alarms"):
        add_json(subs[name])
    settings.set_defaults(handler=cmd_settings)


def _action(actions: Any, name: str, help_text: str, examples: tuple[str, ...]) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = actions.add_parser(name, help=help_text, **described(help_text, *examples))
    add_port(sub, required=name != "list")
    sub.add_argument(
        "--key-file",
        metavar="FILE",
        help="unlock service settings first, on this same connection (an unlock ends with the connection)",
    )
    sub.add_argument("--level", choices=("service", "factory"), default="service", help="unlock level")
    return sub


def cmd_settings(args: argparse.Namespace) -> int:
    from hal.backend import SettingsPort
    from hal.registry import open_backend
    from hal.service_auth import read_key_file

    if getattr(args, "format", "toml") == "json":
        print("penctl settings dump: --format json is deprecated; use --json", file=sys.stderr)
        args.json = True
    if args.action == "list" and not args.port:
        print(_settings_json(None) if args.json else _settings_table(None))
        return EXIT_OK
    changes = _checked_input(args)  # everything the user typed, before the port is opened
    key = read_key_file(args.key_file) if args.key_file else None
    pen = open_backend("serial", url=args.port)
    try:
        assert isinstance(pen, SettingsPort)
        if key is not None:
            unlock(pen, key, args.level)
        action = "diff" if args.action == "load" and args.dry_run else args.action
        code = ON_PEN[action](args, pen, changes)
    finally:
        pen.close()
    return code or EXIT_OK


def _checked_input(args: argparse.Namespace) -> dict[str, Any]:
    """The keys of ``get``, the assignments of ``set``, the file of ``load``/``diff``: checked, or InputError."""
    from controller.host import settings_flash as svc
    from hal.settings import BY_KEY, SETTINGS

    if args.action == "get":
        unknown = [k for k in args.keys if k not in BY_KEY]
        if unknown:
            hint = did_you_mean(unknown[0], list(BY_KEY))
            raise InputError("KEY", unknown[0], f"a known setting (see `penctl settings list`){hint}")
    if args.action == "set":
        changes = _assignments(args.assignments)
        svc.check_rules_among(changes, "KEY=VALUE")
        return changes
    if args.action in ("load", "diff"):
        changes = svc.read_settings_file(args.file)
        if len(changes) == len(SETTINGS):
            svc.check_block({}, changes, args.file)
        return changes
    return {}


def _assignments(texts: list[str]) -> dict[str, Any]:
    from hal.settings import BY_KEY

    changes: dict[str, Any] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        setting = BY_KEY.get(key.strip())
        if not sep or setting is None:
            hint = did_you_mean(key.strip(), list(BY_KEY))
            raise InputError(text, "", f"KEY=VALUE with a known setting (see `penctl settings list`){hint}")
        if setting.key in changes:
            raise InputError(text, setting.key, "each setting once (it is given twice)")
        try:
            changes[setting.key] = setting.parse(value)
        except ValueError as exc:
            raise InputError(text, setting.key, str(exc), shown(value)) from None
    return changes


def _list(args: argparse.Namespace, pen: Any, _changes: dict[str, Any]) -> None:
    values = pen.read_settings()
    print(_settings_json(values) if args.json else _settings_table(values))


def _get(args: argparse.Namespace, pen: Any, _changes: dict[str, Any]) -> None:
    values = pen.read_settings()
    if args.json:
        print(json.dumps({key: values[key] for key in args.keys}, indent=2))
        return
    for key in args.keys:
        print(f"{key} = {_show(values[key])}")


def _dump(args: argparse.Namespace, pen: Any, _changes: dict[str, Any]) -> None:
    from controller.host import settings_flash as svc

    values = pen.read_settings()
    if args.json:
        print(svc.dump_json(values), end="")
        return
    ident = pen.identify()
    header = f"settings of pen {ident.serial_number} ({ident.model}, firmware {ident.firmware_version})"
    print(svc.dump_toml(values, header), end="")


def _diff(args: argparse.Namespace, pen: Any, changes: dict[str, Any]) -> int:
    """What the file would change; ``settings diff`` exits 1 when the settings differ, as diff(1) does."""
    from controller.host import settings_flash as svc

    current = pen.read_settings()
    svc.check_block(current, changes, args.file)
    delta = svc.diff(current, changes)
    if args.json:
        print(json.dumps({k: {"pen": now, "file": wanted} for k, (now, wanted) in delta.items()}, indent=2))
    else:
        for key, (now, wanted) in delta.items():
            print(f"{key}: {_show(now)} -> {_show(wanted)}")
        dry = " (dry run: nothing written)" if args.action == "load" else ""
        print(f"{len(delta)} setting(s) differ{dry}")
    return EXIT_FAULT if delta and args.action == "diff" else EXIT_OK


def _flash(args: argparse.Namespace, pen: Any, changes: dict[str, Any]) -> None:
    from controller.host import settings_flash as svc

    read_back = svc.flash(pen, changes).read_back
    if args.json:
        print(json.dumps({"verified": {key: read_back[key] for key in changes}}, indent=2))
        return
    for key in changes:
        print(f"{key} = {_show(read_back[key])}")
    print(f"{len(changes)} setting(s) written in one block, committed and verified")


def _load(args: argparse.Namespace, pen: Any, changes: dict[str, Any]) -> None:
    """Flash only the keys whose values differ from the pen's (every key written needs its access level), and
    say what changed: each key with its old and new value, or that the pen already holds the file."""
    from controller.host import settings_flash as svc

    current = pen.read_settings()
    svc.check_block(current, changes, args.file)
    delta = svc.diff(current, changes)
    if not delta:
        print(json.dumps({"changed": {}}, indent=2) if args.json else "0 settings changed: the pen already holds them")
        return
    read_back = svc.flash(pen, {key: wanted for key, (_now, wanted) in delta.items()}).read_back
    if args.json:
        changed = {key: {"was": now, "now": read_back[key]} for key, (now, _) in delta.items()}
        print(json.dumps({"changed": changed}, indent=2))
        return
    for key, (now, _wanted) in delta.items():
        print(f"{key}: {_show(now)} -> {_show(read_back[key])}")
    print(f"{len(delta)} setting(s) changed, written in one block, committed and verified")


def _reset(_args: argparse.Namespace, pen: Any, _changes: dict[str, Any]) -> None:
    pen.stage_factory_reset()
    pen.commit_settings()
    print("factory defaults restored (factory-set values kept)")


def _alarms(args: argparse.Namespace, pen: Any, _changes: dict[str, Any]) -> None:
    from hal.protocol import ALARM_TEXT, Alarm

    texts = {code: ALARM_TEXT.get(Alarm(code), "unknown alarm") for code in pen.read_alarms()}
    if args.clear:
        for code in texts:
            pen.clear_alarm(code)
    if args.json:
        cleared = {"cleared": True} if args.clear else {}
        entries = [{"code": code, "text": text} | cleared for code, text in texts.items()]
        print(json.dumps(entries, indent=2))
        return
    if not texts:
        print("no alarms" + (": nothing to clear" if args.clear else ""))
    for code, text in texts.items():
        print(f"{'cleared ' if args.clear else ''}alarm {code}: {text}")
    if args.clear and texts:
        print(f"{len(texts)} alarm(s) cleared")


ON_PEN = {
    "list": _list,
    "get": _get,
    "dump": _dump,
    "diff": _diff,
    "set": _flash,
    "load": _load,
    "reset": _reset,
    "alarms": _alarms,
}


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _settings_json(values: dict[str, Any] | None) -> str:
    from hal.settings import SETTINGS

    rows = [
        {
            "key": s.key,
            **({"value": values[s.key]} if values else {}),
            "default": s.default,
            "unit": s.unit,
            "kind": s.kind,
            "low": s.low,
            "high": s.high,
            "access": s.access,
        }
        for s in SETTINGS
    ]
    return json.dumps(rows, indent=2)


def _span(low: float, high: float, unit: str = "") -> str:
    """A range as "LOW to HIGH": never "-0.2-0.2", never "-0"."""
    return f"{plain(low)} to {plain(high)}{unit}"


def _settings_table(values: dict[str, Any] | None) -> str:
    from hal.settings import SETTINGS

    head = (
        ["key", "value", "default", "unit", "range", "access"]
        if values
        else ["key", "default", "unit", "range", "access"]
    )
    rows: list[list[str]] = [head]
    for s in SETTINGS:
        span = _span(s.low, s.high) if s.kind != "bool" else "true/false"
        if s.kind == "str":
            span = _span(s.low, s.high, " chars")
        current = [_show(values[s.key])] if values else []
        rows.append([s.key, *current, _show(s.default), s.unit, span, s.access])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
