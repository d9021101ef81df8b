"""``make test`` cannot hang on a dead or stuck worker: the run ends, naming the test.

pytest-xdist with ``--dist loadgroup`` does not recover from a worker it replaced after a crash
(its scheduler raises ``KeyError`` for the new worker and the run waits forever), so the
Makefile runs the suite with ``--max-worker-restart=0``; a test that hangs has its stacks dumped
(``faulthandler_timeout``) and is then stopped (pytest-timeout's thread method), which ends the
run the same way. These tests run the Makefile's own test command on a small suite of their own
with a worker that dies (killed without a word, as the worker of the lost CI run died) and with a
test that never returns.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SUITE = {
    "test_a.py": """
        import os, signal, threading
        import pytest

        @pytest.mark.parametrize("i", range(8))
        def test_before(i):
            pass

        def test_victim():
            if os.environ.get("GUARD_CASE") == "crash":
                os.kill(os.getpid(), signal.SIGKILL)  # no traceback, no faulthandler dump
            lock = threading.Lock()
            lock.acquire()
            lock.acquire()  # never returns

        @pytest.mark.parametrize("i", range(8))
        def test_after(i):
            pass
        """,
    # a group, as the suite's Dask tests are: its tests go to one worker as one unit
    "test_grouped.py": """
        import pytest

        pytestmark = pytest.mark.xdist_group("g")

        @pytest.mark.parametrize("i", range(8))
        def test_grouped(i):
            pass
        """,
}


def make_test_arguments() -> list[str]:
    """The arguments of ``make test``'s pytest command, without the test path."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n\t(.*)$", makefile, re.MULTILINE)
    assert recipe is not None, "no test target in the Makefile"
    words = shlex.split(recipe.group(1))
    start = words.index("pytest") + 1
    return [w for w in words[start:] if w != "tests"]


def run_guarded(tmp_path: Path, case: str, *ini: str) -> subprocess.CompletedProcess:
    for name, text in SUITE.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    # the project's pytest settings, but nothing of its conftest or plugins' caches
    (tmp_path / "pytest.ini").write_text("[pytest]\n" + "\n".join(ini) + "\n")
    # only the plugins the guard needs (the others' imports would only slow the workers' start)
    plugins = ["-p", "xdist.plugin", "-p", "pytest_timeout", "-p", "no:cacheprovider"]
    env = {"GUARD_CASE": case, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", *make_test_arguments(), *plugins, "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env={**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )


def test_make_test_runs_with_two_workers_by_group_and_no_restart():
    args = make_test_arguments()
    assert args[args.index("-n") + 1] == "2"
    assert "--dist" in args and args[args.index("--dist") + 1] == "loadgroup"
    assert "--max-worker-restart=0" in args


def test_a_killed_worker_ends_the_run_naming_its_test(tmp_path):
    run = run_guarded(tmp_path, "crash")
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "crashed while running 'test_a.py::test_victim'" in out
    assert "FAILED test_a.py::test_victim" in out
    assert "INTERNALERROR" not in out


def test_a_hung_test_is_dumped_then_stopped_and_named(tmp_path, pytestconfig):
    # the project's settings: a dump first, then the stop, by a timer thread
    dump, stop = (float(pytestconfig.getini(n)) for n in ("faulthandler_timeout", "timeout"))
    assert 0 < dump < stop
    assert pytestconfig.getini("timeout_method") == "thread"
    # the same, in seconds (far apart, so that a busy machine keeps them in order)
    run = run_guarded(
        tmp_path, "hang", "faulthandler_timeout = 2", "timeout = 12", "timeout_method = thread"
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    # the dump shows where the test waits
    assert re.search(r"test_a\.py\", line \d+ in test_victim", out), out
    assert "crashed while running 'test_a.py::test_victim'" in out
    assert "INTERNALERROR" not in out


@pytest.mark.parametrize("name", ["faulthandler_timeout", "timeout"])
def test_the_limits_leave_the_slowest_tests_room(pytestconfig, name):
    # the slowest tests take minutes on a loaded machine (the streamed memory-limit test lets
    # its child run 10 minutes), and CI stops everything at 90 minutes
    assert 600 < float(pytestconfig.getini(name)) <= 30 * 60
