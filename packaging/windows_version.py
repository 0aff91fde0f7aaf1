"""The version resource of the Windows executables (Explorer's Details tab, and what
Inno Setup's uninstall entry shows). Imported by lifeboat.spec on Windows only."""

from __future__ import annotations

from PyInstaller.utils.win32.versioninfo import (
    FixedFileInfo,
    StringFileInfo,
    StringStruct,
    StringTable,
    VarFileInfo,
    VarStruct,
    VSVersionInfo,
)


def version_info(version: str, exe_name: str) -> VSVersionInfo:
    numbers = tuple(int(part) for part in (version.split(".") + ["0"] * 4)[:4])
    strings = [
        StringStruct("CompanyName", "Lifeboat"),
        StringStruct("FileDescription", "Lifeboat: SQLite backups"),
        StringStruct("FileVersion", version),
        StringStruct("InternalName", exe_name),
        StringStruct("OriginalFilename", f"{exe_name}.exe"),
        StringStruct("ProductName", "Lifeboat"),
        StringStruct("ProductVersion", version),
        StringStruct("LegalCopyright", "MIT License"),
    ]
    return VSVersionInfo(
        ffi=FixedFileInfo(
            filevers=numbers,
            prodvers=numbers,
            mask=0x3F,
            flags=0x0,
            OS=0x40004,
            fileType=0x1,
            subtype=0x0,
            date=(0, 0),
        ),
        # 0x0409 US English, 0x04B0 = 1200, Unicode: the pair Windows looks up first.
        kids=[
            StringFileInfo([StringTable("040904B0", strings)]),
            VarFileInfo([VarStruct("Translation", [0x0409, 1200])]),
        ],
    )
