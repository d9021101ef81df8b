"""Column specs → numpy arrays and class names: the one place input is checked.

A column spec for ``pred_probs=`` / ``features=`` is a list of column names (in class order), a
glob such as ``"p_*"`` (matched in frame order), a dict ``{class: column}`` (pred_probs only) or
the name of one column holding a fixed-length array per row.

Values are checked once, here, by a vectorised numpy gate (fast enough for 10⁸ cells). When it
finds a problem, the report is produced by the pandera schema generated from the same spec
(see :mod:`cleanframe._schemas`), so the error carries pandera-style failure cases: the column,
the rule and the first offending rows.

Probabilities within :data:`PROBABILITY_TOLERANCE` of the valid range, or whose rows sum to 1
within it, are accepted (float16 storage, softmax rounding): values are clipped to [0, 1] and
rows off by more than :data:`RENORMALIZE_ABOVE` are rescaled to sum to 1, in a copy. Columns
stored as float16 cannot sum to 1 more closely than their precision, so for them the row-sum
tolerance is float16's epsilon (2**-10, about 9.8e-4) instead.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ._frame import FrameAdapter, Factorized
from .errors import ValidationError

__all__ = [
    "PROBABILITY_TOLERANCE",
    "RENORMALIZE_ABOVE",
    "ClassSet",
    "Classification",
    "Selection",
    "resolve_columns",
    "resolve_labels",
    "default_class_order",
    "pred_probs_class_order",
    "class_code_map",
    "resolve_classification",
    "resolve_pred_probs",
    "resolve_features",
    "resolve_numeric",
    "check_probabilities",
]

#: Largest accepted distance of a probability from [0, 1], and of a row sum from 1.
PROBABILITY_TOLERANCE = 1e-4
#: Rows whose sum differs from 1 by more than this are rescaled (in a copy).
RENORMALIZE_ABOVE = 1e-5

_GLOB_CHARS = set("*?[")
_SEPARATORS = "_-.:/| "


@dataclass(frozen=True)
class ClassSet:
    """The classes of a call, in class order.

    ``values`` are in the label column's own domain (e.g. ``"cat"``, ``3``, ``True``);
    ``names`` are their string forms (used in tables and column names).
    """

    values: tuple
    names: tuple = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(str(v) for v in self.values))

    def __len__(self) -> int:
        return len(self.values)

    def index(self) -> dict:
        """Lookup from a value (or its string form) to its class position."""
        lookup: dict = {}
        for i, v in enumerate(self.values):
            lookup.setdefault(_key(v), i)
        for i, v in enumerate(self.values):
            lookup.setdefault(str(v), i)
        return lookup


def _key(value):
    """Hashable key of a label value; integral floats and numpy scalars compare as ints."""
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


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


@dataclass
class Classification:
    """Labels as codes, pred_probs in class order, and the classes."""

    label: str
    labels: np.ndarray
    pred_probs: np.ndarray
    classes: ClassSet
    pred_probs_columns: list | None


# ------------------------------------------------------------------------------------------
# column specs
# ------------------------------------------------------------------------------------------
def resolve_columns(fr: FrameAdapter, spec: Any, *, param: str, allow_dict: bool = True) -> Selection:
    """Resolve a list / glob / dict / array-column spec against the frame's columns."""
    if spec is None:
        raise ValidationError(None, "required", f"{param}= is required")
    if isinstance(spec, str):
        if _GLOB_CHARS & set(spec):
            names = [c for c in fr.columns if isinstance(c, str) and fnmatch.fnmatchcase(c, spec)]
            if not names:
                raise ValidationError(
                    spec, "column_exists",
                    f"the glob passed as {param}= matches no column; the frame has "
                    f"{fr.columns[:12]}",
                )
            return Selection(param, spec, columns=names, hint_sets=_glob_hints(spec, names))
        fr.require([spec], param=param)
        if not fr.is_array_column(spec):
            raise ValidationError(
                spec, "array_column",
                f"{param}= names one column, so it must hold one fixed-length array per row; "
                f"to use several columns pass a list or a glob such as '{spec}_*'",
            )
        return Selection(param, spec, array_column=spec)
    if isinstance(spec, Mapping):
        if not allow_dict:
            raise ValidationError(None, "spec", f"{param}= takes a list, a glob or one column name")
        columns = list(spec.values())
        fr.require(columns, param=param)
        return Selection(param, spec, columns=columns, classes=list(spec.keys()))
    if isinstance(spec, (list, tuple)) and all(isinstance(c, str) for c in spec):
        columns = list(spec)
        if not columns:
            raise ValidationError(None, "not_empty", f"{param}= is an empty list")
        fr.require(columns, param=param)
        if len(set(columns)) != len(columns):
            dup = next(c for c in columns if columns.count(c) > 1)
            raise ValidationError(dup, "unique", f"column listed twice in {param}=")
        return Selection(param, spec, columns=columns, hint_sets=_list_hints(columns))
    raise ValidationError(
        None, "spec",
        f"{param}= must be a list of column names, a glob such as 'p_*', a dict "
        f"{{class: column}} or the name of one array column, not {type(spec).__name__}",
    )


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


