"""Every ```python block of README.md runs as written, top to bottom, on the bundled data.

The blocks run in order in one namespace (a reader pastes them one after the other), in an empty
temporary working directory, and fail on any exception or on any warning that a user would see
(Python shows every warning category by default except these four, which it shows only when the
code that triggers them is the user's own, as the README's code is here).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"
HIDDEN_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[tuple[int, str]]:
    """``(line number, code)`` of every ```python block of README.md, in order."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def test_the_readme_has_its_python_blocks():
    blocks = python_blocks()
    assert len(blocks) >= 8
    fences = README.read_text(encoding="utf-8").count("```python")
    assert len(blocks) == fences  # every opened block was found (and closed)
    for line, code in blocks:
        assert "[...]" not in code, f"README.md line {line}: a placeholder instead of code"


def test_readme_python_blocks_run_in_order(tmp_path, monkeypatch):
    pytest.importorskip("duckdb")  # the polars block shows SQL over a result with DuckDB
    # One thread per native library: the gradient-boosting default model's OpenMP threads stall
    # (minutes instead of a second) when the test machine's cores are busy with other work. The
    # results do not depend on it. threadpoolctl limits only the libraries already loaded, so
    # load scikit-learn's OpenMP runtime first.
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for line, code in python_blocks():
            where = f"README.md:{line}"
            before = len(caught)
            exec(compile(code, where, "exec"), namespace)
            shown = [
                w
                for w in caught[before:]
                if not issubclass(w.category, HIDDEN_BY_DEFAULT) or w.filename.startswith("README")
            ]
            assert not shown, f"{where}: " + "; ".join(
                f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in shown
            )
    assert list(tmp_path.iterdir()) == []  # the README writes no files
    # what the blocks promise in their comments
    out, report = namespace["out"], namespace["report"]
    assert {"is_issue", "is_label_issue", "is_outlier_issue"} <= set(out.columns)
    assert repr(report).startswith(f"Audit: {int(out['is_issue'].sum())} rows with issues")
    assert type(namespace["lazy_out"]).__name__ == "LazyFrame"
