"""Lifeboat keeps SQLite databases safe."""

__version__ = "0.1.0"
