"""The tray icons read on light and dark panels: colours measured (WCAG contrast), the
files on disk are the artwork, the macOS template is a real mask."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage
from PySide6.QtSvg import QSvgRenderer

from lifeboat.gui import icon_art
from lifeboat.gui.icon_art import (
    OUTLINE,
    PALETTE,
    PANELS,
    RING,
    STATES,
    VARIANTS,
    contrast,
    file_name,
    tray_svg,
)
from lifeboat.gui.icons import ICON_DIR, icon_path, panel_is_dark, state_icon, template_icon

AA = 4.5
#: Panels a little off the pure colours, as real ones are (GNOME's bar, Windows' taskbar).
LIGHT_PANELS = ("#ffffff", "#f3f3f3", "#ececec")
DARK_PANELS = ("#1e1e1e", "#202020", "#2d2d2d", "#000000")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("#ffffff", "#000000", 21.0),
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#ffffff", 1.0),
        ("#767676", "#ffffff", 4.54),  # the classic "lightest grey that passes AA"
        ("#1e1e1e", "#ffffff", 16.67),
    ],
)
def test_contrast_ratio_is_wcags(a: str, b: str, expected: float):
    assert contrast(a, b) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("state", [*[s for s in STATES if s != "ok"], "success"])
@pytest.mark.parametrize(("variant", "panels"), [("light", LIGHT_PANELS), ("dark", DARK_PANELS)])
def test_state_colours_meet_aa_on_their_panels(state: str, variant: str, panels: tuple[str]):
    colours = PALETTE[variant][state]
    for panel in panels:
        assert contrast(colours.disc, panel) >= AA, (state, variant, panel)
    assert contrast(colours.glyph, colours.disc) >= AA, (state, variant)


@pytest.mark.parametrize("state", [s for s in STATES if s != "ok"])
@pytest.mark.parametrize(("variant", "other"), [("light", DARK_PANELS), ("dark", LIGHT_PANELS)])
def test_a_badge_still_stands_out_on_the_other_panel(state: str, variant: str, other: tuple):
    """Where the panel's colour was guessed wrong, the rim still separates the badge."""
    for panel in other:
        assert contrast(PALETTE[variant][state].rim, panel) >= AA, (state, variant, panel)


def test_the_ring_reads_on_every_panel():
    for panel in LIGHT_PANELS:
        assert contrast(OUTLINE, panel) >= AA
    for panel in DARK_PANELS:
        assert contrast(RING, panel) >= AA
    assert set(PANELS) == {"light", "dark"}


def test_the_files_are_the_artwork():
    """tools/make_icons.py was run after the artwork last changed."""
    for state in STATES:
        for variant in VARIANTS:
            on_disk = (ICON_DIR / file_name(state, variant)).read_text()
            assert on_disk == tray_svg(state, variant), f"run tools/make_icons.py ({state})"


def test_every_state_has_an_icon_that_renders(qapp):
    for state in STATES:
        for dark in (False, True):
            assert QSvgRenderer(str(icon_path(state, dark))).isValid()
            assert not state_icon(state, dark).pixmap(22, 22).isNull()
    with pytest.raises(ValueError):
        icon_path("sleeping", False)


def test_the_template_image_is_a_mask_with_holes(qapp):
    icon = template_icon("error")
    assert icon.isMask()
    image = icon.pixmap(64, 64).toImage().convertToFormat(QImage.Format.Format_ARGB32)
    cx, cy, r = icon_art.BADGE
    centre = image.pixelColor(int(cx), int(cy))  # the cross: a hole
    disc = image.pixelColor(int(cx), int(cy - r + 3))  # the disc: black, opaque
    assert centre.alpha() < 40
    assert disc.alpha() > 220 and disc.lightness() < 20
    assert image.pixelColor(1, 62).alpha() == 0  # outside everything: transparent


@pytest.mark.parametrize(
    ("env", "dark"),
    [
        ({"LIFEBOAT_PANEL": "dark"}, True),
        ({"LIFEBOAT_PANEL": "light", "XDG_CURRENT_DESKTOP": "GNOME"}, False),
        ({"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}, True),
    ],
)
def test_the_panels_colour_is_taken_from_where_it_can_be_known(
    qapp, monkeypatch, env: dict[str, str], dark: bool
):
    monkeypatch.delenv("LIFEBOAT_PANEL", raising=False)
    monkeypatch.delenv("XDG_CURRENT_DESKTOP", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert panel_is_dark() is dark
