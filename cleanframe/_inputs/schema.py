"""pandera schemas generated from the column specs: the user-facing input contract.

:func:`schema` (public as ``cleanframe.schema``) states the rules of the input layer as a pandera
schema that users can put into their own pipelines, and the reports of the numpy gate
(:mod:`cleanframe._inputs.probabilities`) come from its pred_probs part
(:func:`probability_schema`): the gate decides *whether* large inputs are valid, and when they
are not, pandera names the column, the check and the offending rows. Both take their bounds and
tolerances from :mod:`cleanframe._inputs.rules` and compare in float64, and ``tests/test_schema.py``
checks that they accept and reject the same frames.

A pandera schema belongs to one library: ``pandera.pandas`` for pandas, ``pandera.polars`` for
polars, chosen by the engine's ``pandera_backend``. The checks themselves are written by the
engine (:class:`cleanframe._engines.PanderaChecks`) in its own operations; this module only says
which rule applies where. pandera is imported only when a schema is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._engines import Engine, PanderaChecks, adapt, pandera_checks
from ..errors import ValidationError
from .arguments import choice
from .classes import (
    ClassSet,
    class_label_values,
    classification_spec,
    default_class_order,
    pred_probs_class_order,
    pred_probs_classes,
)
from .columns import (
    Selection,
    array_matrix,
    check_unique,
    glob_columns,
    glob_regex,
    parse_column_spec,
    require_columns,
    resolve_columns,
)
from .rules import (
    MIN_CLASSES,
    PROBABILITY_MAX,
    PROBABILITY_MIN,
    PROBABILITY_TOLERANCE,
    row_sum_tolerance,
)

if TYPE_CHECKING:
    from pandera.api.dataframe.container import DataFrameSchema

__all__ = ["pandera_failure_report", "probability_schema", "schema"]

#: The libraries pandera validates (a Dask frame's partitions are pandas frames).
BACKENDS = ("pandas", "polars")
_IN_RANGE = f"probabilities must be in [0, 1] (tolerance {PROBABILITY_TOLERANCE:g})"


def schema(
    df: Any = None,
    *,
    label: str | None = None,
    pred_probs: Any = None,
    features: Any = None,
    classes: Sequence | None = None,
    backend: str | None = None,
) -> DataFrameSchema:
    """cleanframe's input contract as a pandera schema, for the caller's frame type.

    The schema states the rules that the methods (``find_label_issues``, ``health_summary``,
    ``find_outliers``, ...) apply to the same keywords, so a pipeline can check a frame before
    it reaches cleanframe, or keep the contract next to its own schemas:

    - ``label``: not null; one of the classes, when they are known;
    - ``pred_probs``: numbers, not null, finite, within [0, 1] up to a tolerance of 1e-4; each
      row sums to 1 within 1e-4 (float16 storage: within float16's epsilon, 2**-10); at least
      two columns;
    - ``features``: numbers, not null, finite;
    - the frame has rows.

    A frame passes the schema built from it if and only if the methods accept its columns
    (``tests/test_schema.py`` checks this on generated frames); the methods' own arguments and
    result-column names are theirs to check.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame, optional
        A frame to resolve the column specs against, as the methods do: globs become the
        columns they match, and the classes are inferred from the column names and the label
        values (pass ``classes=`` to name them). The schema is of the frame's library. Spec
        errors (a missing column, an ambiguous class mapping) raise a
        :class:`~cleanframe.ValidationError` here, with the methods' message.
    label : str, optional
        The label column.
    pred_probs : list, str or dict, optional
        Predicted probabilities: a list of columns in class order, a glob such as ``"p_*"``, a
        dict ``{class: column}`` or one column holding a fixed-length array per row.
    features : list or str, optional
        Numeric feature columns: a list, a glob or one array column.
    classes : sequence, optional
        The classes, one per pred_probs column, in column order. Without a frame, labels are
        checked against the classes only when they are known: ``classes=`` or a dict
        ``pred_probs``.
    backend : {"pandas", "polars"}, optional
        Without a frame: the library of the frames to validate (default ``"pandas"``). A glob
        becomes a pandera column with ``regex=True``.

    Returns
    -------
    pandera.pandas.DataFrameSchema or pandera.polars.DataFrameSchema
        Call ``.validate(frame)`` (``lazy=True`` to collect every failure). Check names are
        the rules of cleanframe's :class:`~cleanframe.ValidationError` (``numeric``,
        ``finite``, ``in_range``, ``row_sums_to_1``, ``at_least_2_classes``, ``not_empty``);
        nulls fail pandera's ``not_nullable`` and unknown labels its ``isin``.

    Notes
    -----
    Where it runs: a pandas DataFrame and a polars DataFrame are checked whole (columns and
    values). On a polars LazyFrame, pandera checks only the columns, not the values (its
    ``SCHEMA_ONLY`` default for lazy frames); validate ``lf.collect()``, or set pandera's
    validation depth to ``SCHEMA_AND_DATA``, to check the values too. The polars checks are
    polars expressions.

    This function does not modify ``df``.

    Examples
    --------
    >>> import pandas as pd
    >>> import pandera.pandas as pa
    >>> import cleanframe
    >>> df = pd.DataFrame({"y": ["cat", "dog", "cat"],
    ...                    "p_cat": [0.9, 0.2, 0.6], "p_dog": [0.1, 0.8, 0.4]})
    >>> contract = cleanframe.schema(df, label="y", pred_probs="p_*")
    >>> list(contract.columns)
    ['y', 'p_cat', 'p_dog']
    >>> contract.validate(df).shape
    (3, 3)
    >>> bad = df.assign(y=["cat", "fox", "cat"], p_cat=[0.9, 0.2, 1.5], p_dog=[0.1, 0.8, -0.5])
    >>> try:
    ...     contract.validate(bad, lazy=True)
    ... except pa.errors.SchemaErrors as err:
    ...     print(err.failure_cases[["column", "check", "failure_case", "index"]])
      column                 check failure_case  index
    0      y  isin(['cat', 'dog'])          fox      1
    1  p_cat              in_range          1.5      2
    2  p_dog              in_range         -0.5      2

    Without a frame, for polars frames (the glob becomes a regex column):

    >>> import polars as pl
    >>> contract = cleanframe.schema(label="y", pred_probs="p_*", classes=["cat", "dog"],
    ...                              backend="polars")
    >>> contract.validate(pl.from_pandas(df)).shape
    (3, 3)
    """
    if isinstance(df, str):
        raise TypeError(
            "schema() takes a frame (or nothing) first; the columns go in label=, pred_probs= "
            f"and features=, e.g. schema(label={df!r}, pred_probs='p_*')"
        )
    if classes is not None and label is None and pred_probs is None:
        raise ValidationError(
            None, "spec", "classes= names the classes of label= or pred_probs=; pass one of them"
        )
    if label is None and pred_probs is None and features is None:
        raise ValidationError(
            None, "spec", "schema() needs at least one of label=, pred_probs= and features="
        )
    if label is not None and not isinstance(label, str):
        raise ValidationError(None, "spec", f"label= must be one column name, not {label!r}")
    if df is None:
        backend = choice("pandas" if backend is None else backend, BACKENDS, "backend")
        return _Builder(backend).without_frame(label, pred_probs, features, classes)
    fr = adapt(df)
    if backend is not None and backend != fr.pandera_backend:
        raise ValidationError(
            None,
            "backend",
            f"backend={backend!r} does not match the frame, which pandera.{fr.pandera_backend} "
            f"validates; leave backend= out when passing a frame",
        )
    return _Builder(fr.pandera_backend).with_frame(fr, label, pred_probs, features, classes)


def probability_schema(backend: str, columns: Sequence[str]):
    """The pred_probs columns' part of :func:`schema` alone (every column a number, non-null,
    finite and within range), for the gate's failure reports."""
    builder = _Builder(backend)
    return builder.schema(builder.probability_columns(columns), frame_checks=[])