# ------------------------------------------------------------------------------------------
# labels and classes
# ------------------------------------------------------------------------------------------
def _check_not_empty(fr: FrameAdapter) -> None:
    if fr.height == 0:
        raise ValidationError(None, "not_empty", "the frame has no rows")


def _check_label_nulls(fr: FrameAdapter, label: str, fact: Factorized) -> None:
    bad = np.flatnonzero(fact.codes < 0)
    if len(bad):
        raise ValidationError(
            label, "not_null", "labels must not be null",
            [(r, None) for r in fr.row_labels(bad[:5])], num_failures=len(bad),
        )


def _from_hint(hint: str, kind: str):
    """A class with a pred_probs column but no rows: its value in the label's domain."""
    if kind == "integer":
        try:
            return int(hint)
        except ValueError:
            return hint
    if kind == "boolean" and hint.lower() in ("true", "false"):
        return hint.lower() == "true"
    return hint


def _infer_classes(fact: Factorized, sel: Selection | None, n_cols: int, label: str):
    """(class values in class order, column order) — column_order[i] is the column of class i."""
    if sel is not None and sel.classes is not None:
        return list(sel.classes), list(range(n_cols))
    observed = fact.categories if fact.categories is not None else fact.uniques
    keys = {_key(u): u for u in observed}
    strs = {str(u): u for u in observed}
    every_column_a_class = None  # first hint set naming a label value for every column
    for hints in (sel.hint_sets if sel is not None else []):
        if len(set(hints)) != len(hints):
            continue
        matched = [keys.get(_key(h), strs.get(h)) for h in hints]
        found = {_key(m) for m in matched if m is not None}
        if every_column_a_class is None and all(m is not None for m in matched):
            every_column_a_class = matched
        if all(_key(u) in found for u in fact.uniques):
            values = [m if m is not None else _from_hint(h, fact.kind) for m, h in zip(matched, hints)]
            if fact.categories is not None:
                # class order = category order; unused categories without a column are dropped
                pos = {_key(v): i for i, v in enumerate(values)}
                used = {_key(u) for u in fact.uniques}
                missing = [c for c in fact.categories if _key(c) not in pos and _key(c) in used]
                if missing or any(m is None for m in matched):
                    raise ValidationError(
                        label, "classes",
                        f"the label's categories {list(fact.categories)} do not match the "
                        f"pred_probs columns {hints}; pass classes=[...] in column order",
                    )
                cats = [c for c in fact.categories if _key(c) in pos]
                return cats, [pos[_key(c)] for c in cats]
            return values, list(range(n_cols))
    if every_column_a_class is not None:
        # each column is a class, but some label values have none: _codes reports those rows
        if fact.categories is not None:
            pos = {_key(v): i for i, v in enumerate(every_column_a_class)}
            cats = [c for c in fact.categories if _key(c) in pos]
            return cats, [pos[_key(c)] for c in cats]
        return every_column_a_class, list(range(n_cols))
    if fact.categories is not None and len(fact.categories) == n_cols and (
        sel is None or sel.array_column is not None
    ):
        return list(fact.categories), list(range(n_cols))
    if fact.kind in ("integer", "float") and all(
        _key(u) in range(n_cols) for u in fact.uniques
    ):
        return list(range(n_cols)), list(range(n_cols))
    if fact.kind == "boolean" and n_cols == 2:
        return [False, True], [0, 1]
    shown = sorted(map(str, fact.uniques))[:10]
    cols = sel.columns if sel is not None and sel.columns else [sel.label if sel else "?"]
    raise ValidationError(
        label, "classes",
        f"cannot tell which pred_probs column belongs to which class: label values {shown} vs "
        f"columns {cols[:10]}; pass classes=[...] (one class per column, in column order) or "
        f"a dict {{class: column}}",
    )


