"""The tray icons' artwork as plain data: colours, their contrast, and the SVG text.

No Qt here: tools/make_icons.py writes these SVGs into resources/icons/, and the tests
check that the colours meet WCAG AA against the panels they are drawn for, and that the
files on disk are what this module draws.

One lifebuoy, the same on every panel: a white ring with grey bands, outlined in
near-black, so it reads on a light panel (the outline) and on a dark one (the white
ring); never a faint grey. Each state but ok adds a badge at the bottom right: a disc
in the state's colour with a white or black glyph, and a rim of the opposite tone that
separates it from the panel whichever panel it sits on. The ring leaves a gap where the
badge sits. The colours come in two variants: "light" for light panels (dark, saturated
colours) and "dark" for dark panels (light ones), each meeting 4.5:1 against its panel.
"mask" is the macOS template image: a black silhouette whose white parts (the bands, the
glyphs) icons.py turns into holes; the menu bar tints it itself, and the state reads
from the badge's shape alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STATES = ("ok", "running", "warning", "error", "paused")
VARIANTS = ("light", "dark", "mask")

#: The panels each colour variant is drawn for (what the contrast is measured against).
PANELS = {"light": "#ffffff", "dark": "#1e1e1e"}
#: The outline and the ring's white, the same in every colour variant.
OUTLINE = "#202124"
RING = "#ffffff"
BAND = "#80868b"


@dataclass(frozen=True)
class BadgeColours:
    disc: str  # the state's colour: carries the meaning, >= 4.5:1 against the panel
    glyph: str  # the sign in the disc: >= 4.5:1 against the disc
    rim: str  # around the disc: the opposite tone, so it reads on the other panel too


#: variant -> state -> colours. Success (green) is for texts that say a backup worked.
PALETTE: dict[str, dict[str, BadgeColours]] = {
    "light": {
        "running": BadgeColours("#1967d2", "#ffffff", "#ffffff"),
        "warning": BadgeColours("#9c5000", "#ffffff", "#ffffff"),
        "error": BadgeColours("#c5221f", "#ffffff", "#ffffff"),
        "paused": BadgeColours("#5f6368", "#ffffff", "#ffffff"),
        "success": BadgeColours("#137333", "#ffffff", "#ffffff"),
    },
    "dark": {
        "running": BadgeColours("#8ab4f8", "#202124", "#202124"),
        "warning": BadgeColours("#fdd663", "#202124", "#202124"),
        "error": BadgeColours("#f28b82", "#202124", "#202124"),
        "paused": BadgeColours("#bdc1c6", "#202124", "#202124"),
        "success": BadgeColours("#81c995", "#202124", "#202124"),
    },
}


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG relative luminance of '#rrggbb'."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21; AA asks 4.5 for what carries meaning)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


# -- drawing -------------------------------------------------------------------------

CENTRE = 26.5
RING_R = 18.0
RING_W = 10.5
OUTLINE_W = 2.6
BADGE = (45.0, 45.0, 16.5)  # cx, cy, r (the disc; the rim is drawn around it)
RIM_W = 3.0
#: The ring's gap for the badge, in degrees clockwise from 3 o'clock.
GAP = (8.0, 82.0)
BANDS = (0.0, 90.0, 180.0, 270.0)
BAND_SPAN = 24.0


def _point(r: float, degrees: float) -> tuple[float, float]:
    a = math.radians(degrees)
    return CENTRE + r * math.cos(a), CENTRE + r * math.sin(a)


def _arc(r: float, start: float, end: float) -> str:
    """A clockwise arc path from `start` to `end` degrees (a whole circle: two halves)."""
    if end - start >= 359:
        top, bottom = CENTRE - r, CENTRE + r
        return f"M{CENTRE} {top} A{r} {r} 0 0 1 {CENTRE} {bottom} A{r} {r} 0 0 1 {CENTRE} {top}"
    (x0, y0), (x1, y1) = _point(r, start), _point(r, end)
    large = 1 if (end - start) % 360 > 180 else 0
    return f"M{x0:.2f} {y0:.2f} A{r} {r} 0 {large} 1 {x1:.2f} {y1:.2f}"


def _ring(gap: bool, colour: bool) -> str:
    """The lifebuoy: outline, white body and grey bands (colour), or its black
    silhouette with white cuts for the bands (mask)."""
    start, end = (GAP[1], GAP[0] + 360) if gap else (0.0, 360.0)
    if not colour:
        body = f'  <path d="{_arc(RING_R, start, end)}" fill="none" stroke="#000" '
        body += f'stroke-width="{RING_W + 2 * OUTLINE_W}"/>\n'
        for lo, hi in _bands(start, end, inset=0.0):
            body += f'  <path d="{_arc(RING_R, lo, hi)}" fill="none" stroke="#fff" '
            body += f'stroke-width="{RING_W - 2 * OUTLINE_W}"/>\n'
        return body
    inset = math.degrees(OUTLINE_W / RING_R) if gap else 0.0
    parts = [
        f'  <path d="{_arc(RING_R, start, end)}" fill="none" stroke="{OUTLINE}" '
        f'stroke-width="{RING_W + 2 * OUTLINE_W}"/>\n',
        f'  <path d="{_arc(RING_R, start + inset, end - inset)}" fill="none" '
        f'stroke="{RING}" stroke-width="{RING_W}"/>\n',
    ]
    for lo, hi in _bands(start, end, inset):
        parts.append(
            f'  <path d="{_arc(RING_R, lo, hi)}" fill="none" stroke="{BAND}" '
            f'stroke-width="{RING_W}"/>\n'
        )
    return "".join(parts)


def _bands(start: float, end: float, inset: float) -> list[tuple[float, float]]:
    """The bands' arcs, clipped to the ring's body (start..end, less the inset)."""
    arcs = []
    for centre in BANDS:
        lo, hi = centre - BAND_SPAN / 2, centre + BAND_SPAN / 2
        if hi < start + inset:
            lo, hi = lo + 360, hi + 360
        lo, hi = max(lo, start + inset), min(hi, end - inset)
        if hi - lo > 1:
            arcs.append((lo, hi))
    return arcs


def _glyph(state: str, fill: str) -> str:
    """The sign inside the badge, drawn around the badge's centre."""
    cx, cy, _ = BADGE
    if state == "error":
        d = 5.2
        return (
            f'  <path d="M{cx - d} {cy - d} L{cx + d} {cy + d} M{cx + d} {cy - d} '
            f'L{cx - d} {cy + d}" stroke="{fill}" stroke-width="5" '
            'stroke-linecap="round"/>\n'
        )
    if state == "warning":
        return (
            f'  <rect x="{cx - 1.9}" y="{cy - 8.5}" width="3.8" height="10.5" rx="1.6" '
            f'fill="{fill}"/>\n'
            f'  <circle cx="{cx}" cy="{cy + 6}" r="2.2" fill="{fill}"/>\n'
        )
    if state == "paused":
        return (
            f'  <rect x="{cx - 5.6}" y="{cy - 6.5}" width="4" height="13" rx="1" '
            f'fill="{fill}"/>\n'
            f'  <rect x="{cx + 1.6}" y="{cy - 6.5}" width="4" height="13" rx="1" '
            f'fill="{fill}"/>\n'
        )
    if state == "running":  # an arrow up: a copy going into the lifeboat
        return (
            f'  <path d="M{cx} {cy + 7} L{cx} {cy - 4}" stroke="{fill}" stroke-width="4.4" '
            'stroke-linecap="round"/>\n'
            f'  <path d="M{cx - 6.2} {cy - 1} L{cx} {cy - 8} L{cx + 6.2} {cy - 1} Z" '
            f'fill="{fill}" stroke="{fill}" stroke-width="1.2" stroke-linejoin="round"/>\n'
        )
    raise ValueError(state)


def _badge(state: str, variant: str) -> str:
    cx, cy, r = BADGE
    if variant == "mask":  # a black disc; the glyph in white becomes a hole (icons.py)
        return f'  <circle cx="{cx}" cy="{cy}" r="{r + RIM_W / 2}" fill="#000"/>\n' + _glyph(
            state, "#fff"
        )
    colours = PALETTE[variant][state]
    return (
        f'  <circle cx="{cx}" cy="{cy}" r="{r + RIM_W / 2}" fill="{colours.rim}"/>\n'
        f'  <circle cx="{cx}" cy="{cy}" r="{r - RIM_W / 2}" fill="{colours.disc}"/>\n'
        + _glyph(state, colours.glyph)
    )


def tray_svg(state: str, variant: str) -> str:
    """The SVG text of one tray icon (64 x 64)."""
    if state not in STATES or variant not in VARIANTS:
        raise ValueError(f"unknown icon {state!r} {variant!r}")
    has_badge = state != "ok"
    body = _ring(has_badge, colour=variant != "mask")
    if has_badge:
        body += _badge(state, variant)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" '
        f'height="64">\n{body}</svg>\n'
    )


def file_name(state: str, variant: str) -> str:
    return f"tray-{state}-{variant}.svg"
