"""Entry point: parse the command line, run one command, turn errors into messages.

Exit codes: 0 ok, 1 the operation ran and failed (e.g. corruption found), 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from lifeboat import __version__
from lifeboat.cli.output import Output
from lifeboat.foundation.errors import LifeboatError

if TYPE_CHECKING:
    from lifeboat.service import Service

log = logging.getLogger("lifeboat.cli")

Handler = Callable[[argparse.Namespace, "Service", Output], int]

#: Which module of lifeboat.cli registers each command, in the order `--help` lists them.
#: main() imports only the module of the command it runs (all of them only for the help
#: and for a word that is no command): a command's module and what it imports cost start-up
#: time, and `lifeboat --version` or `status` should not pay for `query` or `run`.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "commands_sources": ("source",),
    "commands_snapshots": ("backup", "snapshots", "verify", "catalog"),
    "commands_restore": ("restore", "export", "prune", "pin", "unpin", "delete"),
    "commands_checks": ("diff", "drill"),
    "commands_daemon": ("run", "status", "jobs", "cancel", "schedule"),
    "commands_history": ("timeline",),
    "commands_row_history": ("history",),
    "commands_remotes": ("remote", "upload"),
    "commands_keys": ("key",),
    "commands_query": ("query",),
    "commands_tray": ("tray",),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as our one-line error (exit 2)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.write(f"hint: see `{self.prog} --help`\n")
        raise SystemExit(2)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: with the one command module it names, else with all."""
    parser = _Parser(
        prog="lifeboat",
        description="Lifeboat keeps SQLite databases safe: "
        "online snapshots, checks, retention and restore.",
    )
    parser.add_argument("--version", action="version", version=f"lifeboat {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _modules_for(sys.argv[1:] if argv is None else argv):
        importlib.import_module(f"lifeboat.cli.{name}").register(commands, common)
    return parser


def _modules_for(argv: Sequence[str]) -> list[str]:
    """The command modules a parse of `argv` needs. Top-level options are only -h and
    --version, so the first word that is no option is the command; `--version` alone
    needs none."""
    words = [arg for arg in argv if not arg.startswith("-")]
    if not words:
        return (
            []
            if "--version" in argv and "-h" not in argv and "--help" not in argv
            else list(COMMAND_MODULES)
        )
    for module, commands in COMMAND_MODULES.items():
        if words[0] in commands:
            return [module]
    return list(COMMAND_MODULES)  # not a command: argparse's error lists them all


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command in (None, "tray"):
        from lifeboat.cli.commands_tray import start_tray

        return start_tray(args)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    # Imported here, not at the top: the service and logging set-up are what every command
    # but --version and --help needs, and they are most of the start-up time.
    from lifeboat.core.logsetup import configure_logging
    from lifeboat.core.private import disk_full_error
    from lifeboat.foundation.paths import resolve_paths
    from lifeboat.service import Service

    out = Output(getattr(args, "json", False))
    paths = resolve_paths()
    log_file = configure_logging(paths)
    try:
        service = Service()
        service.config()  # a broken config file is reported by every command
        service.sweep()  # what killed runs left never outlives the next start
        return handler(args, service, out)
    except LifeboatError as exc:
        log.info("%s: %s", args.command, exc.message)
        out.error(exc.message, exc.hint, exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        out.error("interrupted", None, 1)
        return 1
    except BrokenPipeError:
        # The reader of the output left (`lifeboat snapshots | head`): stop quietly, as
        # Unix tools do, and let nothing more be written to the closed pipe at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE: what a shell reports of a tool the pipe stopped
    except Exception as exc:
        if isinstance(exc, UnicodeEncodeError) and _undecodable(argv):
            log.info("%s: an argument is not valid text", args.command)
            out.error(
                "an argument holds bytes that are not text in this system's encoding",
                "type it again as plain text (a name, a table, SQL)",
                2,
            )
            return 2
        full = disk_full_error(exc)
        if full is not None:  # said plainly, whatever part of Lifeboat met it
            log.warning("%s: %s (%s)", args.command, full.message, exc)
            out.error(full.message, full.hint, full.exit_code)
            return full.exit_code
        # a bug: log the traceback, show one line
        log.exception("unexpected error in `lifeboat %s`", args.command)
        out.error(f"unexpected error: {type(exc).__name__}: {exc}", f"details are in {log_file}", 1)
        return 1


def _undecodable(argv: Sequence[str] | None) -> bool:
    """Whether an argument held bytes the system's encoding could not decode (Python
    keeps them as lone surrogates, which no text API accepts)."""
    given = sys.argv[1:] if argv is None else argv
    return any(0xDC80 <= ord(ch) <= 0xDCFF for arg in given for ch in arg)