def class_code_map(values: Sequence, classes: ClassSet) -> np.ndarray:
    """Class position of each value (-1 when it is not a class), plus a trailing -1.

    ``class_code_map(values, classes)[codes]`` turns codes into ``values`` (with -1 = null)
    into class codes, -1 marking nulls and unknown values.
    """
    lookup = classes.index()
    return np.array(
        [lookup.get(_key(u), lookup.get(str(u), -1)) for u in values] + [-1], dtype=np.int64
    )


def default_class_order(fact: Factorized, classes: Sequence | None = None) -> list:
    """Class values when no pred_probs columns decide the order.

    ``classes=`` if given, else the column's category order, else the sorted values.
    """
    if classes is not None:
        return list(classes)
    if fact.categories is not None:
        return list(fact.categories)
    return sorted(fact.uniques, key=lambda v: (str(type(v)), v))


def _codes(fr: FrameAdapter, label: str, fact: Factorized, classes: ClassSet) -> np.ndarray:
    source = fact.categories if fact.categories is not None else fact.uniques
    codes = class_code_map(source, classes)[fact.codes]  # null codes (-1) pick the trailing -1
    bad = np.flatnonzero(codes < 0)
    if len(bad):
        values = fr.column(label)[bad[:5]]
        raise ValidationError(
            label, "known_class",
            f"label values that are not classes {list(classes.names)[:12]}",
            list(zip(fr.row_labels(bad[:5]), values)), num_failures=len(bad),
        )
    return codes


def resolve_labels(fr: FrameAdapter, label: str, *, classes: Sequence | None = None):
    """Labels without pred_probs: ``(codes, ClassSet)``.

    Class order: ``classes=`` if given, else the column's category order, else sorted values.
    """
    _check_not_empty(fr)
    fr.require([label], param="label")
    fact = fr.factorize(label)
    _check_label_nulls(fr, label, fact)
    cs = ClassSet(tuple(default_class_order(fact, classes)))
    return _codes(fr, label, fact, cs), cs


# ------------------------------------------------------------------------------------------
# probabilities and features
# ------------------------------------------------------------------------------------------
def _selection_matrix(fr: FrameAdapter, sel: Selection, order: list | None = None) -> np.ndarray:
    if sel.array_column is not None:
        m = fr.array_column(sel.array_column)
        return m if order is None or order == list(range(m.shape[1])) else m[:, order]
    cols = sel.columns if order is None else [sel.columns[i] for i in order]
    return fr.matrix(cols)


