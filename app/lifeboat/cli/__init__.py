"""The `lifeboat` command line: thin front end over service.py (no Qt unless the tray)."""
