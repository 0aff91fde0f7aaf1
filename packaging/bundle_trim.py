"""What the one-folder bundle leaves out, applied to PyInstaller's TOCs by lifeboat.spec.

PyInstaller's Qt hooks collect every plugin of the modules we import and every library
those plugins link; most of it serves kiosks, phones and formats we never draw. Each rule
here says why the bundle can do without the thing it drops.
"""

from __future__ import annotations

import fnmatch
import posixpath
import sys
from collections.abc import Iterable
from pathlib import PurePosixPath

#: (destination name, source path, type code): one entry of a PyInstaller TOC.
Entry = tuple[str, str, str]

_DROP_EVERYWHERE = [
    # Qt's own translations: the app is English only and installs no QTranslator.
    "PySide6/*translations/*",
    # Embedded and kiosk platforms (framebuffer, EGL full screen, VNC, Vulkan display);
    # xcb, wayland and offscreen stay (the last for headless checks and screenshots).
    # (Windows wheels put plugins and translations in PySide6/, the others in PySide6/Qt/;
    # fnmatch's * crosses "/", so PySide6/*plugins/ matches both.)
    "PySide6/*plugins/platforms/*qeglfs*",
    "PySide6/*plugins/platforms/*qlinuxfb*",
    "PySide6/*plugins/platforms/*qminimal*",
    "PySide6/*plugins/platforms/*qvnc*",
    "PySide6/*plugins/platforms/*qvkkhrdisplay*",
    "PySide6/*plugins/egldeviceintegrations/*",
    "PySide6/Qt/lib/libQt6EglF[Ss]*",
    # Raw evdev/tuio input: only for platforms without a window system.
    "PySide6/*plugins/generic/*",
    # Network reachability and TLS: QtNetwork is used for the local single-instance
    # socket only; the S3 traffic goes through Python (botocore), not Qt.
    "PySide6/*plugins/networkinformation/*",
    "PySide6/*plugins/tls/*",
    # Software OpenGL for Windows machines without a driver: widgets draw without GL.
    "PySide6/opengl32sw.dll",
    # zstandard ships a C and a CFFI backend and uses the C one; the CFFI one is a fallback.
    "zstandard/_cffi.*",
]

#: botocore and boto3 describe every AWS service (~26 MB of JSON); we only call S3.
_AWS_DATA = ("botocore/data/", "boto3/data/")
_AWS_SERVICES_KEPT = ("s3", "sts")

#: Linux: the desktop stack (X11/xcb, Wayland, EGL/GL, fontconfig/freetype, D-Bus, GLib,
#: GTK and their libraries) comes from the system, like any desktop app's, through the
#: .deb's Depends: a bundled copy can clash with the newer one a system plugin loads.
#: Bundled from the system are only the libraries Python and its extension modules link.
_LINUX_SYSTEM_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/local/lib/")
_LINUX_SYSTEM_KEPT = [
    "libssl.so*",
    "libcrypto.so*",
    "libsqlite3.so*",
    "libffi.so*",
    "libz.so*",
    "libbz2.so*",
    "liblzma.so*",
    "libzstd.so*",
    "libuuid.so*",
    "libexpat.so*",
    "libmpdec.so*",
    "libpython*",
]


def trim(
    binaries: Iterable[Entry], datas: Iterable[Entry], platform: str = sys.platform
) -> tuple[list[Entry], list[Entry]]:
    """The binaries and data files the bundle keeps."""
    kept_binaries = [e for e in binaries if keeps(e, platform)]
    kept_datas = [e for e in datas if keeps(e, platform)]
    # PyInstaller links some libraries into the top folder too; a link to a dropped
    # library would dangle.
    present = {e[0] for e in (*kept_binaries, *kept_datas) if e[2] != "SYMLINK"}

    def resolves(entry: Entry) -> bool:
        return entry[2] != "SYMLINK" or link_target(entry) in present

    return ([e for e in kept_binaries if resolves(e)], [e for e in kept_datas if resolves(e)])


def link_target(entry: Entry) -> str:
    """The bundle path a SYMLINK entry points to (its source is relative to its folder)."""
    name, target, _ = entry
    return posixpath.normpath(posixpath.join(posixpath.dirname(name), target))


def keeps(entry: Entry, platform: str) -> bool:
    name = PurePosixPath(entry[0].replace("\\", "/")).as_posix()
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in _DROP_EVERYWHERE):
        return False
    if "plugins/imageformats/" in name:
        # Every image we load is an SVG (PNG is built into QtGui).
        return "qsvg" in PurePosixPath(name).name
    if name.startswith(_AWS_DATA):
        service = name.split("/")[2]
        return "." in service or service in _AWS_SERVICES_KEPT  # top-level .json files
    if platform.startswith("linux"):
        return not is_desktop_library(name, entry[1])
    return True


def is_desktop_library(name: str, source: str) -> bool:
    """A system library at the top of the bundle that the .deb's Depends provide."""
    if "/" in name or not source.startswith(_LINUX_SYSTEM_DIRS):
        return False
    return not any(fnmatch.fnmatchcase(name, pattern) for pattern in _LINUX_SYSTEM_KEPT)
