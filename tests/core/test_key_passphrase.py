"""A key file's passphrase at work in a child process (core/key_passphrase.py): what it
protects it opens, a wrong passphrase says so, a cancel kills the child, and the calling
process's other threads keep running meanwhile (pyrage's scrypt holds the GIL for its
seconds: in a thread it froze the tray)."""

from __future__ import annotations

import threading

import pytest

from lifeboat.core.key_passphrase import open_with_passphrase, protect_with_passphrase
from lifeboat.foundation.errors import Cancelled, LifeboatError
from lifeboat.foundation.progress import CancelToken

SECRET = b"AGE-SECRET-KEY-1 is what such a file holds\n"
PASSPHRASE = "correct horse battery staple"


class Ticker(threading.Thread):
    """Counts turns of a thread of this process while the child works."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.turns = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.01):
            self.turns += 1


def test_what_it_protects_it_opens_and_other_threads_keep_running():
    ticker = Ticker()
    ticker.start()
    protected = protect_with_passphrase(SECRET, PASSPHRASE)
    opened = open_with_passphrase(protected, PASSPHRASE)
    ticker.stop.set()
    ticker.join()
    assert protected.startswith(b"age-encryption.org/v1") and SECRET not in protected
    assert opened == SECRET
    assert ticker.turns >= 5, "the scrypt held nothing of this process"


def test_a_wrong_passphrase_says_so_and_never_quotes_it():
    protected = protect_with_passphrase(SECRET, PASSPHRASE)
    with pytest.raises(LifeboatError) as raised:
        open_with_passphrase(protected, "not the passphrase")
    assert raised.value.message == "the passphrase does not open this key file"
    assert "not the passphrase" not in str(raised.value) + (raised.value.hint or "")


def test_a_cancel_kills_the_child():
    protected = protect_with_passphrase(SECRET, PASSPHRASE)
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        open_with_passphrase(protected, PASSPHRASE, cancel)
