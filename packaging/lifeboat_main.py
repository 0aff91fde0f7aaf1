"""The frozen app's entry point: the same command line as the `lifeboat` console script
(no command or `tray` starts the tray, anything else is a CLI command)."""

from __future__ import annotations

import os
import sys

from lifeboat.cli.main import main
from lifeboat.core.key_passphrase import CHILD_ARG
from lifeboat.core.key_passphrase import main as key_file_passphrase


def give_streams_to_windowless_exe() -> None:
    """A windowed Windows executable starts with sys.stdout and sys.stderr set to None;
    argparse, print and logging would fail on them, so they go to the null device."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


if __name__ == "__main__":
    give_streams_to_windowless_exe()
    if sys.argv[1:] == [CHILD_ARG]:  # the child that works a key file's passphrase
        raise SystemExit(key_file_passphrase())
    raise SystemExit(main())
