"""History's Delete…: the question, naming what depends on the snapshot, and the
outcome as it is (service/deletion.py says what depends on what)."""

from __future__ import annotations

from lifeboat.gui.text import plural, short_time
from lifeboat.service.deletion import DeletionEffects

PERIOD_WORDS = {
    "hourly": "hour",
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "yearly": "year",
}


def period_text(effects: DeletionEffects) -> str:
    """ " It is the only snapshot kept of its day and its week…" ("" if it is not)."""
    periods = [f"its {PERIOD_WORDS.get(p, p)}" for p in effects.lost_periods]
    if not periods:
        return ""
    joined = ", ".join(periods[:-1]) + " and " + periods[-1] if len(periods) > 1 else periods[0]
    return (
        f" It is the only snapshot your retention settings keep of {joined}: "
        "none from that time remains afterwards."
    )


def delete_question(effects: DeletionEffects) -> tuple[str, str]:
    """(question, detail) for deleting the snapshot."""
    question, detail = _question(effects)
    return question, detail + period_text(effects)


def _question(effects: DeletionEffects) -> tuple[str, str]:
    record = effects.record
    question = (
        f"Delete the snapshot of {record.source} taken {short_time(record.manifest.created_at)}?"
    )
    later = plural(len(effects.dependents), "later snapshot")
    pinned = len(effects.pinned_dependents)
    pinned_text = f", {pinned} of them pinned" if pinned else ""
    if effects.kept_on:
        where = " and ".join(effects.kept_on)
        detail = (
            f"Its file here is deleted. Its copy on {where} stays, and it can still be "
            "restored from there"
        )
        detail += f", as can the {later} built on it{pinned_text}." if effects.dependents else "."
        return question, detail
    if effects.dependents:
        return question, (
            f"{later.capitalize()} ({plural(len(effects.dependents), 'differential')}"
            f"{pinned_text}) {'is' if len(effects.dependents) == 1 else 'are'} built on this "
            "one and cannot be restored without it. Its file is deleted for good: you "
            "cannot restore it, or them, afterwards."
        )
    return question, "Its file is deleted for good; you cannot restore it afterwards."


def deleted_text(effects: DeletionEffects) -> str:
    """What the deletion did."""
    text = f"Snapshot {effects.record.id} deleted here."
    if effects.kept_on:
        return text + f" Its copy on {' and '.join(effects.kept_on)} remains."
    if effects.breaks:
        n = len(effects.breaks)
        text += f" {plural(n, 'later snapshot')} built on it can no longer be restored."
    return text
