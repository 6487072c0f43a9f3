"""``penctl settings``: read and flash a pen's settings, all or nothing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from controller.cli.common import EXIT_OK, Parser, add_json, add_port, described, plain, unlock
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
    "diff": ("show how a settings file differs from the pen", ("penctl settings diff pen.toml --port /dev/pts/3",)),
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
    for name in ("list", "get", "dump", "diff", "alarms"):
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
    from controller.host import settings_flash as svc
    from hal.backend import SettingsPort
    from hal.protocol import ALARM_TEXT, Alarm
    from hal.registry import open_backend
    from hal.service_auth import read_key_file
    from hal.settings import BY_KEY, SETTINGS

    if getattr(args, "format", "toml") == "json":
        print("penctl settings dump: --format json is deprecated; use --json", file=sys.stderr)
        args.json = True
    if args.action == "list" and not args.port:
        print(_settings_json(None) if args.json else _settings_table(None))
        return EXIT_OK
    # Check everything the user typed before the port is opened.
    if args.action == "get":
        unknown = [k for k in args.keys if k not in BY_KEY]
        if unknown:
            hint = did_you_mean(unknown[0], list(BY_KEY))
            raise InputError("KEY", unknown[0], f"a known setting (see `penctl settings list`){hint}")
    changes: dict[str, Any] = {}
    if args.action == "set":
        for text in args.assignments:
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
        svc.check_rules_among(changes, "KEY=VALUE")
    if args.action in ("load", "diff"):
        changes = svc.read_settings_file(args.file)
        if len(changes) == len(SETTINGS):
            svc.check_block({}, changes, args.file)

    key = read_key_file(args.key_file) if args.key_file else None
    pen = open_backend("serial", url=args.port)
    try:
        assert isinstance(pen, SettingsPort)
        if key is not None:
            unlock(pen, key, args.level)
        if args.action == "list":
            values = pen.read_settings()
            print(_settings_json(values) if args.json else _settings_table(values))
        elif args.action == "get":
            values = pen.read_settings()
            if args.json:
                print(json.dumps({key: values[key] for key in args.keys}, indent=2))
            for key in [] if args.json else args.keys:
                print(f"{key} = {_show(values[key])}")
        elif args.action == "dump":
            values = pen.read_settings()
            ident = pen.identify()
            print(
                svc.dump_json(values)
                if args.json
                else svc.dump_toml(
                    values, f"settings of pen {ident.serial_number} ({ident.model}, firmware {ident.firmware_version})"
                ),
                end="",
            )
        elif args.action == "diff" or (args.action == "load" and args.dry_run):
            current = pen.read_settings()
            svc.check_block(current, changes, args.file)
            delta = svc.diff(current, changes)
            if getattr(args, "json", False):
                print(json.dumps({k: {"pen": now, "file": wanted} for k, (now, wanted) in delta.items()}, indent=2))
            else:
                for key, (now, wanted) in delta.items():
                    print(f"{key}: {_show(now)} -> {_show(wanted)}")
                dry = " (dry run: nothing written)" if args.action == "load" else ""
                print(f"{len(delta)} setting(s) differ{dry}")
        elif args.action in ("set", "load"):
            result = svc.flash(pen, changes)
            for key in changes:
                print(f"{key} = {_show(result.read_back[key])}")
            print(f"{len(changes)} setting(s) written in one block, committed and verified")
        elif args.action == "reset":
            pen.stage_factory_reset()
            pen.commit_settings()
            print("factory defaults restored (factory-set values kept)")
        elif args.action == "alarms":
            codes = pen.read_alarms()
            texts = {code: ALARM_TEXT.get(Alarm(code), "unknown alarm") for code in codes}
            if args.json:
                print(json.dumps([{"code": code, "text": text} for code, text in texts.items()], indent=2))
            for code, text in texts.items():
                if not args.json:
                    print(f"alarm {code}: {text}")
                if args.clear:
                    pen.clear_alarm(code)
            if not codes and not args.json:
                print("no alarms")
    finally:
        pen.close()
    return EXIT_OK


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
