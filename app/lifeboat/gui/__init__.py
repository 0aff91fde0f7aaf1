"""The tray application: a thin Qt front end over lifeboat.service.facade (see DESIGN.md).

Only this package imports Qt. Long work runs off the GUI thread: the scheduler in a
QThread (scheduler_thread.py), restores, verifies and reads in a thread pool
(workers.py); plain-data events reach Qt through one bridge (bridge.py).
"""
