"""Write the tray's SVG icons into app/lifeboat/resources/icons/ (run after changing them).

One lifebuoy glyph in the panel's foreground colour (dark on light panels, light on dark
ones) with a coloured badge per state: none for ok, blue arrows for running, an amber
triangle for warning, a red cross for error. Plus the full-colour application icon.
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "app" / "lifeboat" / "resources" / "icons"

#: variant -> (glyph colour, band colour, the panel colour the badge is cut out of)
VARIANTS = {
    "light": ("#2b2b2b", "#8a8a8a", "#ffffff"),
    "dark": ("#f2f2f2", "#9a9a9a", "#1e1e1e"),
}

RING = """  <circle cx="28" cy="28" r="19" fill="none" stroke="{fg}" stroke-width="11"/>
  <circle cx="28" cy="28" r="19" fill="none" stroke="{band}" stroke-width="11"
          stroke-dasharray="11 18.845" stroke-dashoffset="-9.42"/>
"""

#: Badges are drawn around (48, 48) and placed, a little larger, at the bottom right.
BADGE_PLACE = "translate(46 46) scale(1.15) translate(-48 -48)"

BADGES = {
    "ok": "",
    "running": """  <circle cx="48" cy="48" r="15" fill="{cut}"/>
  <circle cx="48" cy="48" r="12.5" fill="#1a73e8"/>
  <path d="M41.5 46.5 a7 7 0 0 1 12.2 -3.2" fill="none" stroke="#fff" stroke-width="2.6"
        stroke-linecap="round"/>
  <path d="M55.2 39.6 l-0.4 5.4 l-5.2 -1.4 z" fill="#fff"/>
  <path d="M54.5 49.5 a7 7 0 0 1 -12.2 3.2" fill="none" stroke="#fff" stroke-width="2.6"
        stroke-linecap="round"/>
  <path d="M40.8 56.4 l0.4 -5.4 l5.2 1.4 z" fill="#fff"/>
""",
    "warning": """  <path d="M48 31 L63.5 60 L32.5 60 Z" fill="{cut}" stroke="{cut}"
        stroke-width="4" stroke-linejoin="round"/>
  <path d="M48 34.5 L61 58 L35 58 Z" fill="#f29900" stroke="#f29900" stroke-width="2"
        stroke-linejoin="round"/>
  <rect x="46.4" y="41" width="3.2" height="9.5" rx="1.4" fill="#202124"/>
  <circle cx="48" cy="54" r="1.9" fill="#202124"/>
""",
    "error": """  <circle cx="48" cy="48" r="15" fill="{cut}"/>
  <circle cx="48" cy="48" r="12.5" fill="#d93025"/>
  <path d="M43 43 L53 53 M53 43 L43 53" stroke="#fff" stroke-width="3.2"
        stroke-linecap="round"/>
""",
}

APP_ICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
  <circle cx="32" cy="32" r="29" fill="#0b5394"/>
  <circle cx="32" cy="32" r="17" fill="none" stroke="#ffffff" stroke-width="10"/>
  <circle cx="32" cy="32" r="17" fill="none" stroke="#e8453c" stroke-width="10"
          stroke-dasharray="13.35 13.35" stroke-dashoffset="-6.675"/>
  <circle cx="32" cy="32" r="22" fill="none" stroke="#ffffff" stroke-opacity="0.35"
          stroke-width="1"/>
</svg>
"""


def tray_icon(state: str, variant: str) -> str:
    fg, band, cut = VARIANTS[variant]
    body = RING.format(fg=fg, band=band)
    if BADGES[state]:
        body += f'  <g transform="{BADGE_PLACE}">\n{BADGES[state].format(cut=cut)}  </g>\n'

    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" '
        f'height="64">\n{body}</svg>\n'
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for state in BADGES:
        for variant in VARIANTS:
            (OUT / f"tray-{state}-{variant}.svg").write_text(tray_icon(state, variant))
    (OUT / "lifeboat.svg").write_text(APP_ICON)
    print(f"wrote {len(BADGES) * len(VARIANTS) + 1} icons to {OUT}")


if __name__ == "__main__":
    main()
