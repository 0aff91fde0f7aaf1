"""The check of the Qt binding (gui/binding_check.py) agrees with a measurement of its own:
whether a Qt call that returns nothing takes a reference to None. PySide6 6.12.0 on
Python 3.11 does (the tray then dies with "Fatal Python error: none_dealloc"); earlier
releases, and any release on Python 3.12+, do not."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel

from lifeboat.gui.binding_check import binding_problem, stolen_references


def none_taken_per_call(qtbot) -> float:
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(200):
        label.setText("x")
    return (before - sys.getrefcount(None)) / 200


def test_the_check_finds_what_a_measurement_finds(qtbot):
    broken = none_taken_per_call(qtbot) > 0.5
    stolen = stolen_references()
    assert (stolen is not None and "None" in stolen) == broken
    problem = binding_problem()
    assert (problem is not None) == broken
    if problem is not None:
        message, hint = problem
        assert "corrupts" in message and "pyside6-essentials<6.12" in hint
