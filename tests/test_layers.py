"""The layer rules of DESIGN.md ("Layers") are enforced, not hoped for.

* ``lint-imports`` checks the import contracts in ``pyproject.toml`` (``[tool.importlinter]``):
  accessors and CLI → public modules → input layer → engine layer → scoring kernels; kernels
  import nothing of the package and no frame library; public modules import no frame library.
  A second test breaks each rule in a copy of the package and expects the contract to notice.
* A source scan checks what imports cannot show: no module outside ``cleanframe/_engines/``
  asks which engine it holds (``fr.kind == "pandas"``, ``type(x).__module__``,
  ``hasattr(x, "collect")``), and only the input layer constructs ``ValidationError``.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cleanframe"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package and pyproject.toml in ``cwd`` (a copy may stand in)."""
    assert LINT_IMPORTS.exists(), f"import-linter is a dev dependency; no {LINT_IMPORTS}"
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args, str(cwd / "pyproject.toml")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


# ------------------------------------------------------------------------------------------
# import contracts
# ------------------------------------------------------------------------------------------
def test_import_contracts_hold():
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr


#: (file to append to, the offending import, the id of the contract that must catch it)
BROKEN_RULES = {
    "scoring imports the input layer": ("scoring/_common.py", "from .. import _inputs", "scoring"),
    "scoring imports pandas": ("scoring/parallel.py", "import pandas", "scoring"),
    "engine layer imports the input layer": (
        "_engines/_base.py",
        "from .._inputs import columns",
        "engines",
    ),
    "input layer imports a public module": (
        "_inputs/columns.py",
        "from .. import label_issues",
        "inputs",
    ),
    "public module imports polars": ("label_issues.py", "import polars", "no-frame-libraries"),
    "public module imports the accessors": ("regression.py", "from . import _accessors", "layers"),
    "engine layer imports a public module": (
        "_engines/polars.py",
        "from .. import neighbors",
        "layers",
    ),
    "errors imports the package": ("errors.py", "from . import _engines", "leaves"),
}


