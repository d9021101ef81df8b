"""Column specs → column names: lists, globs, dicts and one array column.

A column spec for ``pred_probs=`` / ``features=`` / ``annotators=`` is a list of column names (in
class order), a glob such as ``"p_*"`` (matched in frame order), a dict ``{class: column}``
(pred_probs only) or the name of one column holding a fixed-length array per row. The hints
(candidate class names) come from the part of each name the glob's ``*`` matched, or the list's
names with their common prefix stripped.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._engines import Engine
from .._engines._base import float_dtype
from ..errors import ValidationError

__all__ = [
    "Selection",
    "array_matrix",
    "check_not_empty",
    "check_no_duplicates",
    "check_result_columns",
    "check_unique",
    "describe_columns",
    "glob_columns",
    "glob_regex",
    "is_glob",
    "numeric_matrix",
    "parse_column_spec",
    "require_columns",
    "resolve_columns",
    "selection_matrix",
    "spec_name",
]

_GLOB_CHARS = set("*?[")

_SEPARATORS = "_-.:/| "


@dataclass
class Selection:
    """Resolved column spec: either ``columns`` or one ``array_column``; ``hints`` name classes."""

    param: str
    spec: Any
    columns: list | None = None
    array_column: str | None = None
    hint_sets: list = field(default_factory=list)  # candidate class-name lists, best first
    classes: list | None = None  # dict spec: the keys

    @property
    def label(self) -> str:
        """How to name this spec in a message."""
        return self.array_column or (self.spec if isinstance(self.spec, str) else self.param)


def parse_column_spec(spec: Any, *, param: str, allow_dict: bool = True) -> tuple[str, Any]:
    """The shape of a column spec, before any frame is seen: ``("glob", pattern)``,
    ``("array", column)``, ``("dict", {class: column})`` or ``("list", [columns])``."""
    if spec is None:
        raise ValidationError(None, "required", f"{param}= is required")
    if isinstance(spec, str):
        return ("glob" if is_glob(spec) else "array"), spec
    if isinstance(spec, Mapping):
        if not allow_dict:
            raise ValidationError(None, "spec", f"{param}= takes a list, a glob or one column name")
        return "dict", dict(spec)
    if isinstance(spec, (list, tuple)) and all(isinstance(c, str) for c in spec):
        if not spec:
            raise ValidationError(None, "not_empty", f"{param}= is an empty list")
        return "list", list(spec)
    raise ValidationError(
        None,
        "spec",
        f"{param}= must be a list of column names, a glob such as 'p_*', a dict "
        f"{{class: column}} or the name of one array column, not {type(spec).__name__}",
    )


def check_unique(columns: Sequence[Any], *, param: str) -> None:
    """A column listed twice in one spec is an error."""
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if list(columns).count(c) > 1)
        raise ValidationError(dup, "unique", f"duplicate: the column is listed twice in {param}=")


def check_no_duplicates(fr: Engine, names: Sequence[Any], *, param: str | None = None) -> None:
    """Each column a call reads has a name no other column of the frame has (rule ``unique``).

    A pandas frame may hold several columns of one name; none of them can then be read as the
    column of that name, so the caller has to rename or drop the duplicates.
    """
    everything = fr.columns
    if len(set(everything)) == len(everything):
        return
    counts = Counter(everything)
    for name in names:
        if counts[name] > 1:
            hint = f" (passed as {param}=)" if param else ""
            raise ValidationError(
                name,
                "unique",
                f"duplicate column name{hint}: the frame has {counts[name]} columns named "
                f"{name!r}; rename or drop the duplicates",
            )


def describe_columns(names: Sequence[Any], near: str, limit: int = 12) -> str:
    """The frame's columns for a message about ``near`` (a name or a glob that found nothing).

    All of them in frame order when they fit in ``limit``; else the ``limit`` most similar to
    ``near`` first -- those sharing its literal prefix (or, for a glob, its literal suffix) the
    longest, then the closest in spelling, then in frame order -- and "…" for the rest.
    """
    names = list(names)
    if len(names) <= limit:
        return f"the frame has {[*names]}"
    pattern = str(near).lower()
    parts = re.split(r"[*?\[]", pattern)
    head, tail = parts[0], (parts[-1] if len(parts) > 1 else "")
    literal = "".join(parts)

    def closeness(name: Any) -> tuple:
        text = str(name).lower()
        shared = len(os.path.commonprefix([head, text]))
        if tail:
            shared += len(os.path.commonprefix([tail[::-1], text[::-1]]))
        return (-shared, -difflib.SequenceMatcher(None, literal, text).ratio())

    ranked = sorted(names, key=closeness)[:limit]
    shown = ", ".join(repr(n) for n in ranked)
    return f"the frame has {len(names)} columns, the closest to {near!r} first: [{shown}, …]"


def resolve_columns(fr: Engine, spec: Any, *, param: str, allow_dict: bool = True) -> Selection:
    """Resolve a list / glob / dict / array-column spec against the frame's columns."""
    kind, value = parse_column_spec(spec, param=param, allow_dict=allow_dict)
    if kind == "glob":
        names = glob_columns(spec, fr.columns)
        if not names:
            known = describe_columns(fr.columns, spec)
            raise ValidationError(
                spec, "column_exists", f"the glob passed as {param}= matches no column; {known}"
            )
        check_no_duplicates(fr, names, param=param)
        return Selection(param, spec, columns=names, hint_sets=_glob_hints(spec, names))
    if kind == "array":
        require_columns(fr, [spec], param=param)
        if not fr.is_array_column(spec):
            raise ValidationError(
                spec,
                "array_column",
                f"{param}= names one column, so it must hold one fixed-length array per row; "
                f"to use several columns pass a list or a glob such as '{spec}_*'",
            )
        return Selection(param, spec, array_column=spec)
    if kind == "dict":
        columns = list(value.values())
        require_columns(fr, columns, param=param)
        return Selection(param, spec, columns=columns, classes=list(value.keys()))
    require_columns(fr, value, param=param)
    check_unique(value, param=param)
    return Selection(param, spec, columns=value, hint_sets=_list_hints(value))


