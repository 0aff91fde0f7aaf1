"""`lifeboat key init|export|import|show|add-recipient`: age keys for encrypted remotes."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from lifeboat.cli.output import Output
from lifeboat.foundation.errors import LifeboatError
from lifeboat.service import Service

WARNING = (
    "Without this key nobody can read the encrypted backups, you included. Save a "
    "recovery copy now, somewhere other than this machine:"
)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    key = commands.add_parser("key", help="the age key that encrypts remote copies")
    actions = key.add_subparsers(dest="action", metavar="ACTION", parser_class=type(key))
    key.set_defaults(handler=lambda a, s, o: (key.print_help(), 2)[1])

    init = actions.add_parser(
        "init", parents=[common], help="create this machine's key (kept in the OS keyring)"
    )
    init.set_defaults(handler=cmd_init)

    export = actions.add_parser(
        "export", parents=[common], help="write the key to a file, to keep as a recovery copy"
    )
    export.add_argument("--to", required=True, metavar="FILE", help="a new file (mode 0600)")
    how = export.add_mutually_exclusive_group()
    how.add_argument(
        "--passphrase", action="store_true", help="protect the file with a passphrase (asked for)"
    )
    how.add_argument(
        "--passphrase-stdin",
        action="store_true",
        help="protect it with the passphrase given on standard input",
    )
    export.set_defaults(handler=cmd_export)

    imp = actions.add_parser("import", parents=[common], help="bring a saved key onto this machine")
    imp.add_argument("file")
    imp.add_argument(
        "--passphrase-stdin", action="store_true", help="the file's passphrase on standard input"
    )
    imp.set_defaults(handler=cmd_import)

    show = actions.add_parser(
        "show", parents=[common], help="recipients, and where the key is kept (never the key)"
    )
    show.set_defaults(handler=cmd_show)

    extra = actions.add_parser(
        "add-recipient", parents=[common], help="also encrypt to another public key (age1…)"
    )
    extra.add_argument("recipient")
    extra.set_defaults(handler=cmd_add_recipient)


def _passphrase(from_stdin: bool, ask: bool, twice: bool) -> str | None:
    try:
        return _read_passphrase(from_stdin, ask, twice)
    except UnicodeDecodeError:  # its text names the byte and where it is
        raise LifeboatError(
            "the passphrase holds bytes that are not text",
            "type it again as plain text (UTF-8)",
        ) from None


def _read_passphrase(from_stdin: bool, ask: bool, twice: bool) -> str | None:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise LifeboatError("--passphrase-stdin got an empty line", "pipe it in")
        return value
    if not ask:
        return None
    if not sys.stdin.isatty():
        raise LifeboatError(
            "a passphrase is needed, and this is not a terminal", "give it with --passphrase-stdin"
        )
    value = getpass.getpass("Passphrase (hidden): ")
    if twice and getpass.getpass("Passphrase again: ") != value:
        raise LifeboatError("the two passphrases differ", "try again")
    return value


def cmd_init(args: argparse.Namespace, service: Service, out: Output) -> int:
    recipient = service.init_key()
    saved = None
    if not out.json_mode and sys.stdin.isatty():
        out.line(f"created the key {recipient}; the secret part is in {service.secrets.where()}")
        out.line(WARNING)
        where = input("File for the recovery copy (Enter to do it later): ").strip()
        if where:
            protect = input("Protect it with a passphrase? [Y/n] ").strip().lower() != "n"
            passphrase = _passphrase(False, protect, twice=True)
            service.export_key(Path(where), passphrase)
            saved = where
            out.line(f"saved the recovery key to {where}")
    if saved is None:
        out.err.write(f"warning: {WARNING}\n  lifeboat key export --to FILE --passphrase\n")
    out.result(
        {"recipient": recipient, "recovery_copy": saved},
        [
            f"key: {recipient}",
            "turn encryption on for a remote with: lifeboat remote set NAME --encrypt",
        ],
    )
    return 0


def cmd_export(args: argparse.Namespace, service: Service, out: Output) -> int:
    passphrase = _passphrase(args.passphrase_stdin, args.passphrase, twice=True)
    recipients = service.export_key(Path(args.to), passphrase)
    how = "protected by your passphrase" if passphrase else "readable by you only (0600)"
    out.result(
        {"file": args.to, "recipients": recipients, "passphrase": bool(passphrase)},
        [
            f"wrote the key for {', '.join(recipients)} to {args.to}, {how}",
            "keep it away from this machine; `age -d -i FILE` opens the backups too",
        ],
    )
    return 0


def cmd_import(args: argparse.Namespace, service: Service, out: Output) -> int:
    path = Path(args.file).expanduser()
    protected = path.is_file() and service.key_file_protected(path)  # its first bytes only
    passphrase = _passphrase(args.passphrase_stdin, protected, twice=False)
    recipients = service.import_key(path, passphrase)
    out.result(
        {"recipients": recipients},
        f"imported the key for {', '.join(recipients)} into {service.secrets.where()}",
    )
    return 0


def cmd_show(args: argparse.Namespace, service: Service, out: Output) -> int:
    info = service.key_info()
    lines = [
        f"encrypting to: {', '.join(info.recipients) or 'nothing yet (lifeboat key init)'}",
        f"keys on this machine, kept in {info.keyring}: " + (", ".join(info.local) or "none"),
    ]
    out.result(info.to_json(), lines)
    return 0


def cmd_add_recipient(args: argparse.Namespace, service: Service, out: Output) -> int:
    service.add_recipient(args.recipient)
    out.result({"added": args.recipient}, f"new uploads are also encrypted to {args.recipient}")
    return 0