def check_probabilities(fr: FrameAdapter, P: np.ndarray, sel: Selection, columns: list | None):
    """Check a pred_probs matrix; return it, or a cleaned copy when rounding noise was fixed."""
    from .scoring.parallel import for_each_block

    tol = PROBABILITY_TOLERANCE
    n = len(P)
    # one blockwise pass: finiteness, range and row sums, without N×K temporaries
    finite = np.ones(n, dtype=bool)
    sums = np.empty(n, dtype=np.float64)
    extremes = {}

    def check_block(block):
        part = P[block]
        finite[block] = np.isfinite(part).all(axis=1)
        sums[block] = part.sum(axis=1, dtype=np.float64)
        if part.size:
            extremes[block.start] = (float(part.min()), float(part.max()))

    for_each_block(check_block, *P.shape)
    lo = min([0.0] + [v[0] for v in extremes.values()])
    hi = max([0.0] + [v[1] for v in extremes.values()])
    if not finite.all():
        _raise_cells(fr, P, sel, columns, ~finite, "finite", "probabilities must be finite (no NaN, no inf)")
    if lo < -tol:
        _raise_cells(fr, P, sel, columns, (P < -tol).any(axis=1), "in_range",
                     f"probabilities must be >= 0 (tolerance {tol:g})")
    if hi > 1 + tol:
        _raise_cells(fr, P, sel, columns, (P > 1 + tol).any(axis=1), "in_range",
                     f"probabilities must be <= 1 (tolerance {tol:g})")
    dev = np.abs(sums - 1.0)
    sum_tol = max(tol, fr.storage_eps(columns or [sel.array_column]))  # float16 storage
    if n and dev.max() > sum_tol:
        bad = np.flatnonzero(dev > sum_tol)
        raise ValidationError(
            sel.label, "row_sums_to_1",
            f"each row of pred_probs must sum to 1 (tolerance {sum_tol:g}); did you pass logits or "
            f"scores instead of probabilities?",
            [(r, f"sum={sums[b]:.6g}") for r, b in zip(fr.row_labels(bad[:5]), bad[:5])],
            num_failures=len(bad),
        )
    if lo < 0 or hi > 1:
        P = np.clip(P, 0, 1)
        sums = P.sum(axis=1, dtype=np.float64)
        dev = np.abs(sums - 1.0)
    fix = dev > RENORMALIZE_ABOVE
    if fix.any():
        P = P.copy() if not P.flags.owndata or not P.flags.writeable else P
        P[fix] = P[fix] / sums[fix, None].astype(P.dtype)
    return P


def _raise_cells(fr, P, sel, columns, bad_rows, rule, message, *, probabilities=True):
    """Raise for the offending cells. The pandera report (probability schema) is used only for
    probability matrices (``probabilities=True``); other matrices report the numpy findings."""
    rows = np.flatnonzero(bad_rows)
    first = rows[0]
    col_idx = int(np.flatnonzero(_bad_in_row(P[first], rule))[0]) if columns else None
    column = columns[col_idx] if columns else sel.label
    report = None
    if columns and probabilities:
        from ._schemas import pandera_failure_report

        report = pandera_failure_report(fr, columns, rule)
    if report:
        column, cases, total = report
        raise ValidationError(column, rule, message, cases, num_failures=total)
    cases = [(r, P[b].tolist() if not columns else float(P[b, col_idx]))
             for r, b in zip(fr.row_labels(rows[:5]), rows[:5])]
    raise ValidationError(column, rule, message, cases, num_failures=len(rows))


def _bad_in_row(row, rule):
    if rule == "finite":
        return ~np.isfinite(row)
    if rule == "not_infinite":
        return np.isinf(row)
    return (row < -PROBABILITY_TOLERANCE) | (row > 1 + PROBABILITY_TOLERANCE)


def pred_probs_class_order(
    fact: Factorized, sel: Selection, n_cols: int, label: str, classes: Sequence | None = None
) -> tuple[list, list]:
    """``(class values in class order, column of each class)`` for ``n_cols`` pred_probs columns.

    ``classes=`` if given (one per column), else inferred from the column names and the label
    values ``fact``; checks at least two columns and distinct classes.
    """
    if n_cols < 2:
        raise ValidationError(sel.label, "at_least_2_classes", "pred_probs needs at least two class columns")
    if classes is not None:
        values = list(classes)
        if len(values) != n_cols:
            raise ValidationError(
                sel.label, "classes",
                f"classes= has {len(values)} entries but pred_probs has {n_cols} columns",
            )
        order = list(range(n_cols))
    else:
        values, order = _infer_classes(fact, sel, n_cols, label)
    if len(set(map(_key, values))) != len(values):
        raise ValidationError(label, "classes", f"classes are not distinct: {values}")
    return values, order


