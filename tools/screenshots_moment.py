"""The restore wizard's "A moment in time", for tools/screenshots.py.

`make_history` gives "notes" a continuous history before the tray starts: a writer
edits notes a few times a second while the service's own Follower captures each
commit, with a short stretch when nothing follows (the gap the page shows). The source
stays continuous, so the tray follows it from then on as it would."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any


def make_history(service: Any, name: str, db: Path) -> None:
    service.update_source(name, continuous=True)
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        for count, last in ((14, False), (12, True)):
            follower = service.open_follower(name, compact_every_s=0, write_every_s=0)
            follower.start()
            for n in range(count):
                writer.execute(
                    "update notes set title = ?, updated_at = ? where id % 97 = ?",
                    (f"draft {n}", int(time.time()), n),
                )
                if n % 5 == 4:  # a bigger change now and then
                    writer.execute("delete from notes where id % 211 = ?", (n,))
                follower.poll()
                time.sleep(0.25)  # edits a few times a second, as a person's app makes them
            follower.close()
            if not last:
                writer.execute("update notes set tag = 'offline' where id % 53 = 0")
                time.sleep(1.5)  # Lifeboat not running for a moment: the gap
    finally:
        writer.close()


def restore_moment(shots: Any, tray_app: Any) -> None:
    from lifeboat.gui.restore_pages import MOMENT_TAB

    tray_app.show_restore("notes")
    wizard = tray_app._dialogs["restore"]
    wizard.resize(760, 560)
    page = wizard.currentPage()
    shots.wait_until(lambda: page.tabs.isTabVisible(MOMENT_TAB))
    page.tabs.setCurrentIndex(MOMENT_TAB)
    chooser = page.moment
    shots.wait_until(lambda: chooser.table.topLevelItemCount() >= 20)
    chooser.table.setCurrentItem(chooser.table.topLevelItem(chooser.table.topLevelItemCount() - 4))
    shots.wait_until(lambda: chooser.choice is not None)
    shots.settle(300)
    shots.save(wizard, "restore-moment")
    wizard.next()
    wizard.next()
    shots.settle(300)
    shots.wait_until(lambda: wizard.currentPage().preview.text().startswith("Restoring"))
    shots.save(wizard, "restore-moment-confirm")
    wizard.reject()
    shots.settle(300)


def settings_continuous(shots: Any, tray_app: Any) -> None:
    """Settings scrolled to "Every change" for the continuous database."""
    tray_app.show_settings()
    dialog = tray_app._dialogs["settings"]
    dialog.source_list.setCurrentRow(0)
    shots.settle(500)
    scroll = dialog.source_pages.widget(0)
    scroll.ensureWidgetVisible(dialog.form.continuous)
    shots.settle(300)
    shots.save(dialog, "settings-continuous")
    dialog.reject()
    shots.settle(300)
