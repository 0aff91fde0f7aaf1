"""How the tray words times, sizes and job phases."""

from __future__ import annotations

from datetime import datetime

PHASES = {
    "copy": "Copying the database",
    "compress": "Compressing",
    "decompress": "Checking the snapshot",
    "restore": "Writing the database",
}


#: Why a snapshot was taken (its manifest's reason), as the GUI says it.
REASONS = {
    "manual": "by hand",
    "scheduled": "on schedule",
    "catch-up": "a missed run, caught up",
    "retry": "a retry",
    "pre-restore": "before a restore",
    "pre-migration": "before a migration",
    "pinned": "pinned",
    "other": "other",
}


def reason_text(reason: str) -> str:
    """'on schedule', 'before a restore' (an unknown reason as it is, in words)."""
    return REASONS.get(reason, reason.replace("-", " "))


def time_ago(moment: datetime | None, now: datetime) -> str:
    """'just now', '12 min ago', '3 h ago', 'yesterday', '5 days ago', 'never'."""
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min ago"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} h ago"
    days = hours // 24
    return "yesterday" if days == 1 else f"{days} days ago"


def time_until(moment: datetime | None, now: datetime) -> str:
    """'in 5 min', 'in 3 h', 'tomorrow 03:00', 'Mon 24 Nov 03:00'."""
    if moment is None:
        return "not scheduled"
    seconds = int((moment - now).total_seconds())
    if seconds < 60:
        return "in a moment"
    if seconds < 3600:
        return f"in {seconds // 60} min"
    local, today = moment.astimezone(), now.astimezone()
    if local.date() == today.date():
        return f"today {local:%H:%M}"
    if (local.date() - today.date()).days == 1:
        return f"tomorrow {local:%H:%M}"
    return local_time(moment)


def local_time(moment: datetime, *, seconds: bool = False) -> str:
    """A moment in local time: 'Mon 24 Nov 2026 03:00'."""
    return moment.astimezone().strftime("%a %d %b %Y %H:%M" + (":%S" if seconds else ""))


def short_time(moment: datetime) -> str:
    """A sortable local time for tables: '2026-11-24 03:00'."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def size_text(n: float) -> str:
    """Bytes in decimal units: '812 B', '231.7 KB', '310 MB', '1.2 GB'."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            if unit == "B":
                return f"{n:.0f} B"
            return f"{n:.0f} {unit}" if abs(n) >= 100 else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def phase_text(phase: str) -> str:
    return PHASES.get(phase, phase.replace("-", " ").capitalize())


def percent(done: int, total: int) -> int:
    return int(100 * done / total) if total > 0 else 0


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"