def resolve_classification(
    fr: FrameAdapter,
    *,
    label: str,
    pred_probs: Any,
    classes: Sequence | None = None,
) -> Classification:
    """Labels + pred_probs + classes for a classification call, all checked."""
    _check_not_empty(fr)
    if not isinstance(label, str):
        raise ValidationError(None, "spec", f"label= must be one column name, not {label!r}")
    fr.require([label], param="label")
    sel = resolve_columns(fr, pred_probs, param="pred_probs")
    if sel.columns is not None and label in sel.columns:
        raise ValidationError(label, "spec", "the label column is also listed in pred_probs=")
    fact = fr.factorize(label)
    _check_label_nulls(fr, label, fact)
    n_cols = len(sel.columns) if sel.columns is not None else None
    if n_cols is None:
        P = fr.array_column(sel.array_column)
        n_cols = P.shape[1]
    else:
        P = None
    values, order = pred_probs_class_order(fact, sel, n_cols, label, classes)
    cs = ClassSet(tuple(values))
    codes = _codes(fr, label, fact, cs)
    columns = [sel.columns[i] for i in order] if sel.columns is not None else None
    if P is None:
        P = fr.matrix(columns)
    elif order != list(range(n_cols)):
        P = P[:, order]
    P = check_probabilities(fr, P, sel, columns)
    return Classification(label, codes, P, cs, columns)


def resolve_pred_probs(fr: FrameAdapter, pred_probs: Any, *, classes: Sequence | None = None):
    """pred_probs without labels: ``(matrix, ClassSet)``; classes from ``classes=`` or the spec."""
    _check_not_empty(fr)
    sel = resolve_columns(fr, pred_probs, param="pred_probs")
    P = _selection_matrix(fr, sel)
    if classes is not None:
        values = list(classes)
    elif sel.classes is not None:
        values = list(sel.classes)
    elif sel.hint_sets:
        values = sel.hint_sets[0]
    else:
        values = list(range(P.shape[1]))
    if len(values) != P.shape[1]:
        raise ValidationError(sel.label, "classes",
                              f"classes= has {len(values)} entries but pred_probs has {P.shape[1]} columns")
    if P.shape[1] < 2:
        raise ValidationError(sel.label, "at_least_2_classes", "pred_probs needs at least two class columns")
    return check_probabilities(fr, P, sel, sel.columns), ClassSet(tuple(values))


def resolve_features(fr: FrameAdapter, features: Any, *, allow_missing: bool = False) -> np.ndarray:
    """Numeric feature matrix (N, D) from a list / glob / array-column spec; NaN/inf rejected.

    With ``allow_missing=True`` nulls/NaN are kept (as NaN) and only infinities are rejected
    (for checks that count missing values).
    """
    _check_not_empty(fr)
    sel = resolve_columns(fr, features, param="features", allow_dict=False)
    X = _selection_matrix(fr, sel)
    ok = ~np.isinf(X) if allow_missing else np.isfinite(X)
    ok = ok.all(axis=1)
    if not ok.all():
        what = "features must not be infinite" if allow_missing else "features must be finite (no NaN, no inf)"
        rule = "not_infinite" if allow_missing else "finite"
        _raise_cells(fr, X, sel, sel.columns, ~ok, rule, what, probabilities=False)
    return X


def resolve_numeric(fr: FrameAdapter, column: Any, *, param: str) -> np.ndarray:
    """One numeric column (e.g. a regression target or predictions) as float64, all finite.

    The column must exist and be numeric; nulls, NaN and infinities are a ValidationError that
    names the column, the rule ``finite`` and the first offending rows.
    """
    _check_not_empty(fr)
    if not isinstance(column, str):
        raise ValidationError(None, "spec", f"{param}= must be one column name, not {column!r}")
    fr.require([column], param=param)
    values = fr.matrix([column])[:, 0].astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise ValidationError(
            column, "finite", f"{param} values must be finite numbers (no null, NaN or inf)",
            list(zip(fr.row_labels(bad[:5]), values[bad[:5]].tolist())), num_failures=len(bad),
        )
    return values