def pandera_failure_report(fr: Engine, columns: Sequence[str], rule: str):
    """``(first failing column, [(row, value), ...], number of failing rows)`` or ``None``.

    A cell that fails several checks (NaN is null and not finite in polars) is counted once.
    """
    try:
        checked = probability_schema(fr.pandera_backend, columns)
    except ImportError:  # pragma: no cover - pandera is a core dependency
        return None
    cases = fr.pandera_failures(checked, columns)
    if not cases:
        return None
    first = cases[0][0]
    rows: dict = {}
    for column, row, value in cases:
        if column == first:
            rows.setdefault(row, value)
    mine = list(rows.items())
    return first, mine[:5], len(mine)


class _Builder:
    """The parts of a schema for one pandera backend: columns by role, and the frame checks."""

    def __init__(self, backend: str):
        self.pa = importlib.import_module(f"pandera.{backend}")
        self.checks: PanderaChecks = pandera_checks(backend)

    def schema(self, columns: dict, *, frame_checks: list, description: str | None = None):
        return self.pa.DataFrameSchema(
            columns,
            checks=frame_checks,
            strict=False,
            coerce=False,
            name="cleanframe",
            description=description,
        )

    # -- columns by role -------------------------------------------------------------------
    def label_column(self, allowed: list | None, description: str, *, classified: bool = False):
        """The label column: non-null, values among ``allowed`` (when known) and, for a
        classification (``classified``: labels with pred_probs), at least two classes occur."""
        checks = []
        if allowed is not None:
            checks.append(self.pa.Check.isin(allowed))
        if classified:
            checks.append(
                self.checks.distinct_at_least(
                    MIN_CLASSES,
                    name="at_least_2_classes",
                    description=f"at least {MIN_CLASSES} classes must occur in the label column",
                )
            )
        return self.pa.Column(checks=checks, nullable=False, description=description)

    def probability_columns(
        self, names: Sequence[str], *, regex: bool = False, described: Sequence[str] | None = None
    ) -> dict:
        c = self.checks
        return {
            name: self.pa.Column(
                checks=[
                    c.numeric(name="numeric", description="probabilities must be numbers"),
                    c.finite(
                        name="finite", description="probabilities must be finite (no NaN, no inf)"
                    ),
                    c.between(
                        PROBABILITY_MIN,
                        PROBABILITY_MAX,
                        name="in_range",
                        description=_IN_RANGE,
                    ),
                ],
                nullable=False,
                regex=regex,
                required=not regex,  # globs: see glob_checks
                description=described[i] if described is not None else "pred_probs",
            )
            for i, name in enumerate(names)
        }

    def probability_array_column(self, width: int | None):
        c = self.checks
        return self.pa.Column(
            checks=[
                c.array_length(
                    width,
                    name="fixed_length",
                    description="each row must hold one probability per class",
                ),
                c.array_values(
                    finite=True,
                    name="finite",
                    description="probabilities must be finite numbers (no NaN, no inf)",
                ),
                c.array_values(
                    low=PROBABILITY_MIN,
                    high=PROBABILITY_MAX,
                    name="in_range",
                    description=_IN_RANGE,
                ),
                c.array_sums(
                    row_sum_tolerance,
                    name="row_sums_to_1",
                    description="each row of pred_probs must sum to 1",
                ),
            ],
            nullable=False,
            description="pred_probs: one array of probabilities per row",
        )

    def feature_columns(self, names: Sequence[str], *, regex: bool = False) -> dict:
        c = self.checks
        return {
            name: self.pa.Column(
                checks=[
                    c.numeric(name="numeric", description="features must be numbers"),
                    c.finite(name="finite", description="features must be finite (no NaN, no inf)"),
                ],
                nullable=False,
                regex=regex,
                required=not regex,
                description="features",
            )
            for name in names
        }

    def feature_array_column(self):
        c = self.checks
        return self.pa.Column(
            checks=[
                c.array_length(
                    None,
                    name="fixed_length",
                    description="every row must hold an array of the same length",
                ),
                c.array_values(
                    finite=True,
                    name="finite",
                    description="features must be finite numbers (no NaN, no inf)",
                ),
            ],
            nullable=False,
            description="features: one array per row",
        )

    # -- frame checks ----------------------------------------------------------------------
    def not_empty(self):
        return self.checks.not_empty(name="not_empty", description="the frame has no rows")

    def row_sums(self, select: Callable[[list], list]):
        return self.checks.row_sums(
            select,
            row_sum_tolerance,
            name="row_sums_to_1",
            description=f"each row of pred_probs must sum to 1 (tolerance "
            f"{PROBABILITY_TOLERANCE:g}; float16 storage: its epsilon)",
        )

    def feature_glob_checks(self, pattern: str) -> list:
        """Frame checks of a features glob: it matches a column."""
        return [
            self.checks.frame_columns(
                lambda names: bool(glob_columns(pattern, names)),
                name="column_exists",
                description=f"features={pattern!r} must match a column",
            )
        ]

    def glob_checks(self, pattern: str, label: str | None, n_classes: int | None) -> list:
        """Frame checks of a pred_probs glob, which only the frame's column names can decide (its
        regex column is not ``required``: pandera's "no column matches" failure would not mix
        with these in a lazy report)."""
        c = self.checks

        def matched(names):
            return glob_columns(pattern, names)

        out = [
            c.frame_columns(
                lambda names: len(matched(names)) >= MIN_CLASSES,
                name="at_least_2_classes",
                description=f"pred_probs={pattern!r} must match at least two columns",
            )
        ]
        if n_classes is not None:
            out.append(
                c.frame_columns(
                    lambda names: len(matched(names)) == n_classes,
                    name="classes",
                    description=f"pred_probs={pattern!r} must match one column per class "
                    f"({n_classes})",
                )
            )
        if label is not None:
            out.append(
                c.frame_columns(
                    lambda names: label not in matched(names),
                    name="spec",
                    description=f"the label column {label!r} must not match pred_probs={pattern!r}",
                )
            )
        out.append(self.row_sums(matched))
        return out

    # -- whole schemas ---------------------------------------------------------------------
    def with_frame(self, fr: Engine, label, pred_probs, features, classes):
        columns: dict = {}
        frame_checks = [self.not_empty()]
        if pred_probs is not None and label is not None:
            spec = classification_spec(
                fr, label=label, pred_probs=pred_probs, classes=classes, labels_not_null=False
            )
            allowed = class_label_values(spec.labels, spec.classes)
            columns[label] = self.label_column(allowed, _label_text(spec.classes), classified=True)
            self._add_probabilities(
                columns, frame_checks, spec.selection, spec.columns, spec.classes
            )
        elif pred_probs is not None:
            sel = resolve_columns(fr, pred_probs, param="pred_probs")
            if sel.array_column is not None:
                width = array_matrix(fr, sel.array_column).shape[1]
            else:
                width = len(sel.columns or ())
            self._add_probabilities(
                columns, frame_checks, sel, sel.columns, pred_probs_classes(sel, width, classes)
            )
        elif label is not None:
            require_columns(fr, [label], param="label")
            allowed = None
            if classes is not None:  # else every value is a class, as the methods infer them
                fact = fr.factorize(label)
                allowed = class_label_values(
                    fact, ClassSet(tuple(default_class_order(fact, classes)))
                )
            columns[label] = self.label_column(allowed, "label")
        if features is not None:
            sel = resolve_columns(fr, features, param="features", allow_dict=False)
            part = (
                {sel.array_column: self.feature_array_column()}
                if sel.columns is None
                else self.feature_columns(sel.columns)
            )
            _merge(columns, part, "features")
        return self.schema(
            columns, frame_checks=frame_checks, description=_describe(label, pred_probs, features)
        )

    def _add_probabilities(self, columns, frame_checks, sel: Selection, names, classes: ClassSet):
        if names is None:
            _merge(
                columns,
                {sel.array_column: self.probability_array_column(len(classes))},
                "pred_probs",
            )
            return
        described = [f"pred_probs of class {c!r}" for c in classes.names]
        _merge(columns, self.probability_columns(names, described=described), "pred_probs")
        chosen = list(names)
        frame_checks.append(self.row_sums(lambda _names: chosen))

    def without_frame(self, label, pred_probs, features, classes):
        columns: dict = {}
        frame_checks = [self.not_empty()]
        known = list(classes) if classes is not None else None
        if pred_probs is not None:
            kind, value = parse_column_spec(pred_probs, param="pred_probs")
            if kind == "dict" and known is None:
                known = list(value.keys())
            if kind == "glob":
                columns.update(self.probability_columns([glob_regex(value)], regex=True))
                frame_checks += self.glob_checks(
                    value, label, len(known) if known is not None else None
                )
            elif kind == "array":
                columns[value] = self.probability_array_column(
                    len(known) if known is not None else None
                )
            else:
                names = list(value.values()) if kind == "dict" else value
                check_unique(names, param="pred_probs")
                if label is not None and label in names:
                    raise ValidationError(
                        label, "spec", "the label column is also listed in pred_probs="
                    )
                sel = Selection("pred_probs", pred_probs, columns=names)
                if known is not None:  # one class per column, distinct, at least two
                    pred_probs_class_order(None, sel, len(names), label or sel.label, known)
                elif len(names) < MIN_CLASSES:
                    raise ValidationError(
                        sel.label,
                        "at_least_2_classes",
                        "pred_probs needs at least two class columns",
                    )
                columns.update(self.probability_columns(names))
                frame_checks.append(self.row_sums(lambda _names: names))
        if label is not None:
            if label in columns:
                raise ValidationError(
                    label, "spec", "the label column is also listed in pred_probs="
                )
            columns[label] = self.label_column(
                known,
                _label_text(ClassSet(tuple(known))) if known is not None else "label",
                classified=pred_probs is not None,
            )
        if features is not None:
            kind, value = parse_column_spec(features, param="features", allow_dict=False)
            if kind == "glob":
                part = self.feature_columns([glob_regex(value)], regex=True)
                frame_checks += self.feature_glob_checks(value)
            elif kind == "array":
                part = {value: self.feature_array_column()}
            else:
                check_unique(value, param="features")
                part = self.feature_columns(value)
            _merge(columns, part, "features")
        return self.schema(
            columns, frame_checks=frame_checks, description=_describe(label, pred_probs, features)
        )


def _merge(columns: dict, part: dict, param: str) -> None:
    """Add the columns of one role; a column given in two roles is an error."""
    for name, column in part.items():
        if name in columns:
            raise ValidationError(
                name, "spec", f"the column is given in {param}= and in another argument"
            )
        columns[name] = column


def _label_text(classes: ClassSet) -> str:
    shown = ", ".join(map(repr, classes.names[:12])) + (", ..." if len(classes) > 12 else "")
    return f"label: one of the classes [{shown}]"


def _describe(label, pred_probs, features) -> str:
    given = {"label": label, "pred_probs": pred_probs, "features": features}
    return "cleanframe input: " + ", ".join(f"{k}={v!r}" for k, v in given.items() if v is not None)
