"""``penctl settings``: read and flash a pen's settings, all or nothing."""

from __future__ import annotations

import argparse
import difflib
from typing import Any

from controller.cli.common import EXIT_OK, Parser, unlock
from controller.host.table_reader import shown
from hal.errors import InputError


def register(commands: Any) -> None:
    """Add the subcommand to ``penctl``."""
    settings = commands.add_parser(
        "settings", help="read and flash pen settings", description="Read and flash pen settings (docs/settings.md)."
    )
    actions = settings.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)

    def action(name: str, help_text: str, port_required: bool = True) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--port",
            metavar="URL",
            required=port_required,
            help="the pen's port: device path, pty path, socket://host:port or loop://",
        )
        sub.add_argument(
            "--key-file",
            metavar="FILE",
            help="unlock service settings first, on this same connection (an unlock ends with the connection)",
        )
        sub.add_argument("--level", choices=("service", "factory"), default="service", help="unlock level")
        return sub

    action("list", "list every setting (with --port: and its value on the pen)", port_required=False)
    get = action("get", "print settings from the pen")
    get.add_argument("keys", nargs="+", metavar="KEY")
    set_ = action("set", "change settings on the pen (all or nothing)")
    set_.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    dump = action("dump", "print every setting in a form `load` accepts")
    dump.add_argument("--format", choices=("toml", "json"), default="toml")
    load = action("load", "flash a settings file (all or nothing)")
    load.add_argument("file", metavar="FILE")
    load.add_argument("--dry-run", action="store_true", help="check the file and show what would change")
    diff = action("diff", "show how a settings file differs from the pen")
    diff.add_argument("file", metavar="FILE")
    reset = action("reset", "restore factory defaults (factory-set values such as the serial number stay)")
    reset.add_argument("--factory", action="store_true", required=True)
    alarms = action("alarms", "show (and with --clear acknowledge) the pen's alarms")
    alarms.add_argument("--clear", action="store_true")
    settings.set_defaults(handler=cmd_settings)


def cmd_settings(args: argparse.Namespace) -> int:
    from controller.host import settings_flash as svc
    from hal.backend import SettingsPort
    from hal.protocol import ALARM_TEXT, Alarm
    from hal.registry import open_backend
    from hal.service_auth import read_key_file
    from hal.settings import BY_KEY, SETTINGS

    if args.action == "list" and not args.port:
        print(_settings_table(None))
        return EXIT_OK
    # Check everything the user typed before the port is opened.
    if args.action == "get":
        unknown = [k for k in args.keys if k not in BY_KEY]
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(BY_KEY), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise InputError("KEY", unknown[0], f"a known setting (see `penctl settings list`){hint}")
    changes: dict[str, Any] = {}
    if args.action == "set":
        for text in args.assignments:
            key, sep, value = text.partition("=")
            setting = BY_KEY.get(key.strip())
            if not sep or setting is None:
                close = difflib.get_close_matches(key.strip(), list(BY_KEY), n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
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
            print(_settings_table(pen.read_settings()))
        elif args.action == "get":
            values = pen.read_settings()
            for key in args.keys:
                print(f"{key} = {_show(values[key])}")
        elif args.action == "dump":
            values = pen.read_settings()
            ident = pen.identify()
            print(
                svc.dump_toml(
                    values, f"settings of pen {ident.serial_number} ({ident.model}, firmware {ident.firmware_version})"
                )
                if args.format == "toml"
                else svc.dump_json(values),
                end="",
            )
        elif args.action == "diff" or (args.action == "load" and args.dry_run):
            current = pen.read_settings()
            svc.check_block(current, changes, args.file)
            delta = svc.diff(current, changes)
            for key, (now, wanted) in delta.items():
                print(f"{key}: {_show(now)} -> {_show(wanted)}")
            print(f"{len(delta)} setting(s) differ" + (" (dry run: nothing written)" if args.action == "load" else ""))
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
            for code in codes:
                print(f"alarm {code}: {ALARM_TEXT.get(Alarm(code), 'unknown alarm')}")
                if args.clear:
                    pen.clear_alarm(code)
            if not codes:
                print("no alarms")
    finally:
        pen.close()
    return EXIT_OK


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _settings_table(values: dict[str, Any] | None) -> str:
    from hal.settings import SETTINGS

    head = (
        ["key", "value", "default", "unit", "range", "access"]
        if values
        else ["key", "default", "unit", "range", "access"]
    )
    rows: list[list[str]] = [head]
    for s in SETTINGS:
        span = f"{s.low:g}-{s.high:g}" if s.kind != "bool" else "true/false"
        if s.kind == "str":
            span = f"{int(s.low)}-{int(s.high)} chars"
        current = [_show(values[s.key])] if values else []
        rows.append([s.key, *current, _show(s.default), s.unit, span, s.access])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