def is_glob(spec: Any) -> bool:
    """Whether a column spec is a glob (a string with ``*``, ``?`` or ``[``); any other string
    names one column."""
    return isinstance(spec, str) and bool(_GLOB_CHARS & set(spec))


def glob_columns(pattern: str, names: Sequence[Any]) -> list:
    """The column names that a glob matches (case-sensitive, whole name), in frame order."""
    return [c for c in names if isinstance(c, str) and fnmatch.fnmatchcase(c, pattern)]


def glob_regex(pattern: str) -> str:
    """A regular expression that matches the names :func:`glob_columns` matches, anchored with
    ``^...$`` and written in the syntax common to Python's ``re`` and Rust's ``regex`` (which
    polars uses), for pandera's ``regex=True`` columns."""
    out, i, n = ["^"], 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i + (i < n and pattern[i] == "!")
            j += j < n and pattern[j] == "]"
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                out.append(re.escape(c))
                continue
            body, i = pattern[i:j], j + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            chars = [ch if ch.isalnum() or ch == "-" else "\\" + ch for ch in body]
            out.append("[" + "^" * negate + "".join(chars) + "]")
        else:
            out.append(c if c.isalnum() or c == "_" else "\\" + c)
    return "".join(out) + "$"


def _glob_hints(pattern: str, names: list) -> list:
    if pattern.count("*") == 1 and not (set("?[") & set(pattern)):
        head, tail = pattern.split("*")
        return [[n[len(head) : len(n) - len(tail)] for n in names], list(names)]
    return _list_hints(names)


def _list_hints(names: list) -> list:
    """Candidate class names for a list of columns: prefix stripped at a separator, fully, none."""
    if len(names) < 2:
        return [list(names)]
    prefix = os.path.commonprefix(names)
    suffix = os.path.commonprefix([n[::-1] for n in names])[::-1]
    cut = max((prefix.rfind(s) for s in _SEPARATORS), default=-1) + 1
    out = []
    for p in dict.fromkeys([prefix[:cut], prefix, ""]):
        for s in dict.fromkeys(["", suffix]):
            hints = [n[len(p) : len(n) - len(s)] for n in names]
            if all(hints) and hints not in out:
                out.append(hints)
    return out or [list(names)]


