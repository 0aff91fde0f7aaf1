"""The plain pieces of an upload: expected ETags, part sizes, a part's body, the rate."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from lifeboat.storage import sending
from lifeboat.storage.sending import (
    MAX_PARTS,
    MIN_PART,
    Halted,
    PartBody,
    RateLimit,
    clean_etag,
    content_md5,
    etag_is_md5,
    multipart_etag,
    part_size_for,
    single_etag,
)


def test_expected_etags_are_what_s3_computes():
    data = b"lifeboat" * 1000
    assert single_etag(hashlib.md5(data).digest()) == hashlib.md5(data).hexdigest()
    parts = [os.urandom(100), os.urandom(50)]
    digests = [hashlib.md5(p).digest() for p in parts]
    assert multipart_etag(digests) == hashlib.md5(b"".join(digests)).hexdigest() + "-2"
    assert content_md5(hashlib.md5(b"").digest()) == "1B2M2Y8AsgTpgAmY7PhCfg=="
    assert clean_etag('"ABCdef"') == "abcdef" and clean_etag(None) == ""


@pytest.mark.parametrize(
    ("etag", "reply", "md5"),
    [
        ("d41d8cd98f00b204e9800998ecf8427e", None, True),
        ("d41d8cd98f00b204e9800998ecf8427e-12", None, True),
        ("d41d8cd98f00b204e9800998ecf8427e", {"ServerSideEncryption": "AES256"}, True),
        ("d41d8cd98f00b204e9800998ecf8427e", {"ServerSideEncryption": "aws:kms"}, False),
        ("d41d8cd98f00b204e9800998ecf8427e", {"SSECustomerAlgorithm": "AES256"}, False),
        ("0123456789abcdef0123456789abcdef01234567", None, False),  # 40 digits
        ("d41d8cd98f00b204e9800998ecf8427e-0", None, False),
        ("", None, False),
    ],
)
def test_which_etags_can_prove_bytes(etag: str, reply: dict | None, md5: bool):
    assert etag_is_md5(etag, reply) is md5


def test_part_sizes_keep_to_s3s_limits():
    assert part_size_for(1, 10) == MIN_PART
    assert part_size_for(16 * 1024 * 1024, 100) == 16 * 1024 * 1024
    huge = 200 * 1024**3
    size = part_size_for(MIN_PART, huge)
    assert (huge * 1.02) / size <= MAX_PARTS


def test_a_part_body_counts_what_goes_out_and_takes_it_back_on_a_resend():
    sent: list[int] = []
    body = PartBody(b"x" * 100, sent=sent.append, limit=None, halted=lambda: False)
    assert len(body) == 100 and bool(
        PartBody(b"", sent=sent.append, limit=None, halted=lambda: False)
    )
    body.signal_not_transferring()  # botocore hashing it to sign the request
    assert body.read() == b"x" * 100 and sum(sent) == 0
    body.seek(0)
    body.signal_transferring()
    assert body.read(30) == b"x" * 30 and body.read(100) == b"x" * 70
    assert body.read(10) == b"" and sum(sent) == 100 and body.counted == 100
    body.seek(0)  # botocore retries: the whole body again
    assert sum(sent) == 0 and body.tell() == 0
    assert body.seek(0, 2) == 100


def test_a_halted_body_stops_the_request():
    halted = [False]
    body = PartBody(b"x" * 100, sent=lambda n: None, limit=None, halted=lambda: halted[0])
    assert body.read(10)
    halted[0] = True
    with pytest.raises(Halted):
        body.read(10)


class SleepOnlyClock:
    """A clock that moves only when the code under test sleeps: how long it waited, to
    the microsecond, whatever else the machine was doing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def test_the_rate_limit_is_shared_and_averages_out(monkeypatch: pytest.MonkeyPatch):
    limit = RateLimit(1_000_000)
    started = time.monotonic()
    for _ in range(10):
        limit.take(50_000, lambda: False)
    took = time.monotonic() - started
    assert took >= 0.4, took  # never faster than the rate, on the real clock
    # How long it waits, exactly: the first chunk goes at once, nine wait their turn.
    clock = SleepOnlyClock()
    monkeypatch.setattr(sending, "time", clock)
    limit = RateLimit(1_000_000)
    for _ in range(10):
        limit.take(50_000, lambda: False)
    assert clock.now - 1000.0 == pytest.approx(0.45)
    waited = clock.now
    limit.take(10_000_000, lambda: True)  # cancelled: no waiting
    assert clock.now == waited
