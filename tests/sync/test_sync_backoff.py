"""Backoff with full jitter, Retry-After parsing, and the batch-size / error classification of the client."""
import email.utils
import random
import time

from sync.client import Backoff, parse_retry_after


def test_full_jitter_grows_exponentially_and_is_capped():
    b = Backoff(base=2.0, cap=300.0, rng=random.Random(1))
    ceilings = []
    for n in range(12):
        d = b.next_delay()
        ceiling = min(300.0, 2.0 * 2 ** n)
        assert 0 <= d <= ceiling
        ceilings.append(ceiling)
    assert ceilings[-1] == 300.0
    # with a seeded generator the whole sequence is reproducible
    again = Backoff(base=2.0, cap=300.0, rng=random.Random(1))
    b2 = Backoff(base=2.0, cap=300.0, rng=random.Random(1))
    assert [again.next_delay() for _ in range(5)] == [b2.next_delay() for _ in range(5)]


def test_no_attempt_limit_and_reset_on_success():
    b = Backoff(base=0.5, cap=10.0, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(1000)]   # never raises, never gives up
    assert max(delays) <= 10.0
    assert b.failures == 1000
    b.reset()
    assert b.failures == 0
    assert b.next_delay() <= 0.5


def test_retry_after_is_a_floor():
    b = Backoff(base=1.0, cap=4.0, rng=random.Random(0))
    assert b.next_delay(retry_after=30) == 30
    assert b.next_delay(retry_after=0) <= 2.0


def test_parse_retry_after_forms():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 100 <= parse_retry_after(future) <= 121
    past = email.utils.formatdate(time.time() - 120, usegmt=True)
    assert parse_retry_after(past) == 0.0
