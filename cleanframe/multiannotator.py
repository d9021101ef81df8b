"""Data labelled by several annotators: consensus labels, annotator quality, what to label next.

Two layouts are accepted:

* **wide** — one row per item and one column per annotator, null where that annotator did not
  label the item: ``annotators=["ann_1", "ann_2", ...]`` (or a glob such as ``"ann_*"``);
* **long** — one row per annotation, the way labelling tools export it:
  ``item="item_id", annotator="worker", label="label"``.

``pred_probs`` (out-of-sample model probabilities per item) is optional. In the wide layout it is a
column spec on the same frame. In the long layout it is either a frame keyed by the item column
(every other column is a class probability, in class order) or a column spec on the long frame
(the same values on every row of an item).

With ``pred_probs`` the consensus is CROWDLAB (cleanlab 2.9's
``get_label_quality_multiannotator``); without, Dawid-Skene EM (or a majority vote). ActiveLab
scores say which items to label, or relabel, next.

Every function takes the frame first and keyword-only arguments after it, accepts a pandas
DataFrame, a polars DataFrame or a polars LazyFrame, never modifies its input and returns the
caller's frame type. Class values in results are the label column's own values and dtype.

Engine support: eager pandas and polars; a LazyFrame is collected once (only the columns used)
and results come back as a LazyFrame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ._engines import Engine as FrameAdapter
from ._engines import Factorized, adapt
from ._inputs import ClassSet, check_probabilities, class_code_map, default_class_order, resolve_columns
from ._inputs.classes import class_key as _key
from ._inputs.classes import pred_probs_class_order
from ._inputs.columns import selection_matrix as _selection_matrix
from ._typing import FrameT
from .errors import ValidationError
from .scoring.multiannotator import crowdlab as _ma

__all__ = ["consensus", "annotator_stats", "label_quality", "active_learning_scores"]

CONSENSUS_COLUMNS = (
    "consensus_label",
    "consensus_quality",
    "annotator_agreement",
    "num_annotations",
)
_CONSENSUS_METHODS = ("best_quality", "majority_vote", "dawid_skene")
_QUALITY_METHODS = ("crowdlab", "agreement")


# ----------------------------------------------------------------------------------------------
# Input preparation: one place turns either layout into Annotations + pred_probs + classes
# ----------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    fr: FrameAdapter
    layout: str  # "wide" | "long"
    ann: _ma.Annotations | None  # annotations of the labelled items (codes 0..n_labeled-1)
    labeled: np.ndarray  # output-item positions of the labelled items, in Annotations item order
    unlabeled: np.ndarray  # output-item positions of items without annotations
    num_items: int  # number of output items (wide: rows; long: distinct items)
    pred_probs: np.ndarray | None  # (num_items, K), rows in output-item order
    classes: ClassSet
    class_column: str  # column whose dtype class values take
    annotator_names: list  # annotator ids (wide: column names; long: annotator values)
    label_columns: list  # wide: annotator columns; long: [label]
    item: str | None = None
    item_values: list | None = None  # long: item value of each output item
    annotator: str | None = None

    @property
    def all_codes(self):
        """Which column to blame for annotation-level problems."""
        return ", ".join(self.label_columns)


def _layout(annotators, item, annotator, label) -> str:
    if annotators is not None:
        if item is not None or annotator is not None or label is not None:
            raise ValidationError(
                None,
                "spec",
                "pass either annotators= (wide layout) or item=, annotator= and label= "
                "(long layout), "
                "not both",
            )
        return "wide"
    missing = [
        n for n, v in (("item", item), ("annotator", annotator), ("label", label)) if v is None
    ]
    if missing:
        raise ValidationError(
            None,
            "spec",
            "pass annotators=[...] (one column per annotator) or all of item=, annotator= and "
            f"label= (one row per annotation); missing: {', '.join(m + '=' for m in missing)}",
        )
    for name, value in (("item", item), ("annotator", annotator), ("label", label)):
        if not isinstance(value, str):
            raise ValidationError(None, "spec", f"{name}= must be one column name, not {value!r}")
    return "long"


def _merge_factors(facts: Sequence[Factorized]) -> tuple[Factorized, list]:
    """One Factorized over several columns: global uniques + per-column code remaps."""
    uniques: list = []
    index: dict = {}
    remaps = []
    for f in facts:
        source = f.categories if f.categories is not None else f.uniques
        remap = np.empty(len(source) + 1, dtype=np.int64)
        remap[-1] = -1
        for i, u in enumerate(source):
            k = _key(u)
            if k not in index:
                index[k] = len(uniques)
                uniques.append(u)
            remap[i] = index[k]
        remaps.append(remap)
    used = set()
    for f, remap in zip(facts, remaps):
        seen = np.bincount(f.codes[f.codes >= 0], minlength=len(remap) - 1) > 0
        used.update(remap[:-1][seen].tolist())
    present = [u for i, u in enumerate(uniques) if i in used]
    cats = [f.categories for f in facts if f.categories is not None]
    categories = None
    if cats and len(cats) == len(facts) and all(c == cats[0] for c in cats):
        categories = list(cats[0])
    kinds = {f.kind for f in facts if len(f.uniques)}
    kind = (
        kinds.pop()
        if len(kinds) == 1
        else ("integer" if kinds <= {"integer", "float"} else "other")
    )
    if kind == "float" and all(float(u).is_integer() for u in present):
        kind = "integer"
    merged = Factorized(None, present, categories, kind)
    return merged, [(remap, uniques) for remap in remaps]


def _is_frame(obj) -> bool:
    name = type(obj).__name__
    root = type(obj).__module__.split(".", 1)[0]
    return root in ("pandas", "polars") and name in ("DataFrame", "LazyFrame")


def _read_pred_probs(pfr: FrameAdapter, pred_probs, merged, classes, label_name, *, exclude=()):
    """(matrix in class order, ClassSet) from a pred_probs spec on ``pfr``."""
    sel = resolve_columns(pfr, pred_probs, param="pred_probs")
    if sel.columns is not None:
        clash = [c for c in sel.columns if c in exclude]
        if clash:
            raise ValidationError(
                clash[0], "spec", "this column is both an annotation column and in pred_probs="
            )
        n_cols = len(sel.columns)
    else:
        n_cols = pfr.array_column(sel.array_column).shape[1]
    values, order = pred_probs_class_order(merged, sel, n_cols, label_name, classes)
    columns = [sel.columns[i] for i in order] if sel.columns is not None else None
    P = _selection_matrix(pfr, sel, order)
    P = check_probabilities(pfr, P, sel, columns)
    return np.asarray(P, dtype=np.float64), ClassSet(tuple(values))


def _raise_unknown(column, fr, rows, values, cs, n):
    raise ValidationError(
        column,
        "known_class",
        f"labels that are not classes {list(cs.names)[:12]}",
        list(zip(fr.row_labels(rows[:5]), values[:5])),
        num_failures=n,
    )


def _prepare(df, annotators, item, annotator, label, pred_probs, classes, *, allow_unlabeled=False):
    fr = adapt(df)
    layout = _layout(annotators, item, annotator, label)
    if fr.height == 0:
        raise ValidationError(None, "not_empty", "the frame has no rows")
    if layout == "wide":
        return _prepare_wide(fr, annotators, pred_probs, classes, allow_unlabeled)
    return _prepare_long(fr, item, annotator, label, pred_probs, classes, allow_unlabeled)


def _prepare_wide(fr, annotators, pred_probs, classes, allow_unlabeled):
    sel = resolve_columns(fr, annotators, param="annotators", allow_dict=False)
    if sel.columns is None:
        raise ValidationError(sel.label, "spec", "annotators= must be a list of columns or a glob")
    cols = sel.columns
    facts = [fr.factorize(c) for c in cols]
    for c, f in zip(cols, facts):
        if not (f.codes >= 0).any():
            raise ValidationError(
                c,
                "annotator_has_labels",
                "this annotator column is entirely null; drop it from annotators=",
            )
    merged, remaps = _merge_factors(facts)
    uniques = remaps[0][1]
    n = fr.height
    rows, annot, values = [], [], []
    for j, (f, (remap, _)) in enumerate(zip(facts, remaps)):  # coordinates, never an N x M matrix
        r = np.flatnonzero(f.codes >= 0)
        rows.append(r)
        annot.append(np.full(len(r), j, dtype=np.int64))
        values.append(remap[f.codes[r]])
    rows, annot, values = np.concatenate(rows), np.concatenate(annot), np.concatenate(values)
    label_name = cols[0]
    if pred_probs is not None:
        P, cs = _read_pred_probs(fr, pred_probs, merged, classes, label_name, exclude=set(cols))
    else:
        P = None
        cs = ClassSet(tuple(default_class_order(merged, classes)))
    class_codes = class_code_map(uniques, cs)[values]
    bad = class_codes < 0
    if bad.any():
        col = cols[annot[np.argmax(bad)]]
        col_rows = np.sort(rows[bad & (annot == annot[np.argmax(bad)])])
        _raise_unknown(col, fr, col_rows, list(fr.column(col)[col_rows[:5]]), cs, int(bad.sum()))
    if len(cs) < 2:
        raise ValidationError(
            cols[0],
            "at_least_2_classes",
            f"need at least two classes, found {list(cs.names)}; pass classes=[...]",
        )
    counts = np.bincount(rows, minlength=n)
    unlabeled = np.flatnonzero(counts == 0)
    if len(unlabeled) and not allow_unlabeled:
        raise ValidationError(
            ", ".join(cols),
            "annotated",
            "items (rows) without any annotation; drop them or score them with "
            "active_learning_scores",
            [(r, None) for r in fr.row_labels(unlabeled[:5])],
            num_failures=len(unlabeled),
        )
    labeled = np.flatnonzero(counts > 0)
    ann = None
    if len(labeled):
        position = np.cumsum(counts > 0) - 1  # row -> position among the labelled rows
        ann = _ma.Annotations.from_coo(
            position[rows],
            annot,
            class_codes,
            num_items=len(labeled),
            num_annotators=len(cols),
            num_classes=len(cs),
        )
    return _Prepared(
        fr=fr,
        layout="wide",
        ann=ann,
        labeled=labeled,
        unlabeled=unlabeled,
        num_items=n,
        pred_probs=P,
        classes=cs,
        class_column=_dtype_column(fr, cols, facts),
        annotator_names=list(cols),
        label_columns=list(cols),
    )


def _dtype_column(fr, cols, facts):
    """The annotator column whose dtype class values take: the first not float-with-nulls."""
    for c, f in zip(cols, facts):
        if f.kind != "float":
            return c
    return cols[0]


def _not_null(fr, column, fact):
    bad = np.flatnonzero(fact.codes < 0)
    if len(bad):
        raise ValidationError(
            column,
            "not_null",
            "must not be null in the long layout",
            [(r, None) for r in fr.row_labels(bad[:5])],
            num_failures=len(bad),
        )


def _dense(fact: Factorized) -> tuple[np.ndarray, list]:
    """Dense codes 0..U-1 and the value of each code (categorical: category order, used only)."""
    if fact.categories is None:
        return fact.codes, list(fact.uniques)
    used, dense = np.unique(fact.codes, return_inverse=True)
    return dense.astype(np.int64), [fact.categories[i] for i in used]


def _prepare_long(fr, item, annotator, label, pred_probs, classes, allow_unlabeled):
    fr.require([item, annotator, label], param=None)
    if len({item, annotator, label}) != 3:
        raise ValidationError(
            item, "spec", "item=, annotator= and label= must be three different columns"
        )
    fi, fa, fl = fr.factorize(item), fr.factorize(annotator), fr.factorize(label)
    for column, fact in ((item, fi), (annotator, fa), (label, fl)):
        _not_null(fr, column, fact)
    item_codes, item_values = _dense(fi)
    annot_codes, annot_values = _dense(fa)
    m = len(annot_values)
    key = item_codes * m + annot_codes
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(key[order][1:] == key[order][:-1])
    if len(dup):
        rows = np.sort(order[dup + 1])
        raise ValidationError(
            annotator,
            "unique_item_annotator",
            f"the same annotator labelled the same item (column {item!r}) more than once",
            list(
                zip(
                    fr.row_labels(rows[:5]),
                    [(item_values[item_codes[r]], annot_values[annot_codes[r]]) for r in rows[:5]],
                )
            ),
            num_failures=len(rows),
        )
    merged, remaps = _merge_factors([fl])
    remap, uniques = remaps[0]
    label_global = remap[fl.codes]
    n_labeled = len(item_values)
    first = np.full(n_labeled, -1, dtype=np.int64)
    first[item_codes[::-1]] = np.arange(len(item_codes))[::-1]  # first row of each item
    unlabeled_values: list = []
    if pred_probs is None:
        P = None
        cs = ClassSet(tuple(default_class_order(merged, classes)))
    elif _is_frame(pred_probs):
        pfr = adapt(pred_probs)
        pfr.require([item], param="pred_probs (the item column)")
        spec = [c for c in pfr.columns if c != item]
        P_rows, cs = _read_pred_probs(pfr, spec, merged, classes, label)
        P, unlabeled_values = _align_pred_frame(
            pfr, item, item_values, P_rows, allow_unlabeled, fr.row_labels(first)
        )
    else:
        P_rows, cs = _read_pred_probs(
            fr, pred_probs, merged, classes, label, exclude={item, annotator, label}
        )
        P = P_rows[first]
        differs = np.flatnonzero(np.any(P_rows != P[item_codes], axis=1))
        if len(differs):
            raise ValidationError(
                str(pred_probs),
                "constant_per_item",
                f"pred_probs must be the same on every row of an item (column {item!r})",
                list(
                    zip(
                        fr.row_labels(differs[:5]),
                        [item_values[item_codes[r]] for r in differs[:5]],
                    )
                ),
                num_failures=len(differs),
            )
    class_codes = class_code_map(uniques, cs)[label_global]
    bad = np.flatnonzero(class_codes < 0)
    if len(bad):
        _raise_unknown(label, fr, bad, list(fr.column(label)[bad[:5]]), cs, len(bad))
    if len(cs) < 2:
        raise ValidationError(
            label,
            "at_least_2_classes",
            f"need at least two classes, found {list(cs.names)}; pass classes=[...]",
        )
    ann = _ma.Annotations.from_coo(
        item_codes,
        annot_codes,
        class_codes,
        num_items=n_labeled,
        num_annotators=m,
        num_classes=len(cs),
    )
    total = n_labeled + len(unlabeled_values)
    return _Prepared(
        fr=fr,
        layout="long",
        ann=ann,
        labeled=np.arange(n_labeled),
        unlabeled=np.arange(n_labeled, total),
        num_items=total,
        pred_probs=P,
        classes=cs,
        class_column=label,
        annotator_names=annot_values,
        label_columns=[label],
        item=item,
        item_values=list(item_values) + unlabeled_values,
        annotator=annotator,
    )


def _align_pred_frame(pfr, item, item_values, P_rows, allow_unlabeled, first_rows):
    """Rows of a pred_probs frame keyed by ``item``, in item order; items it adds come last.

    ``first_rows`` are the row labels of each item's first annotation (for messages).
    """
    fk = pfr.factorize(item)
    _not_null(pfr, item, fk)
    codes, values = _dense(fk)
    if len(values) != len(codes):
        seen = np.zeros(len(values), dtype=bool)
        dups = []
        for r, c in enumerate(codes):
            if seen[c]:
                dups.append(r)
            seen[c] = True
        raise ValidationError(
            item,
            "unique",
            "pred_probs has more than one row for the same item",
            list(zip(pfr.row_labels(dups[:5]), [values[codes[r]] for r in dups[:5]])),
            num_failures=len(dups),
        )
    row_of_code = np.empty(len(values), dtype=np.int64)
    row_of_code[codes] = np.arange(len(codes))
    lookup = {_key(v): row_of_code[i] for i, v in enumerate(values)}
    rows = np.array([lookup.get(_key(v), -1) for v in item_values], dtype=np.int64)
    missing = np.flatnonzero(rows < 0)
    if len(missing):
        raise ValidationError(
            item,
            "pred_probs_cover",
            "items that have annotations but no row in pred_probs (rows of their first "
            "annotation shown)",
            [(first_rows[i], item_values[i]) for i in missing[:5]],
            num_failures=len(missing),
        )
    extra = np.ones(len(codes), dtype=bool)
    extra[rows] = False
    extra_rows = np.flatnonzero(extra)
    if len(extra_rows) and not allow_unlabeled:
        raise ValidationError(
            item,
            "annotated",
            "items in pred_probs without any annotation; drop them or score them with "
            "active_learning_scores",
            list(zip(pfr.row_labels(extra_rows[:5]), [values[codes[r]] for r in extra_rows[:5]])),
            num_failures=len(extra_rows),
        )
    unlabeled_values = [values[codes[r]] for r in extra_rows]
    return P_rows[np.concatenate([rows, extra_rows])], unlabeled_values


# ----------------------------------------------------------------------------------------------
# Running the kernels
# ----------------------------------------------------------------------------------------------


def _pick_method(consensus_method, method):
    """``method=`` is a short alias of ``consensus_method=``."""
    if method is not None and consensus_method is not None and method != consensus_method:
        raise ValidationError(
            None, "spec", f"method={method!r} and consensus_method={consensus_method!r} disagree; pass one"
        )
    return consensus_method if consensus_method is not None else method


def _run(
    prep: _Prepared, consensus_method, quality_method, calibrate_probs, label_quality_score_kwargs
):
    P = prep.pred_probs
    if consensus_method is None:
        consensus_method = "best_quality" if P is not None else "dawid_skene"
    if consensus_method not in _CONSENSUS_METHODS:
        raise ValueError(
            f"consensus_method must be one of {_CONSENSUS_METHODS}, got {consensus_method!r}"
        )
    if quality_method not in _QUALITY_METHODS:
        raise ValueError(
            f"quality_method must be one of {_QUALITY_METHODS}, got {quality_method!r}"
        )
    ann = prep.ann
    if calibrate_probs and P is None:
        raise ValueError("calibrate_probs=True needs pred_probs")
    if consensus_method == "dawid_skene":
        if P is not None:
            raise ValueError(
                "consensus_method='dawid_skene' does not use pred_probs; omit pred_probs or use "
                "'best_quality' (CROWDLAB)"
            )
        return _ma.dawid_skene_consensus(ann)
    if P is None:
        if consensus_method == "best_quality":
            raise ValueError(
                "consensus_method='best_quality' needs pred_probs; "
                "use 'dawid_skene' or 'majority_vote'"
            )
        return _ma.majority_vote_consensus(ann)
    if ann.num_annotators < 2 or np.all(ann.num_annotations == 1):
        raise ValidationError(
            prep.annotator or prep.all_codes,
            "multiple_annotations",
            "CROWDLAB needs items labelled by two or more annotators; every item has one label "
            "(score single labels with label_quality_scores, or use active_learning_scores)",
        )
    return _ma.crowdlab(
        ann,
        P[prep.labeled],
        consensus_method=consensus_method,
        quality_method=quality_method,
        calibrate_probs=calibrate_probs,
        label_quality_score_kwargs=label_quality_score_kwargs,
    )


def _class_values(prep: _Prepared, codes):
    return prep.fr.class_values(prep.class_column, list(prep.classes.values), codes)


def _item_column(prep: _Prepared):
    return prep.fr.class_values(prep.item, prep.item_values, np.arange(prep.num_items))


def _item_result(prep: _Prepared, columns: dict, overwrite: bool):
    """Wide: the input frame plus ``columns``; long: one row per item (item column first)."""
    if prep.layout == "wide":
        return prep.fr.attach(columns, overwrite=overwrite)
    return prep.fr.table({prep.item: _item_column(prep), **columns})


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------

_COMMON_PARAMS = """annotators : list of str or str, optional
        Wide layout: one column per annotator (a list, or a glob such as ``"ann_*"``), null
        where the annotator did not label the row.
    item, annotator, label : str, optional
        Long layout: the columns holding the item id, the annotator id and the label.
    pred_probs : column spec or frame, optional
        Out-of-sample predicted class probabilities per item. Wide layout: a list / glob / dict
        / array-column spec on ``df``. Long layout: a frame keyed by the ``item`` column (every
        other column a class, in class order) or a spec on ``df`` with equal values on all
        rows of an item.
    classes : sequence, optional
        Class order (one class per pred_probs column). Default: the label column's category
        order, else the pred_probs column names, else the sorted label values."""


def consensus(
    df: FrameT,
    *,
    annotators: Sequence[str] | str | None = None,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    pred_probs: Any = None,
    classes: Sequence | None = None,
    consensus_method: str | None = None,
    method: str | None = None,
    quality_method: str = "crowdlab",
    calibrate_probs: bool = False,
    label_quality_score_kwargs: dict | None = None,
    overwrite: bool = False,
) -> FrameT:
    """Consensus label per item and how much to trust it.

    With ``pred_probs`` this is CROWDLAB: each item's posterior mixes the model's probabilities
    and the annotators' votes, each weighted by how much better than the majority class it agrees
    with the others. Without ``pred_probs`` it is Dawid-Skene EM (per-annotator confusion
    matrices), or a plain majority vote.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The annotations (wide or long layout). Not modified.
    {common}
    consensus_method : {{"best_quality", "majority_vote", "dawid_skene"}}, optional
        ``"best_quality"`` (default with ``pred_probs``): the most probable class under the
        CROWDLAB posterior. ``"majority_vote"``: the most voted class; ties go to the highest
        pred_probs, then the class with fewest votes overall, then the annotators who agree
        most with the consensus elsewhere, then the lowest class (cleanlab draws at random
        there). ``"dawid_skene"`` (default without ``pred_probs``).
    method : str, optional
        Short alias of ``consensus_method``.
    quality_method : {{"crowdlab", "agreement"}}
        With ``pred_probs``: score the consensus by the CROWDLAB posterior or by the share of
        annotators who agree with it.
    calibrate_probs : bool
        Temperature-scale ``pred_probs`` to the annotators' vote distribution first.
    label_quality_score_kwargs : dict, optional
        ``method`` (``"self_confidence"`` default, ``"normalized_margin"``,
        ``"confidence_weighted_entropy"``) and ``adjust_pred_probs`` for the quality scores.
    overwrite : bool
        Replace result columns that already exist in ``df`` (wide layout).

    Returns
    -------
    frame of the caller's type
        Wide layout: ``df`` plus ``consensus_label``, ``consensus_quality`` (in [0, 1], lower =
        less trustworthy), ``annotator_agreement`` (share of the row's annotators who chose the
        consensus) and ``num_annotations``. Long layout: one row per item (order of first
        appearance) with the item column and those four columns.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({{"a": ["cat", "dog", "dog", None], "b": ["cat", "cat", "dog", "dog"],
    ...                    "c": ["cat", "dog", None, "dog"]}})
    >>> out = cleanframe.consensus(df, annotators=["a", "b", "c"], consensus_method="majority_vote")
    >>> out[["consensus_label", "annotator_agreement", "num_annotations"]]
      consensus_label  annotator_agreement  num_annotations
    0             cat             1.000000                3
    1             dog             0.666667                3
    2             dog             1.000000                2
    3             dog             1.000000                2
    """
    prep = _prepare(df, annotators, item, annotator, label, pred_probs, classes)
    if prep.layout == "wide":
        prep.fr.check_new_columns(CONSENSUS_COLUMNS, overwrite=overwrite)
    res = _run(prep, _pick_method(consensus_method, method), quality_method, calibrate_probs,
               label_quality_score_kwargs)
    return _item_result(
        prep,
        {
            "consensus_label": _class_values(prep, res.consensus_label),
            "consensus_quality": res.consensus_quality,
            "annotator_agreement": res.annotator_agreement,
            "num_annotations": res.num_annotations.astype(np.int64),
        },
        overwrite,
    )


def annotator_stats(
    df,
    *,
    annotators: Sequence[str] | str | None = None,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    pred_probs: Any = None,
    classes: Sequence | None = None,
    consensus_method: str | None = None,
    method: str | None = None,
    quality_method: str = "crowdlab",
    calibrate_probs: bool = False,
    label_quality_score_kwargs: dict | None = None,
):
    """One row per annotator: how good are their labels? Worst annotators first.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The annotations (wide or long layout). Not modified.
    {common}
    consensus_method, quality_method, calibrate_probs, label_quality_score_kwargs
        As in :func:`consensus`.

    Returns
    -------
    frame of the caller's type
        Columns ``annotator`` (wide: the column name; long: the annotator id, named after the
        annotator column), ``annotator_quality`` (in [0, 1]; CROWDLAB: a mix of the quality of
        the annotator's labels under the posterior and their agreement with the consensus on
        items others labelled too; Dawid-Skene: mean posterior probability of their labels;
        majority vote: agreement with the consensus), ``agreement_with_consensus``,
        ``worst_class`` (the class they used with the lowest agreement with the consensus) and
        ``num_annotations``; sorted by quality then agreement, ascending (ties: annotator order).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> long = pd.DataFrame({{"item": [1, 1, 1, 2, 2, 3, 3, 3],
    ...                      "worker": ["x", "y", "z", "x", "y", "x", "y", "z"],
    ...                      "label": ["a", "a", "b", "b", "b", "a", "a", "b"]}})
    >>> stats = cleanframe.annotator_stats(long, item="item", annotator="worker", label="label",
    ...                                    consensus_method="majority_vote")
    >>> stats[["worker", "annotator_quality", "worst_class", "num_annotations"]]
      worker  annotator_quality worst_class  num_annotations
    0      z                0.0           b                2
    1      x                1.0           a                3
    2      y                1.0           a                3
    """
    prep = _prepare(df, annotators, item, annotator, label, pred_probs, classes)
    res = _run(prep, _pick_method(consensus_method, method), quality_method, calibrate_probs,
               label_quality_score_kwargs)
    order = np.lexsort((res.agreement_with_consensus, res.annotator_quality))
    if prep.layout == "wide":
        name = "annotator"
        ids = [prep.annotator_names[i] for i in order]
    else:
        name = prep.annotator
        ids = prep.fr.class_values(prep.annotator, prep.annotator_names, order)
    columns = {
        name: ids,
        "annotator_quality": res.annotator_quality[order],
        "agreement_with_consensus": res.agreement_with_consensus[order],
        "worst_class": _class_values(prep, res.worst_class[order]),
        "num_annotations": res.num_labeled[order],
    }
    return prep.fr.table(columns)


def label_quality(
    df: FrameT,
    *,
    annotators: Sequence[str] | str | None = None,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    pred_probs: Any = None,
    classes: Sequence | None = None,
    consensus_method: str | None = None,
    method: str | None = None,
    quality_method: str = "crowdlab",
    calibrate_probs: bool = False,
    label_quality_score_kwargs: dict | None = None,
    overwrite: bool = False,
) -> FrameT:
    """Per annotation: is this annotator's label right?

    Each annotation is scored by the probability of its label under the consensus posterior
    (CROWDLAB or Dawid-Skene; for a plain majority vote, the share of the item's annotators who
    gave the same label). Scores are in [0, 1], lower = more likely wrong.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The annotations (wide or long layout). Not modified.
    {common}
    consensus_method, quality_method, calibrate_probs, label_quality_score_kwargs
        As in :func:`consensus`.
    overwrite : bool
        Replace result columns that already exist in ``df``.

    Returns
    -------
    frame of the caller's type
        Long layout: ``df`` (same rows, order and index) plus ``label_score``,
        ``consensus_label`` and ``agrees_with_consensus``. Wide layout: ``df`` plus one
        ``label_score_<annotator column>`` per annotator (null where it did not label the row).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> long = pd.DataFrame({{"item": [1, 1, 1, 2, 2],
    ...                      "worker": ["x", "y", "z", "x", "y"],
    ...                      "label": ["a", "a", "b", "b", "b"]}})
    >>> out = cleanframe.label_quality(long, item="item", annotator="worker", label="label",
    ...                                consensus_method="majority_vote")
    >>> out[["label_score", "consensus_label", "agrees_with_consensus"]]
       label_score consensus_label  agrees_with_consensus
    0     0.666667               a                   True
    1     0.666667               a                   True
    2     0.333333               a                  False
    3     1.000000               b                   True
    4     1.000000               b                   True
    """
    prep = _prepare(df, annotators, item, annotator, label, pred_probs, classes)
    ann = prep.ann
    if prep.layout == "wide":
        names = [f"label_score_{c}" for c in prep.annotator_names]
        prep.fr.check_new_columns(names, overwrite=overwrite)
        res = _run(
            prep, consensus_method, quality_method, calibrate_probs, label_quality_score_kwargs
        )
        scores = np.full((prep.num_items, ann.num_annotators), np.nan)
        scores[prep.labeled[ann.item], ann.annotator] = res.annotation_quality
        if prep.fr.kind == "pandas":
            columns = {n: scores[:, j] for j, n in enumerate(names)}  # NaN is pandas' null
        else:  # polars tells null from NaN: not labelled = null
            columns = {
                n: np.where(np.isnan(scores[:, j]), None, scores[:, j]).tolist()
                for j, n in enumerate(names)
            }
        return prep.fr.attach(columns, overwrite=overwrite)
    names = ["label_score", "consensus_label", "agrees_with_consensus"]
    prep.fr.check_new_columns(names, overwrite=overwrite)
    res = _run(prep, _pick_method(consensus_method, method), quality_method, calibrate_probs,
               label_quality_score_kwargs)
    score = np.empty(len(ann.item))
    score[ann.source] = res.annotation_quality
    item_of_row = np.empty(len(ann.item), dtype=np.int64)
    item_of_row[ann.source] = ann.item
    label_of_row = np.empty(len(ann.item), dtype=np.int64)
    label_of_row[ann.source] = ann.label
    cons = res.consensus_label[item_of_row]
    return prep.fr.attach(
        {
            "label_score": score,
            "consensus_label": _class_values(prep, cons),
            "agrees_with_consensus": label_of_row == cons,
        },
        overwrite=overwrite,
    )


def active_learning_scores(
    df: FrameT,
    *,
    annotators: Sequence[str] | str | None = None,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    pred_probs: Any = None,
    classes: Sequence | None = None,
    overwrite: bool = False,
) -> FrameT:
    """ActiveLab: which items to label (or relabel) next.

    Reproduces cleanlab's ``get_active_learning_scores``. A labelled item scores the CROWDLAB
    quality of its consensus (after fitting a temperature to the votes), pulled towards 1/K by
    one average annotator's weight: items with a doubtful consensus and few or unreliable
    annotators score low. An item nobody labelled yet (wide: a row with every annotator column
    null; long: an item of the ``pred_probs`` frame without annotations) scores the model's
    confidence, pulled towards 1/K the same way. When every labelled item has a single label,
    no temperature is fitted and all weights are 1.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The annotations (wide or long layout). Not modified.
    {common}
        ``pred_probs`` is required here.
    overwrite : bool
        Replace result columns that already exist in ``df`` (wide layout).

    Returns
    -------
    frame of the caller's type
        ``active_learning_score`` (in [0, 1], lower = label first) and ``relabel_priority``
        (1 = label first; ties by row order). Wide layout: ``df`` plus these columns. Long
        layout: one row per item (annotated items in order of first appearance, then the
        unannotated items of ``pred_probs``) with the item column, the two columns and
        ``num_annotations``. Sort by ``relabel_priority`` to get the to-do list.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({{"a": [0, 1, None, None], "b": [0, 0, 1, None],
    ...                    "p_0": [0.9, 0.5, 0.2, 0.6], "p_1": [0.1, 0.5, 0.8, 0.4]}})
    >>> out = cleanframe.active_learning_scores(df, annotators=["a", "b"], pred_probs="p_*")
    >>> out[["active_learning_score", "relabel_priority"]].round(3)
       active_learning_score  relabel_priority
    0                  0.767                 2
    1                  0.500                 1
    2                  0.772                 3
    3                  0.772                 4
    """
    if pred_probs is None:
        raise ValidationError(
            None, "required", "pred_probs= is required for active_learning_scores"
        )
    prep = _prepare(
        df, annotators, item, annotator, label, pred_probs, classes, allow_unlabeled=True
    )
    if prep.layout == "wide":
        prep.fr.check_new_columns(
            ["active_learning_score", "relabel_priority"], overwrite=overwrite
        )
    P = prep.pred_probs
    scores = np.empty(prep.num_items)
    labeled_p = P[prep.labeled] if len(prep.labeled) else None
    unlabeled_p = P[prep.unlabeled] if len(prep.unlabeled) else None
    s_l, s_u = _ma.active_learning_scores(
        prep.ann if len(prep.labeled) else None, labeled_p, unlabeled_p
    )
    scores[prep.labeled] = s_l
    scores[prep.unlabeled] = s_u
    priority = np.empty(prep.num_items, dtype=np.int64)
    priority[np.argsort(scores, kind="stable")] = np.arange(1, prep.num_items + 1)
    columns = {"active_learning_score": scores, "relabel_priority": priority}
    if prep.layout == "long":
        n = np.zeros(prep.num_items, dtype=np.int64)
        n[prep.labeled] = prep.ann.num_annotations
        columns["num_annotations"] = n
    return _item_result(prep, columns, overwrite)


for _f in (consensus, annotator_stats, label_quality, active_learning_scores):
    _f.__doc__ = _f.__doc__.format(common=_COMMON_PARAMS)
del _f