def check_not_empty(fr: Engine) -> None:
    if fr.height == 0:
        raise ValidationError(None, "not_empty", "the frame has no rows")


def selection_matrix(fr: Engine, sel: Selection, order: list | None = None) -> np.ndarray:
    if sel.array_column is not None:
        m = array_matrix(fr, sel.array_column)
        return m if order is None or order == list(range(m.shape[1])) else m[:, order]
    assert sel.columns is not None  # a Selection holds either columns or one array column
    cols = sel.columns if order is None else [sel.columns[i] for i in order]
    return numeric_matrix(fr, cols)


def require_columns(fr: Engine, columns: Sequence[str], *, param: str | None = None) -> None:
    """Every one of ``columns`` is in the frame (rule ``column_exists``)."""
    present = set(fr.columns)
    for name in columns:
        if name not in present:
            hint = f" (passed as {param}=)" if param else ""
            raise ValidationError(
                name,
                "column_exists",
                f"no such column{hint}; {describe_columns(fr.columns, name)}",
            )
    check_no_duplicates(fr, columns, param=param)


def check_result_columns(fr: Engine, names: Sequence[str], *, overwrite: bool) -> None:
    """Result columns must not replace the caller's columns unless ``overwrite`` (rule
    ``no_overwrite``); checked before any work is done."""
    if overwrite:
        return
    present = set(fr.columns)
    clash = [n for n in names if n in present]
    if clash:
        raise ValidationError(
            clash[0],
            "no_overwrite",
            f"the result column {clash[0]!r} already exists in the frame; rename it or pass "
            f"overwrite=True to replace it",
        )


def numeric_matrix(fr: Engine, columns: Sequence[str]) -> np.ndarray:
    """Numeric columns (rule ``numeric``: not booleans, not strings) as a 2-D float array."""
    bad = fr.non_numeric(columns)
    if bad:
        name, dtype = bad[0]
        raise ValidationError(name, "numeric", f"expected a numeric column, found dtype {dtype}")
    return fr.matrix(columns)


def array_matrix(fr: Engine, name: str) -> np.ndarray:
    """One column of fixed-length numeric arrays as a 2-D float array; null or ragged rows and
    non-numeric items are errors (rules ``not_null``, ``fixed_length``, ``numeric``)."""
    rows = fr.array_rows(name)
    if rows.ndim == 2:
        return rows
    return _stack_rows(name, rows, fr)


def _stack_rows(name, values: np.ndarray, frame: Engine) -> np.ndarray:
    """Rows of lists/arrays → a 2-D float array; ragged or null rows are errors."""
    lengths = np.fromiter(
        (-1 if v is None else len(v) for v in values), dtype=np.int64, count=len(values)
    )
    if (lengths < 0).any():
        bad = np.flatnonzero(lengths < 0)
        raise ValidationError(
            name,
            "not_null",
            "null arrays",
            list(zip(frame.row_labels(bad[:5]), [None] * 5)),
            num_failures=len(bad),
        )
    if len(values) and (lengths != lengths[0]).any():
        width = np.bincount(lengths).argmax()
        bad = np.flatnonzero(lengths != width)
        raise ValidationError(
            name,
            "fixed_length",
            f"every row must hold an array of the same length (most have {width})",
            [(r, f"length {lengths[b]}") for r, b in zip(frame.row_labels(bad[:5]), bad[:5])],
            num_failures=len(bad),
        )
    if not len(values):
        return np.empty((0, 0))
    try:
        out = np.vstack([np.asarray(v) for v in values])
    except (TypeError, ValueError) as exc:  # pragma: no cover - odd objects
        raise ValidationError(name, "numeric", f"arrays are not numeric: {exc}") from None
    if out.dtype.kind not in "fiu":
        raise ValidationError(name, "numeric", f"arrays must be numeric, found {out.dtype}")
    return out.astype(float_dtype([out.dtype]), copy=False)


def spec_name(spec: Any) -> str | None:
    """How to name a column spec in a message: the glob or column name, or the first columns."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, (list, tuple)) and spec:
        return ", ".join(map(str, spec[:3])) + (", ..." if len(spec) > 3 else "")
    return None
