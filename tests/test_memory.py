"""The heap trimmer hands freed memory back after requests, and only then."""

import os
import time

import pytest

from app.memory import KERNEL_CACHE_CAPACITY, HeapTrimmer, bound_kernel_cache


def wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def trimmer():
    trimmer = HeapTrimmer(0.05)
    if not trimmer.active:
        pytest.skip("this C library has no malloc_trim")
    trimmer.start()
    yield trimmer
    trimmer.stop()


def test_trims_once_after_start_and_once_after_each_burst_of_requests(trimmer):
    assert trimmer.trims == 1, "what loading freed goes back at once"
    time.sleep(0.3)
    assert trimmer.trims == 1, "an idle server does not trim"
    for _ in range(20):  # a burst within one interval: one trim
        trimmer.served()
    assert wait_for(lambda: trimmer.trims == 2)
    time.sleep(0.3)
    assert trimmer.trims == 2
    trimmer.served()
    assert wait_for(lambda: trimmer.trims == 3)


def test_stops_promptly_starts_again_and_zero_turns_it_off():
    slow = HeapTrimmer(60)
    if not slow.active:
        pytest.skip("this C library has no malloc_trim")
    slow.start()
    started = time.monotonic()
    slow.stop()
    assert time.monotonic() - started < 2
    quick = HeapTrimmer(0.05)
    for round_ in (1, 2):  # an app may be started again after a stop
        quick.start()
        assert wait_for(lambda n=round_: quick.trims == n)
        quick.stop()
    off = HeapTrimmer(0)
    off.start()
    off.served()
    assert not off.active and off.trims == 0


def test_the_kernel_cache_is_bounded_unless_the_user_set_it(monkeypatch):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    bound_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == KERNEL_CACHE_CAPACITY
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "1024")
    bound_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "1024"
