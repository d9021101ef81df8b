"""Benchmark helpers: run one measured call in a fresh subprocess, report time and extra peak RSS.

Each measurement runs in its own process so that peak memory is not polluted by earlier work: the
child builds its inputs (not timed), records its RSS, starts a sampler thread (every 2 ms), runs
the call once to warm up and ``repeat`` times timed, and prints JSON.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time


class PeakRSS:
    """Peak resident set size above the level at ``start()``, sampled in a thread."""

    def __init__(self, interval: float = 0.002):
        import psutil

        self._proc = psutil.Process()
        self.interval = interval

    def __enter__(self):
        self.base = self._proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def extra(self) -> int:
        return self.peak - self.base


def run_child(script: str, args: dict, timeout: float = 3600) -> dict:
    """Run ``python script --child JSON`` and parse the JSON it prints last."""
    out = subprocess.run(
        [sys.executable, script, "--child", json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed(fn, repeat: int):
    """Warm-up call with peak memory, then the best of ``repeat`` timed calls."""
    import gc

    gc.collect()
    with PeakRSS() as mem:
        result = fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return result, min(times), mem.extra


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(fn, repeat: int) -> dict:
    """Like :func:`timed`, with every timed run kept: a warm-up call under :class:`PeakRSS`
    (its result and extra peak memory), then ``repeat`` timed calls, each with its wall and CPU
    time (user + system, all threads).

    Returns ``{"result", "seconds": [...], "cpu": [...], "extra": bytes}``.
    """
    import gc

    gc.collect()
    with PeakRSS() as mem:
        result = fn()
    seconds, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
        cpu.append(cpu_seconds() - c0)
    return {"result": result, "seconds": seconds, "cpu": cpu, "extra": mem.extra}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy

    return (
        f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, "
        f"numpy {numpy.__version__}"
    )
