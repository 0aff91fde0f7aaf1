"""Write the tray's SVG icons into app/lifeboat/resources/icons/ (run after changing them).

The artwork is drawn by lifeboat/gui/icon_art.py (one lifebuoy that reads on light and
dark panels, a badge per state, colours meeting WCAG AA against the panel each variant is
for, and the macOS template silhouettes); this writes it out, plus the full-colour
application icon. tests/gui/test_icons.py fails when the files differ from the artwork.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "app"))

from lifeboat.gui.icon_art import STATES, VARIANTS, file_name, tray_svg  # noqa: E402

OUT = REPO / "app" / "lifeboat" / "resources" / "icons"

APP_ICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
  <circle cx="32" cy="32" r="29" fill="#0b5394"/>
  <circle cx="32" cy="32" r="17" fill="none" stroke="#ffffff" stroke-width="10"/>
  <circle cx="32" cy="32" r="17" fill="none" stroke="#e8453c" stroke-width="10"
          stroke-dasharray="13.35 13.35" stroke-dashoffset="-6.675"/>
  <circle cx="32" cy="32" r="22" fill="none" stroke="#ffffff" stroke-opacity="0.35"
          stroke-width="1"/>
</svg>
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("tray-*.svg"):
        old.unlink()
    for state in STATES:
        for variant in VARIANTS:
            (OUT / file_name(state, variant)).write_text(tray_svg(state, variant))
    (OUT / "lifeboat.svg").write_text(APP_ICON)
    print(f"wrote {len(STATES) * len(VARIANTS) + 1} icons to {OUT}")


if __name__ == "__main__":
    main()
