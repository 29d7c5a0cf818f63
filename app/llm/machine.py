"""Which bundled model this machine gets when SOURCED_LLM_MODEL names none.

The 1.5B model answers far better than the 0.5B (SQuAD exact match about 61% against 40%,
README "Measuring quality"). On the `local` backend it holds 5.3–5.5 GB at its peak (loading
its bfloat16 weights and making their int8 copies; bench/local_llm.py), the 0.5B about
2.4 GB with the embedding model. A machine gets the 1.5B when it has that with room to spare
for the index and the rest of the system, and the 0.5B otherwise, which is also what a
machine of one core gets (on two cores the 1.5B reads a prompt at about 100 tokens/s and
writes about 10 tokens/s; bench/local_llm.py).

Standard library only: the Makefile runs this file with the system's Python, before any
virtual environment exists, to learn which model `make run` installs:

    python3 app/llm/machine.py        # prints qwen2.5-coder-1.5b or qwen2.5-coder-0.5b
"""

from __future__ import annotations

import os
from dataclasses import dataclass

LARGE = "qwen2.5-coder-1.5b"
SMALL = "qwen2.5-coder-0.5b"
# The 1.5B wants this much memory in all and this much free when the server starts.
LARGE_TOTAL_GIB = 12.0
LARGE_AVAILABLE_GIB = 7.0
LARGE_CORES = 2


@dataclass(frozen=True)
class Machine:
    total_gib: float
    available_gib: float
    cores: int


@dataclass(frozen=True)
class Choice:
    model: str  # a bundled model's name
    reason: str  # why, in a sentence a user reads once at start


def this_machine() -> Machine:
    """Memory from /proc/meminfo (the page counts where there is none), cores this process
    may run on."""
    total = available = 0.0
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo if ":" in line)
        total = int(fields["MemTotal"].split()[0]) / 2**20
        available = int(fields.get("MemAvailable", fields["MemFree"]).split()[0]) / 2**20
    except (OSError, KeyError, ValueError):
        try:
            page = os.sysconf("SC_PAGE_SIZE")
            total = os.sysconf("SC_PHYS_PAGES") * page / 2**30
            available = os.sysconf("SC_AVPHYS_PAGES") * page / 2**30
        except (ValueError, OSError, AttributeError):
            pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return Machine(round(total, 1), round(available, 1), cores)


def choose_model(machine: Machine) -> Choice:
    """The bundled model for a machine, and why."""
    has = f"{machine.total_gib:g} GiB of memory ({machine.available_gib:g} GiB free), " + (
        f"{machine.cores} core{'s' if machine.cores != 1 else ''}"
    )
    if machine.total_gib == 0:
        return Choice(SMALL, "the machine's memory could not be read")
    short = []
    if machine.total_gib < LARGE_TOTAL_GIB:
        short.append(f"{LARGE_TOTAL_GIB:g} GiB in all")
    if machine.available_gib < LARGE_AVAILABLE_GIB:
        short.append(f"{LARGE_AVAILABLE_GIB:g} GiB free")
    if machine.cores < LARGE_CORES:
        short.append(f"{LARGE_CORES} cores")
    if short:
        return Choice(SMALL, f"this machine has {has}; the 1.5B model wants {', '.join(short)}")
    return Choice(LARGE, f"this machine has {has}")


if __name__ == "__main__":
    print(choose_model(this_machine()).model)
