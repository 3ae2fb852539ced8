"""The CPU the numbers were measured on, from ``/proc/cpuinfo`` where there is one."""

from __future__ import annotations

import platform
from pathlib import Path


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_flags() -> set[str]:
    """The instruction-set flags the kernel lists for this CPU (empty where it lists none)."""
    return {
        flag
        for line in _cpuinfo().splitlines()
        if line.startswith("flags")
        for flag in line.split()
    }


def cpu_model() -> str:
    """The CPU's model name; else what ``platform`` knows of it."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()
