"""Machine description printed by every benchmark (results are only comparable with it)."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_summary() -> str:
    """One line: CPU model, logical cores, load average, Python and platform."""
    try:
        one, five, fifteen = os.getloadavg()
        load = f"load {one:.1f}/{five:.1f}/{fifteen:.1f}"
    except OSError:
        load = "load n/a"
    return (f"{cpu_model()}, {os.cpu_count()} logical cores, {load}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}")


def print_table(rows: list[tuple[str, str]]) -> None:
    """Print ``(measure, value)`` rows as a two-column table."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
