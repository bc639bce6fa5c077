"""Measuring helpers shared by the benchmark scripts: memory, machine load, tables.

The scripts run on a shared 2-core machine, so each number is printed beside the load
and CPU pressure it was taken under.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
from typing import Any


def cpu_pressure_us() -> int | None:
    """Microseconds some task waited for a CPU since boot (Linux PSI), or None."""
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as pressure:
            some = dict(item.split("=") for item in pressure.readline().split()[1:])
        return int(some["total"])
    except (OSError, KeyError, ValueError):
        return None


def peak_rss_mib() -> float:
    """Peak resident memory of this process (since the last reset); Linux reports KiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def high_water_mib() -> float | None:
    """This process's own peak resident memory since :func:`reset_peak_rss` (Linux VmHWM).

    Unlike ``ru_maxrss``, which a process started by another inherits from it, the kernel's
    high-water mark is this process's alone, so a child measures its own peak.
    """
    return _status_mib("VmHWM:")


def current_rss_mib() -> float | None:
    return _status_mib("VmRSS:")


def _status_mib(field: str) -> float | None:
    """A memory field of /proc/self/status in MiB; None where there is no such file."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); False where that is not possible."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def machine_load() -> str:
    """Load average and, where the kernel has PSI, the share of time tasks waited for a CPU."""
    try:
        text = "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        text = "load average n/a"
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as pressure:
            some = dict(item.split("=") for item in pressure.readline().split()[1:])
        text += f", CPU pressure avg10 {some['avg10']}% avg60 {some['avg60']}%"
    except (OSError, KeyError, ValueError):
        pass
    return text


def cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells).rstrip())


def seconds(value: float) -> str:
    return f"{value:,.2f} s"


def run_json_child(command: list[str], which: str) -> dict[str, Any]:
    """Run one timed path in its own process (so its peak RSS is its own) and return the
    JSON document it prints last; exit with its error output when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the {which} run failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
