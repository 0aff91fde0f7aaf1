"""Build Lifeboat for the OS this runs on (PyInstaller cannot cross-build).

    python packaging/build.py              # the one-folder bundle
    python packaging/build.py --installer  # and the platform's installer

Linux: dist/lifeboat/ and, with --installer, dist/lifeboat_<version>_<arch>.deb.
macOS: dist/Lifeboat.app and dist/Lifeboat-<version>.dmg.
Windows: dist/lifeboat/ and dist/Lifeboat-<version>-setup.exe (Inno Setup 6's ISCC.exe on
PATH or in its default folder).
Needs the project and PyInstaller in this Python: pip install '.[build]'.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--installer", action="store_true", help="also build the installer for this OS"
    )
    args = parser.parse_args()
    started = time.monotonic()
    build_bundle()
    print(f"build: bundle in {bundle_path()} ({time.monotonic() - started:.0f} s)")
    if args.installer:
        print(f"build: installer {build_installer(project_version())}")
    return 0


def build_bundle() -> None:
    # --clean: a cached analysis could keep files bundle_trim now drops.
    run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--clean",
            "--log-level=WARN",
            "--distpath",
            str(DIST),
            "--workpath",
            str(WORK),
            str(ROOT / "packaging" / "lifeboat.spec"),
        ]
    )


def build_installer(version: str) -> Path:
    if sys.platform.startswith("linux"):
        output = subprocess.run(
            ["bash", str(ROOT / "installer" / "linux" / "build_deb.sh")],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        return Path(output.strip().splitlines()[-1])
    if sys.platform == "darwin":
        dmg = DIST / f"Lifeboat-{version}.dmg"
        run(
            [
                "bash",
                str(ROOT / "installer" / "macos" / "build_dmg.sh"),
                str(bundle_path()),
                str(dmg),
            ]
        )
        return dmg
    if sys.platform == "win32":
        run(
            [
                str(inno_compiler()),
                f"/DAppVersion={version}",
                f"/DBundleDir={bundle_path()}",
                f"/O{DIST}",
                str(ROOT / "installer" / "windows" / "lifeboat.iss"),
            ]
        )
        return DIST / f"Lifeboat-{version}-setup.exe"
    raise SystemExit(f"build: no installer for {sys.platform}")


def bundle_path() -> Path:
    return DIST / ("Lifeboat.app" if sys.platform == "darwin" else "lifeboat")


def project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def inno_compiler() -> Path:
    found = shutil.which("iscc")
    if found:
        return Path(found)
    for folder in ("ProgramFiles(x86)", "ProgramFiles"):
        candidate = Path(os.environ.get(folder, "")) / "Inno Setup 6" / "ISCC.exe"
        if candidate.is_file():
            return candidate
    raise SystemExit("build: Inno Setup 6 not found (install it, or put ISCC.exe on PATH)")


def run(command: list[str]) -> None:
    print("build: " + " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
