"""The foundation every layer stands on: errors, events, paths, progress and units.

Nothing here imports anything else of Lifeboat.
"""
