"""Memory readings shared by the benchmark scripts (each measured run is a fresh process)."""

from __future__ import annotations

import resource
from pathlib import Path


def _status_mib(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mib() -> float:
    """Peak RSS of this process image in MiB.

    ``VmHWM`` belongs to the process image; ``ru_maxrss`` (the fallback where there is no
    ``/proc``) survives exec and would also count the RSS inherited from the parent.
    """
    peak = _status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """Current RSS of this process in MiB (NaN where there is no ``/proc``)."""
    now = _status_mib("VmRSS")
    return now if now is not None else float("nan")
