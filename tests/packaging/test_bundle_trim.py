"""What the PyInstaller bundle leaves out (packaging/bundle_trim.py), on sample TOCs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
SITE = "/venv/lib/python3.11/site-packages"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, PACKAGING / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bundle_trim = load("bundle_trim")


def binary(name: str, source: str | None = None) -> tuple[str, str, str]:
    return name, source or f"{SITE}/{name}", "BINARY"


def names(entries: list[tuple[str, str, str]]) -> set[str]:
    return {entry[0] for entry in entries}


def test_keeps_what_the_app_uses_and_drops_the_rest_on_linux():
    kept = [
        binary("PySide6/Qt/lib/libQt6Core.so.6"),
        binary("PySide6/Qt/plugins/platforms/libqxcb.so"),
        binary("PySide6/Qt/plugins/platforms/libqwayland.so"),
        binary("PySide6/Qt/plugins/platforms/libqoffscreen.so"),
        binary("PySide6/Qt/plugins/imageformats/libqsvg.so"),
        binary("PySide6/Qt/plugins/iconengines/libqsvgicon.so"),
        binary("zstandard/backend_c.cpython-311-x86_64-linux-gnu.so"),
        binary("libssl.so.3", "/lib/x86_64-linux-gnu/libssl.so.3"),
        binary("libpython3.11.so.1.0", "/opt/python/lib/libpython3.11.so.1.0"),
    ]
    dropped = [
        binary("PySide6/Qt/plugins/platforms/libqeglfs.so"),
        binary("PySide6/Qt/plugins/platforms/libqvnc.so"),
        binary("PySide6/Qt/plugins/imageformats/libqjpeg.so"),
        binary("PySide6/Qt/plugins/tls/libqopensslbackend.so"),
        binary("PySide6/Qt/plugins/generic/libqevdevmouseplugin.so"),
        binary("PySide6/Qt/lib/libQt6EglFsKmsSupport.so.6"),
        binary("zstandard/_cffi.cpython-311-x86_64-linux-gnu.so"),
        binary("libX11.so.6", "/lib/x86_64-linux-gnu/libX11.so.6"),
        binary("libglib-2.0.so.0", "/usr/lib/x86_64-linux-gnu/libglib-2.0.so.0"),
    ]
    binaries, _ = bundle_trim.trim(kept + dropped, [], "linux")
    assert names(binaries) == names(kept)


def test_windows_plugin_layout_and_system_libraries_kept_off_linux():
    entries = [
        binary("PySide6/plugins/imageformats/qsvg.dll"),
        binary("PySide6/plugins/imageformats/qgif.dll"),
        binary("PySide6/plugins/platforms/qwindows.dll"),
        binary("PySide6/opengl32sw.dll"),
        binary("libX11.6.dylib", "/usr/lib/libX11.6.dylib"),
    ]
    binaries, _ = bundle_trim.trim(entries, [], "win32")
    assert names(binaries) == {
        "PySide6/plugins/imageformats/qsvg.dll",
        "PySide6/plugins/platforms/qwindows.dll",
        "libX11.6.dylib",
    }


def test_only_s3_service_data_and_no_translations():
    datas = [
        ("botocore/data/endpoints.json", "x", "DATA"),
        ("botocore/data/s3/2006-03-01/service-2.json.gz", "x", "DATA"),
        ("botocore/data/ec2/2016-11-15/service-2.json.gz", "x", "DATA"),
        ("boto3/data/s3/2006-03-01/resources-1.json", "x", "DATA"),
        ("boto3/data/iam/2010-05-08/resources-1.json", "x", "DATA"),
        ("PySide6/Qt/translations/qtbase_de.qm", "x", "DATA"),
        ("lifeboat/resources/icons/lifeboat.svg", "x", "DATA"),
    ]
    _, kept = bundle_trim.trim([], datas, "linux")
    assert names(kept) == {
        "botocore/data/endpoints.json",
        "botocore/data/s3/2006-03-01/service-2.json.gz",
        "boto3/data/s3/2006-03-01/resources-1.json",
        "lifeboat/resources/icons/lifeboat.svg",
    }


def test_links_to_dropped_libraries_go_too():
    entries = [
        binary("PySide6/Qt/lib/libQt6Core.so.6"),
        binary("PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so.6"),
        ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
        (
            "libQt6EglFSDeviceIntegration.so.6",
            "PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so.6",
            "SYMLINK",
        ),
    ]
    binaries, _ = bundle_trim.trim(entries, [], "linux")
    assert names(binaries) == {"PySide6/Qt/lib/libQt6Core.so.6", "libQt6Core.so.6"}
