"""Labels → class codes and class names: inference of the class order, the label rules.

Class order: ``classes=`` if given, else a pandas ``category`` / polars ``Enum`` column's own
category order, else the pred_probs column order (or the sorted values, without pred_probs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._engines import Engine, Factorized
from ..errors import ValidationError
from .columns import (
    Selection,
    array_matrix,
    check_not_empty,
    numeric_matrix,
    require_columns,
    resolve_columns,
)
from .rules import MIN_CLASSES

__all__ = [
    "ClassSet",
    "ClassificationSpec",
    "classification_spec",
    "pred_probs_classes",
    "class_key",
    "check_label_nulls",
    "check_classes_occur",
    "check_merge_keeps_classes",
    "class_code_map",
    "class_label_values",
    "default_class_order",
    "label_codes",
    "resolve_labels",
    "pred_probs_class_order",
    "merge_factors",
    "new_class_value",
]


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
            lookup.setdefault(class_key(v), i)
        for i, v in enumerate(self.values):
            lookup.setdefault(str(v), i)
        return lookup


def class_key(value):
    """Hashable key of a label value; integral floats and numpy scalars compare as ints."""
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


def check_label_nulls(
    fr: Engine, label: str, fact: Factorized, *, message: str = "labels must not be null"
) -> None:
    """A ``not_null`` error naming the first null rows of column ``label`` (codes -1)."""
    bad = np.flatnonzero(fact.codes < 0)
    if len(bad):
        raise ValidationError(
            label,
            "not_null",
            message,
            [(r, None) for r in fr.row_labels(bad[:5])],
            num_failures=len(bad),
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
    if sel is not None and sel.classes is not None:  # a dict spec: its keys, as label values
        return classes_in_label_domain(fact, sel.classes, label), list(range(n_cols))
    observed = fact.categories if fact.categories is not None else fact.uniques
    keys = {class_key(u): u for u in observed}
    strs = {str(u): u for u in observed}
    every_column_a_class = None  # first hint set naming a label value for every column
    for hints in sel.hint_sets if sel is not None else []:
        if len(set(hints)) != len(hints):
            continue
        matched = [keys.get(class_key(h), strs.get(h)) for h in hints]
        found = {class_key(m) for m in matched if m is not None}
        if every_column_a_class is None and all(m is not None for m in matched):
            every_column_a_class = matched
        if all(class_key(u) in found for u in fact.uniques):
            values = [
                m if m is not None else _from_hint(h, fact.kind) for m, h in zip(matched, hints)
            ]
            if fact.categories is not None:
                # class order = category order; unused categories without a column are dropped
                pos = {class_key(v): i for i, v in enumerate(values)}
                used = {class_key(u) for u in fact.uniques}
                missing = [
                    c for c in fact.categories if class_key(c) not in pos and class_key(c) in used
                ]
                if missing or any(m is None for m in matched):
                    raise ValidationError(
                        label,
                        "classes",
                        f"the label's categories {list(fact.categories)} do not match the "
                        f"pred_probs columns {hints}; pass classes=[...] in column order",
                    )
                cats = [c for c in fact.categories if class_key(c) in pos]
                return cats, [pos[class_key(c)] for c in cats]
            return values, list(range(n_cols))
    if every_column_a_class is not None:
        # each column is a class, but some label values have none: _codes reports those rows
        if fact.categories is not None:
            pos = {class_key(v): i for i, v in enumerate(every_column_a_class)}
            cats = [c for c in fact.categories if class_key(c) in pos]
            return cats, [pos[class_key(c)] for c in cats]
        return every_column_a_class, list(range(n_cols))
    if (
        fact.categories is not None
        and len(fact.categories) == n_cols
        and (sel is None or sel.array_column is not None)
    ):
        return list(fact.categories), list(range(n_cols))
    if fact.kind in ("integer", "float") and all(
        class_key(u) in range(n_cols) for u in fact.uniques
    ):
        return list(range(n_cols)), list(range(n_cols))
    if fact.kind == "boolean" and n_cols == 2:
        return [False, True], [0, 1]
    shown = sorted(map(str, fact.uniques))[:10]
    cols = sel.columns if sel is not None and sel.columns else [sel.label if sel else "?"]
    raise ValidationError(
        label,
        "classes",
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
        [lookup.get(class_key(u), lookup.get(str(u), -1)) for u in values] + [-1], dtype=np.int64
    )


def class_label_values(fact: Factorized, classes: ClassSet) -> list:
    """The label values that are classes, in the label column's own domain and type.

    The column's values (or declared categories) that name a class — the rule
    :func:`label_codes` applies — then each class that none of them names, written in the
    column's kind (an integer, a float, a boolean or a string) when it can be, so that a
    schema's ``isin`` also accepts it on other data. A label value is valid if and only if it is
    one of these.
    """
    source = fact.categories if fact.categories is not None else fact.uniques
    codes = class_code_map(source, classes)[:-1]
    values = [u for u, code in zip(source, codes) if code >= 0]
    if fact.categories is None:  # a category column can hold no other value
        named = set(codes.tolist())
        for i, v in enumerate(classes.values):
            if i not in named:
                value = _in_kind(v, fact.kind)
                if value is not None:
                    values.append(value)
    return values


def _in_kind(value, kind: str):
    """``value`` as a value of a label column of ``kind``, or ``None`` when it cannot be one."""
    if kind == "string":
        return str(value)
    if kind in ("integer", "float"):
        key = class_key(value) if not isinstance(value, str) else _from_hint(value, "integer")
        if isinstance(key, int) and not isinstance(key, bool):
            return key if kind == "integer" else float(key)
        return float(value) if kind == "float" and isinstance(value, (float, np.floating)) else None
    if kind == "boolean":
        key = _from_hint(str(value), "boolean")
        return key if isinstance(key, bool) else None
    return None


def classes_in_label_domain(fact: Factorized, classes: Sequence, label: str | None = None) -> list:
    """``classes=`` as values of the label column, so results come back in the label's type.

    An entry that names a label value (or category) -- matched as the labels are, also by its
    string form (``"3"`` names the integer label 3) -- becomes that value; another entry is
    written in the column's kind (``"4"`` → 4 for integer labels). An entry that no value of
    the column can be (``"zebra"`` for integer labels, a category the column does not declare)
    is an error, rule ``classes``.
    """
    source = fact.categories if fact.categories is not None else fact.uniques
    lookup: dict = {}
    for u in source:
        lookup.setdefault(class_key(u), u)
    for u in source:
        lookup.setdefault(str(u), u)
    out = []
    for v in classes:
        try:
            named = lookup.get(class_key(v), lookup.get(str(v)))
        except TypeError:  # unhashable
            named = None
        if named is not None:
            out.append(named)
            continue
        if fact.kind == "other":
            out.append(v)
            continue
        value = None if fact.kind == "categorical" else _in_kind(v, fact.kind)
        if value is None:
            what = "a category of" if fact.kind == "categorical" else f"a value of the {fact.kind}"
            raise ValidationError(
                label,
                "classes",
                f"classes= entry {v!r} cannot be {what} label column; pass classes that the "
                f"labels can hold",
            )
        out.append(value)
    return out


def default_class_order(
    fact: Factorized, classes: Sequence | None = None, label: str | None = None
) -> list:
    """Class values when no pred_probs columns decide the order.

    ``classes=`` if given (as label values, :func:`classes_in_label_domain`), else the column's
    category order, else the sorted values.
    """
    if classes is not None:
        return classes_in_label_domain(fact, classes, label)
    if fact.categories is not None:
        return list(fact.categories)
    return sorted(fact.uniques, key=lambda v: (str(type(v)), v))


def check_classes_occur(label: str, codes: np.ndarray, classes: Sequence | np.ndarray) -> None:
    """At least :data:`~cleanframe._inputs.rules.MIN_CLASSES` classes occur in the labels
    (``codes`` into ``classes``), rule ``at_least_2_classes``: with one class there is no label
    to doubt, so a label check would report a clean column whatever the probabilities say."""
    present = np.flatnonzero(np.bincount(codes, minlength=len(classes)))
    if len(present) >= MIN_CLASSES or not len(codes):
        return
    only = classes[int(present[0])]
    only = only.item() if isinstance(only, np.generic) else only  # np.str_('a') → 'a'
    columns = f" (there are {len(classes)} classes)" if len(classes) > 1 else ""
    raise ValidationError(
        label,
        "at_least_2_classes",
        f"at least {MIN_CLASSES} classes must occur in the label column, but every row is "
        f"{only!r}{columns}",
    )


def check_merge_keeps_classes(label: str, kept: Sequence, threshold: int) -> None:
    """Merging the rare classes leaves at least one class besides the merged one (rule
    ``at_least_2_classes``): when every class is rare, one class would remain."""
    if len(kept) + 1 < MIN_CLASSES:
        raise ValidationError(
            label,
            "at_least_2_classes",
            f"every class has fewer than count_threshold={threshold} rows, so merging the rare "
            f"classes would leave one class; lower count_threshold",
        )


def label_codes(fr: Engine, label: str, fact: Factorized, classes: ClassSet) -> np.ndarray:
    source = fact.categories if fact.categories is not None else fact.uniques
    codes = class_code_map(source, classes)[fact.codes]  # null codes (-1) pick the trailing -1
    bad = np.flatnonzero(codes < 0)
    if len(bad):
        values = fr.column(label)[bad[:5]]
        raise ValidationError(
            label,
            "known_class",
            f"label values that are not classes {list(classes.names)[:12]}",
            list(zip(fr.row_labels(bad[:5]), values)),
            num_failures=len(bad),
        )
    return codes


def resolve_labels(fr: Engine, label: str, *, classes: Sequence | None = None):
    """Labels without pred_probs: ``(codes, ClassSet)``.

    Class order: ``classes=`` if given, else the column's category order, else sorted values.
    """
    check_not_empty(fr)
    require_columns(fr, [label], param="label")
    fact = fr.factorize(label)
    check_label_nulls(fr, label, fact)
    cs = ClassSet(tuple(default_class_order(fact, classes, label)))
    return label_codes(fr, label, fact, cs), cs


def pred_probs_class_order(
    fact: Factorized | None,
    sel: Selection,
    n_cols: int,
    label: str,
    classes: Sequence | None = None,
) -> tuple[list, list]:
    """``(class values in class order, column of each class)`` for ``n_cols`` pred_probs columns.

    ``classes=`` if given (one per column), else inferred from the column names and the label
    values ``fact`` (``None`` when no frame is at hand: then ``classes=`` is needed); checks at
    least two columns and distinct classes.
    """
    if n_cols < MIN_CLASSES:
        raise ValidationError(
            sel.label, "at_least_2_classes", "pred_probs needs at least two class columns"
        )
    if classes is not None:
        values = list(classes) if fact is None else classes_in_label_domain(fact, classes, label)
        if len(values) != n_cols:
            raise ValidationError(
                sel.label,
                "classes",
                f"classes= has {len(values)} entries but pred_probs has {n_cols} columns",
            )
        order = list(range(n_cols))
    elif fact is not None:
        values, order = _infer_classes(fact, sel, n_cols, label)
    else:
        raise ValidationError(
            label, "classes", "the classes are unknown without label values; pass classes=[...]"
        )
    if len(set(map(class_key, values))) != len(values):
        raise ValidationError(label, "classes", f"classes are not distinct: {values}")
    return values, order


def new_class_value(value, classes: Sequence, kept: Sequence, label: str):
    """A class value to add (e.g. ``other_class=``): default ``"other"``, or ``max(classes) + 1``
    for numeric classes; an error when it is already one of the ``kept`` classes, or when the
    label column could not hold it (a string for numeric classes; any new value for booleans)."""
    values = list(classes)
    bools = bool(values) and all(isinstance(v, (bool, np.bool_)) for v in values)
    numbers = not bools and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        for v in values
    )
    if bools and not isinstance(value, (bool, np.bool_)):
        raise ValidationError(
            label,
            "classes",
            "a boolean label column cannot hold a class for the merged rare classes "
            f"(other_class={value!r}); cast the labels to strings first",
        )
    if value is None:
        return (max(values) + 1) if numbers else "other"
    if numbers and not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(
            label,
            "classes",
            f"other_class={value!r} cannot be a value of the numeric label column; pass a number",
        )
    if value in list(kept):
        raise ValidationError(label, "classes", f"other_class={value!r} is already a class")
    return value


def merge_factors(facts: Sequence[Factorized]) -> tuple[Factorized, list]:
    """One Factorized over several label columns (e.g. one per annotator).

    Returns the merged Factorized (``codes`` is ``None``: the values of all columns, with the
    shared category order when every column declares the same one) and, per column,
    ``(remap, uniques)``: ``remap[codes]`` turns that column's codes (-1 = null, which picks the
    trailing -1) into positions in ``uniques``, the values of all columns in first-seen order.
    """
    uniques: list = []
    index: dict = {}
    remaps = []
    for f in facts:
        source = f.categories if f.categories is not None else f.uniques
        remap = np.empty(len(source) + 1, dtype=np.int64)
        remap[-1] = -1
        for i, u in enumerate(source):
            k = class_key(u)
            if k not in index:
                index[k] = len(uniques)
                uniques.append(u)
            remap[i] = index[k]
        remaps.append(remap)
    used: set = set()
    for f, remap in zip(facts, remaps):
        seen = np.bincount(f.codes[f.codes >= 0], minlength=len(remap) - 1) > 0
        used.update(remap[:-1][seen].tolist())
    present = [u for i, u in enumerate(uniques) if i in used]
    cats = [f.categories for f in facts if f.categories is not None]
    categories = None
    if cats and len(cats) == len(facts) and all(c == cats[0] for c in cats):
        categories = list(cats[0])
    kinds = {f.kind for f in facts if len(f.uniques)}
    if len(kinds) == 1:
        kind = kinds.pop()
    else:
        kind = "integer" if kinds <= {"integer", "float"} else "other"
    if kind == "float" and all(float(u).is_integer() for u in present):
        kind = "integer"
    return Factorized(None, present, categories, kind), [(remap, uniques) for remap in remaps]


@dataclass
class ClassificationSpec:
    """The label and pred_probs specs resolved against a frame, before any probability is read.

    ``columns`` are the pred_probs columns in class order (``None`` for one array column, whose
    values ``array`` had to be read for its width, already in class order).
    """

    label: str
    labels: Factorized
    selection: Selection
    classes: ClassSet
    columns: list | None
    array: np.ndarray | None

    def matrix(self, fr: Engine) -> np.ndarray:
        """The probabilities in class order, as read from the frame (not yet checked)."""
        if self.array is not None:
            return self.array
        assert self.columns is not None  # separate columns, or one array column (read)
        return numeric_matrix(fr, self.columns)


def classification_spec(
    fr: Engine,
    *,
    label: str,
    pred_probs: Any,
    classes: Sequence | None = None,
    labels_not_null: bool = True,
) -> ClassificationSpec:
    """The label column, the pred_probs columns in class order and the classes (inferred from the
    column names and the label values unless ``classes=`` is given), checked as specs.

    Reads the label column and, for one array column, its values (for the width); no other
    probability. ``labels_not_null=False`` leaves null labels to the caller (a schema reports
    them as failure cases).
    """
    if not isinstance(label, str):
        raise ValidationError(None, "spec", f"label= must be one column name, not {label!r}")
    require_columns(fr, [label], param="label")
    sel = resolve_columns(fr, pred_probs, param="pred_probs")
    if sel.columns is not None and label in sel.columns:
        raise ValidationError(label, "spec", "the label column is also listed in pred_probs=")
    fact = fr.factorize(label)
    if labels_not_null:
        check_label_nulls(fr, label, fact)
    if sel.array_column is not None:
        P = array_matrix(fr, sel.array_column)
        n_cols = P.shape[1]
    else:
        P = None
        n_cols = len(sel.columns or ())
    values, order = pred_probs_class_order(fact, sel, n_cols, label, classes)
    columns = [sel.columns[i] for i in order] if sel.columns is not None else None
    if P is not None and order != list(range(n_cols)):
        P = P[:, order]
    return ClassificationSpec(label, fact, sel, ClassSet(tuple(values)), columns, P)


def pred_probs_classes(sel: Selection, n_cols: int, classes: Sequence | None = None) -> ClassSet:
    """The classes of ``n_cols`` pred_probs columns without labels: ``classes=``, else the dict
    spec's keys or the names the columns suggest, else ``0..K-1``; at least two columns."""
    if classes is not None:
        values = list(classes)
    elif sel.classes is not None:
        values = list(sel.classes)
    elif sel.hint_sets:
        values = sel.hint_sets[0]
    else:
        values = list(range(n_cols))
    if len(values) != n_cols:
        raise ValidationError(
            sel.label,
            "classes",
            f"classes= has {len(values)} entries but pred_probs has {n_cols} columns",
        )
    if n_cols < MIN_CLASSES:
        raise ValidationError(
            sel.label, "at_least_2_classes", "pred_probs needs at least two class columns"
        )
    return ClassSet(tuple(values))