@pytest.mark.parametrize("case", list(BROKEN_RULES))
def test_contracts_catch_a_broken_rule(tmp_path, case):
    """Each contract fails on a copy of the package that breaks it (so none is vacuous)."""
    path, line, contract = BROKEN_RULES[case]
    shutil.copytree(PACKAGE, tmp_path / "cleanframe", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "cleanframe" / path
    target.write_text(target.read_text() + f"\n{line}  # a broken layer rule\n")
    run = _lint_imports(tmp_path, "--contract", contract)
    assert run.returncode != 0, run.stdout + run.stderr
    assert "BROKEN" in run.stdout and "cleanframe." + path[:-3].replace("/", ".") in run.stdout


# ------------------------------------------------------------------------------------------
# source scan: engine sniffing and ValidationError outside their layers
# ------------------------------------------------------------------------------------------
#: Values of ``Engine.kind`` and the tests' frame types (Dask is next).
ENGINE_NAMES = {"pandas", "pandas_arrow", "polars", "polars_lazy", "lazy", "dask"}
#: Attributes that only a frame of one library has: asking for them is asking for the engine.
FRAME_ATTRIBUTES = {
    "collect",
    "collect_schema",
    "lazy",
    "compute",
    "to_pandas",
    "to_polars",
    "to_arrow",
    "iloc",
    "loc",
    "index",
    "with_columns",
    "columns",
    "schema",
    "dtypes",
}

#: Current offenders, file → rules it still breaks. Every entry is being converted onto the
#: input and engine layers; delete an entry when its file is converted (a stale entry warns).
ALLOWED: dict[str, set[str]] = {}


def _constants(node: ast.AST) -> set:
    """The str constants of a node, or of the items of a tuple/list/set literal."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}


def _violations(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, rule, what) for every layer-rule break in a module's syntax tree."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            names = set().union(*map(_constants, operands)) & ENGINE_NAMES
            if names and any(isinstance(o, ast.Attribute) and o.attr == "kind" for o in operands):
                found.append((node.lineno, "engine_kind", f".kind compared with {sorted(names)}"))
            if any(
                isinstance(o, ast.Attribute)
                and o.attr == "modules"
                and isinstance(o.value, ast.Name)
                and o.value.id == "sys"
                for o in operands
            ):
                found.append((node.lineno, "module_sniffing", "a look into sys.modules"))
        elif isinstance(node, ast.Attribute) and node.attr == "__module__":
            found.append((node.lineno, "module_sniffing", "__module__"))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "ValidationError":
                found.append((node.lineno, "validation_error", "ValidationError(...)"))
            elif (
                name in ("hasattr", "getattr")
                and isinstance(func, ast.Name)
                and len(node.args) >= 2
            ):
                attrs = _constants(node.args[1]) & FRAME_ATTRIBUTES
                if attrs:
                    found.append((node.lineno, "frame_attribute", f"{name}(..., {attrs.pop()!r})"))
    return found


def _rules_for(relative: str) -> set[str]:
    """Which rules apply to a module: engines may sniff; the input layer and errors.py may
    construct ValidationError."""
    rules = {"engine_kind", "module_sniffing", "frame_attribute", "validation_error"}
    if relative.startswith("_engines/"):
        rules -= {"engine_kind", "module_sniffing", "frame_attribute"}
    if relative.startswith("_inputs/") or relative == "errors.py":
        rules.discard("validation_error")
    return rules


def _scan() -> dict[str, list[tuple[int, str, str]]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        rules = _rules_for(relative)
        found = [v for v in _violations(ast.parse(path.read_text(), str(path))) if v[1] in rules]
        if found:
            out[relative] = found
    return out


def test_no_engine_sniffing_and_validation_only_in_the_input_layer():
    found = _scan()
    unexpected = [
        f"cleanframe/{path}:{line}: {rule}: {what}"
        for path, items in found.items()
        for line, rule, what in items
        if rule not in ALLOWED.get(path, set())
    ]
    assert not unexpected, (
        "engine differences belong in cleanframe/_engines/ and argument/column rules in "
        "cleanframe/_inputs/:\n" + "\n".join(unexpected)
    )
    stale = sorted(
        f"{path}: {rule}"
        for path, rules in ALLOWED.items()
        for rule in rules
        if rule not in {r for _, r, _ in found.get(path, [])}
    )
    if stale:
        warnings.warn(f"ALLOWED in tests/test_layers.py lists fixed files: {stale}", stacklevel=1)


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ('if fr.kind == "pandas":\n    pass', "engine_kind"),
        ('x = prep.fr.kind in ("polars", "lazy")', "engine_kind"),
        ("root = type(obj).__module__.split('.')[0]", "module_sniffing"),
        ("if 'polars' in sys.modules:\n    pass", "module_sniffing"),
        ('if hasattr(table, "collect"):\n    table = table.collect()', "frame_attribute"),
        ('cols = getattr(X, "columns", None)', "frame_attribute"),
        ('raise ValidationError("y", "rule", "message")', "validation_error"),
        ('raise errors.ValidationError("y", "rule", "message")', "validation_error"),
    ],
)
def test_the_scan_finds_each_kind_of_break(source, rule):
    assert [r for _, r, _ in _violations(ast.parse(source))] == [rule]


@pytest.mark.parametrize(
    "source",
    [
        'if values.dtype.kind == "f":\n    pass',  # a numpy dtype's kind, not an engine's
        'if fact.kind == "boolean":\n    pass',  # a factorized column's value kind
        'if hasattr(model, "predict_proba"):\n    pass',
        "raise TypeError('wrong call shape')",
    ],
)
def test_the_scan_leaves_lookalikes_alone(source):
    assert _violations(ast.parse(source)) == []
