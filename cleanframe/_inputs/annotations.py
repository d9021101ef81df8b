"""Multi-annotator inputs: the options of a call, and either layout → annotation arrays.

:class:`AnnotationSpec` holds the arguments that :func:`cleanframe.consensus`,
:func:`~cleanframe.annotator_stats`, :func:`~cleanframe.label_quality` and
:func:`~cleanframe.active_learning_scores` share, and checks them when it is built (the layout,
the method choices and which of them need ``pred_probs``). :func:`resolve_annotations` turns the
frame and a spec into :class:`AnnotationInputs`: the annotations as codes, pred_probs per item in
class order, the classes, and what the public function needs to write results back.

Two layouts:

* **wide** — ``annotators=[...]`` (or a glob): one row per item, one column per annotator, null
  where that annotator did not label the item; ``pred_probs`` is a column spec on the same frame.
* **long** — ``item=``, ``annotator=``, ``label=``: one row per annotation; ``pred_probs`` is a
  frame keyed by the item column (every other column a class) or a column spec on the long frame
  with the same values on every row of an item.

Rules (each stated once, here): one layout, the columns exist, no nulls in the long columns, an
annotator column that is not entirely null, labels that are classes, at least two classes, one
annotation per (item, annotator), every item annotated (except for active learning), pred_probs
covering every annotated item once and constant within an item, and CROWDLAB's need for items
with two or more annotations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._engines import Engine, Factorized, adapt, is_frame
from ..errors import ValidationError
from ..scoring.classification.rank import RANK_METHODS
from ..scoring.multiannotator import long_pass
from ..scoring.multiannotator.aggregators import AGGREGATORS, CANONICAL_METHODS
from ..scoring.multiannotator.crowdlab import SORTED, Annotations, pair_order
from .arguments import choice
from .classes import (
    ClassSet,
    check_label_nulls,
    class_code_map,
    class_key,
    default_class_order,
    merge_factors,
    pred_probs_class_order,
)
from .columns import (
    check_not_empty,
    is_glob,
    require_columns,
    resolve_columns,
    selection_matrix,
)
from .probabilities import check_probabilities

__all__ = [
    "AnnotationInputs",
    "AnnotationSpec",
    "CONSENSUS_METHODS",
    "QUALITY_METHODS",
    "resolve_annotations",
]

CONSENSUS_METHODS = ("best_quality", "majority_vote", "dawid_skene", *AGGREGATORS)
QUALITY_METHODS = ("crowdlab", "agreement")
SCORE_KWARGS = ("method", "adjust_pred_probs")
_LONG_NULLS = "must not be null in the long layout"


@dataclass(frozen=True, eq=False)
class AnnotationSpec:
    """The multi-annotator arguments of one call, checked once when the spec is built.

    The fields are the keywords of the public functions, as passed (``method`` is a short alias
    of ``consensus_method``: an error when both are given and differ). Building the spec checks
    them and resolves:

    * ``layout``: ``"wide"`` (``annotators=``) or ``"long"`` (``item=``, ``annotator=``,
      ``label=``);
    * ``consensus``: the consensus method that runs, ``consensus_method`` or ``method``, else
      ``"best_quality"`` (CROWDLAB) with ``pred_probs`` and ``"dawid_skene"`` without.

    ``gold`` (a column of known true labels, null where unknown) is required by, and only taken
    by, ``"gold_majority_vote"``; ``seed`` seeds the aggregators that draw random numbers (KOS,
    MACE, M-MSR).

    ``pred_probs`` given as a list of specs (globs, lists, dicts or, in the long layout, frames
    keyed by the item column), one per model, is an **ensemble** (``ensemble``): CROWDLAB with
    one weight per model (cleanlab's ``_ensemble`` functions), only with the default consensus
    (``"best_quality"``) and quality (``"crowdlab"``) methods. A list of plain column names is
    one model.

    ``active_learning=True`` marks an :func:`~cleanframe.active_learning_scores` call:
    ``pred_probs`` is required and items without annotations are scored instead of rejected.
    """

    annotators: Any = None
    item: str | None = None
    annotator: str | None = None
    label: str | None = None
    pred_probs: Any = field(default=None, repr=False)
    classes: Sequence | None = None
    consensus_method: str | None = None
    method: str | None = None
    quality_method: str = "crowdlab"
    calibrate_probs: bool = False
    label_quality_score_kwargs: dict | None = None
    gold: str | None = None
    seed: int = 0
    active_learning: bool = False
    layout: str = field(init=False)
    consensus: str = field(init=False)
    ensemble: bool = field(init=False)

    def __post_init__(self) -> None:
        layout = _layout(self.annotators, self.item, self.annotator, self.label)
        if self.active_learning and self.pred_probs is None:
            raise ValidationError(
                None, "required", "pred_probs= is required for active_learning_scores"
            )
        consensus = _pick_method(self.consensus_method, self.method)
        if consensus is None:
            consensus = "best_quality" if self.pred_probs is not None else "dawid_skene"
        choice(consensus, CONSENSUS_METHODS, "consensus_method")
        choice(self.quality_method, QUALITY_METHODS, "quality_method")
        if self.calibrate_probs and self.pred_probs is None:
            raise ValidationError(None, "spec", "calibrate_probs=True needs pred_probs")
        if consensus in ("dawid_skene", *AGGREGATORS) and self.pred_probs is not None:
            raise ValidationError(
                None,
                "spec",
                f"consensus_method={consensus!r} does not use pred_probs; omit pred_probs or use "
                "'best_quality' (CROWDLAB)",
            )
        if consensus == "gold_majority_vote" and self.gold is None:
            raise ValidationError(
                None,
                "spec",
                "consensus_method='gold_majority_vote' needs gold= (a column of known true "
                "labels, null where unknown)",
            )
        if self.gold is not None and consensus != "gold_majority_vote":
            raise ValidationError(
                None, "spec", "gold= is used only with consensus_method='gold_majority_vote'"
            )
        if self.gold is not None and not isinstance(self.gold, str):
            raise ValidationError(None, "spec", f"gold= must be one column name, not {self.gold!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValidationError(None, "spec", f"seed= must be an integer, not {self.seed!r}")
        if not 0 <= self.seed < 2**32:
            raise ValidationError(None, "spec", f"seed= must be in [0, 2**32), not {self.seed}")
        if consensus == "best_quality" and self.pred_probs is None:
            raise ValidationError(
                None,
                "spec",
                "consensus_method='best_quality' needs pred_probs; "
                "use 'dawid_skene' or 'majority_vote'",
            )
        score_kwargs = _score_kwargs(self.label_quality_score_kwargs)
        ensemble = _is_ensemble(self.pred_probs)
        if ensemble and (consensus != "best_quality" or self.quality_method != "crowdlab"):
            raise ValidationError(
                None,
                "spec",
                "pred_probs= from several models (an ensemble) takes the default "
                "consensus_method='best_quality' and quality_method='crowdlab'",
            )
        object.__setattr__(self, "ensemble", ensemble)
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "consensus", consensus)
        object.__setattr__(self, "label_quality_score_kwargs", score_kwargs)

    @property
    def uses_crowdlab(self) -> bool:
        """Whether the consensus is CROWDLAB (pred_probs given, not an active-learning call)."""
        return self.pred_probs is not None and not self.active_learning


def _is_ensemble(pred_probs) -> bool:
    """A list of specs (globs, lists, dicts, frames), one per model: an ensemble."""
    if not isinstance(pred_probs, (list, tuple)) or not pred_probs:
        return False
    return all(
        is_glob(p) or isinstance(p, (list, tuple, Mapping)) or is_frame(p) for p in pred_probs
    )


def _layout(annotators, item, annotator, label) -> str:
    if annotators is not None:
        if item is not None or annotator is not None or label is not None:
            raise ValidationError(
                None,
                "spec",
                "pass either annotators= (wide layout) or item=, annotator= and label= "
                "(long layout), not both",
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


def _pick_method(consensus_method, method):
    """``method=`` is a short alias of ``consensus_method=``."""
    if method is not None and consensus_method is not None and method != consensus_method:
        raise ValidationError(
            None,
            "spec",
            f"method={method!r} and consensus_method={consensus_method!r} disagree; pass one",
        )
    return consensus_method if consensus_method is not None else method


def _score_kwargs(kwargs) -> dict | None:
    if kwargs is None:
        return None
    if not isinstance(kwargs, Mapping):
        raise ValidationError(None, "spec", "label_quality_score_kwargs= must be a dict")
    unknown = [k for k in kwargs if k not in SCORE_KWARGS]
    if unknown:
        raise ValidationError(
            None,
            "spec",
            f"label_quality_score_kwargs= takes {list(SCORE_KWARGS)}, not {unknown[0]!r}",
        )
    if "method" in kwargs:
        choice(kwargs["method"], RANK_METHODS, "label_quality_score_kwargs['method']")
    return dict(kwargs)


@dataclass(frozen=True, eq=False)
class AnnotationInputs:
    """A call's annotations, checked, as the kernels take them.

    Items are *output items*: the rows (wide) or the distinct items (long: annotated items in
    order of first appearance, then the items only the pred_probs frame has).
    """

    fr: Engine  # the caller's frame (results are attached to it)
    spec: AnnotationSpec
    ann: Annotations | None  # annotations of the labelled items (codes 0..len(labeled)-1)
    labeled: np.ndarray  # output-item positions of the labelled items, in ``ann``'s item order
    unlabeled: np.ndarray  # output-item positions of items without annotations
    num_items: int  # number of output items
    pred_probs: np.ndarray | None  # (num_items, K) float64 in output-item order; (E, ., K) ensemble
    classes: ClassSet
    class_column: str  # column whose dtype class values take
    annotator_names: list  # annotator ids (wide: column names; long: annotator values)
    label_columns: list  # wide: the annotator columns; long: [label]
    item_values: Sequence | None = None  # long: item value of each output item
    gold: np.ndarray | None = None  # class code per labelled item (ann order), -1 = unknown
    item_array: Any = None  # long: ``item_values`` as the engine's array when it has one
    # long layout, Dawid-Skene or an aggregator of CANONICAL_METHODS: (item, annotator) code ->
    # rank of its value sorted (the method runs in that numbering: independent of the row order)
    order: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def layout(self) -> str:
        return self.spec.layout

    @property
    def item(self) -> str | None:
        return self.spec.item

    @property
    def annotator(self) -> str | None:
        return self.spec.annotator


def resolve_annotations(fr: Engine, spec: AnnotationSpec) -> AnnotationInputs:
    """The annotations of ``fr`` (and ``spec.pred_probs``) in ``spec``'s layout, all checked."""
    check_not_empty(fr)
    out = _wide(fr, spec) if spec.layout == "wide" else _long(fr, spec)
    if spec.consensus == "kos" and len(out.classes) != 2:
        raise ValidationError(
            spec.label or out.label_columns[0],
            "two_classes",
            f"consensus_method='kos' is for two classes, found {list(out.classes.names)[:12]}",
        )
    if spec.uses_crowdlab:
        ann = out.ann
        if ann is None or ann.num_annotators < 2 or np.all(ann.num_annotations == 1):
            raise ValidationError(
                spec.annotator or ", ".join(out.label_columns),
                "multiple_annotations",
                "CROWDLAB needs items labelled by two or more annotators; every item has one "
                "label (score single labels with label_quality_scores, or use "
                "active_learning_scores)",
            )
    return out


# ----------------------------------------------------------------------------------------------
# The two layouts
# ----------------------------------------------------------------------------------------------


def _wide(fr: Engine, spec: AnnotationSpec) -> AnnotationInputs:
    sel = resolve_columns(fr, spec.annotators, param="annotators", allow_dict=False)
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
    merged, remaps = merge_factors(facts)
    uniques = remaps[0][1]
    n = fr.height
    rows_, annot_, values_ = [], [], []
    for j, (f, (remap, _)) in enumerate(zip(facts, remaps)):  # coordinates, never an N x M matrix
        r = np.flatnonzero(f.codes >= 0)
        rows_.append(r)
        annot_.append(np.full(len(r), j, dtype=np.int64))
        values_.append(remap[f.codes[r]])
    rows, annot, values = np.concatenate(rows_), np.concatenate(annot_), np.concatenate(values_)
    P, cs = _models(
        spec,
        lambda p: _pred_probs_and_classes(fr, p, merged, spec.classes, cols[0], set(cols)),
    )
    class_codes = class_code_map(uniques, cs)[values]
    bad = class_codes < 0
    if bad.any():
        first = annot[np.argmax(bad)]
        col = cols[first]
        col_rows = np.sort(rows[bad & (annot == first)])
        _raise_unknown(col, fr, col_rows, cs, int(bad.sum()))
    _check_two_classes(cols[0], cs)
    counts = np.bincount(rows, minlength=n)
    unlabeled = np.flatnonzero(counts == 0)
    if len(unlabeled) and not spec.active_learning:
        raise ValidationError(
            ", ".join(cols),
            "annotated",
            "items (rows) without any annotation; drop them or score them with "
            "active_learning_scores",
            [(r, None) for r in fr.row_labels(unlabeled[:5])],
            num_failures=len(unlabeled),
        )
    labeled = np.flatnonzero(counts > 0)
    gold = None
    if spec.gold is not None:
        gold = _gold_codes(fr, spec.gold, cs, set(cols))[labeled]
    ann = None
    if len(labeled):
        position = np.cumsum(counts > 0) - 1  # row -> position among the labelled rows
        ann = Annotations.from_coo(
            position[rows],
            annot,
            class_codes,
            num_items=len(labeled),
            num_annotators=len(cols),
            num_classes=len(cs),
        )
        # input order = reading order (row by row, then the annotator columns), which is the
        # sorted order; Wawa's first vote breaks ties by it (crowd-kit's MajorityVote)
        ann = dataclasses.replace(ann, source=np.arange(len(ann.item)), _cache={})
    return AnnotationInputs(
        fr=fr,
        spec=spec,
        ann=ann,
        labeled=labeled,
        unlabeled=unlabeled,
        num_items=n,
        pred_probs=P,
        classes=cs,
        class_column=_dtype_column(cols, facts),
        annotator_names=list(cols),
        label_columns=list(cols),
        gold=gold,
    )


def _long(fr: Engine, spec: AnnotationSpec) -> AnnotationInputs:
    item, annotator, label = spec.item, spec.annotator, spec.label
    assert item is not None and annotator is not None and label is not None  # the spec checked
    require_columns(fr, [item, annotator, label], param=None)
    if len({item, annotator, label}) != 3:
        raise ValidationError(
            item, "spec", "item=, annotator= and label= must be three different columns"
        )
    fi = fr.factorize_sorted(item)  # a frame sorted by integer item ids: no hashing
    items_sorted = fi is not None
    fi = fr.factorize(item) if fi is None else fi
    fa, fl = fr.factorize(annotator), fr.factorize(label)
    for column, fact in ((item, fi), (annotator, fa), (label, fl)):
        check_label_nulls(fr, column, fact, message=_LONG_NULLS)
    item_codes, item_values = _dense(fi)
    annot_codes, annot_values = _dense(fa)
    order = None
    if spec.consensus in CANONICAL_METHODS or spec.consensus == "dawid_skene":
        order = _canonical_order(fi, item_values, items_sorted, fa, annot_values)
    if spec.pred_probs is None and len(item_codes) >= long_pass.FUSED_MIN_ROWS:
        grouped = _long_grouped(
            fr, spec, fi, fl, item_codes, item_values, annot_codes, annot_values
        )
        if grouped is not None:
            return grouped if order is None else dataclasses.replace(grouped, order=order)
    pairs = _check_one_annotation_per_pair(
        fr, spec, item_codes, item_values, annot_codes, annot_values
    )
    merged, remaps = merge_factors([fl])
    remap, uniques = remaps[0]
    n_labeled = len(item_values)
    first = np.full(n_labeled, -1, dtype=np.int64)
    first[item_codes[::-1]] = np.arange(len(item_codes))[::-1]  # first row of each item
    unlabeled_values: list = []
    extras: list = []

    def one_model(pred_probs):
        if pred_probs is None or not is_frame(pred_probs):
            exclude = {item, annotator, label}
            P, cs = _pred_probs_and_classes(fr, pred_probs, merged, spec.classes, label, exclude)
            if P is not None:
                P = _constant_per_item(fr, spec, P, item_codes, item_values, first)
            extras.append([])
            return P, cs
        pfr = adapt(pred_probs)
        require_columns(pfr, [item], param="pred_probs (the item column)")
        columns = [c for c in pfr.columns if c != item]
        P_rows, cs = _pred_probs_and_classes(pfr, columns, merged, spec.classes, label)
        assert P_rows is not None
        P, values = _align_pred_frame(
            pfr, spec, item_values, P_rows, fr.row_labels(first), extras[0] if extras else None
        )
        extras.append(values)
        return P, cs

    P, cs = _models(spec, one_model)
    unlabeled_values = extras[0]
    class_codes = class_code_map(uniques, cs)[remap[fl.codes]]
    bad = np.flatnonzero(class_codes < 0)
    if len(bad):
        _raise_unknown(label, fr, bad, cs, len(bad))
    _check_two_classes(label, cs)
    gold = None
    if spec.gold is not None:
        rows_gold = _gold_codes(fr, spec.gold, cs, {item, annotator, label})
        gold = rows_gold[first]
        differs = np.flatnonzero(rows_gold != gold[item_codes])
        if len(differs):
            raise ValidationError(
                spec.gold,
                "constant_per_item",
                f"gold labels must be the same on every row of an item (column {item!r})",
                list(
                    zip(
                        fr.row_labels(differs[:5]),
                        [item_values[item_codes[r]] for r in differs[:5]],
                    )
                ),
                num_failures=len(differs),
            )
    if pairs is SORTED:
        ann = Annotations.from_coo(
            item_codes,
            annot_codes,
            class_codes,
            num_items=n_labeled,
            num_annotators=len(annot_values),
            num_classes=len(cs),
            order=pairs,
        )
    else:  # codes valid by construction, no pair twice (checked above): sorted, no re-check
        ann = Annotations(
            item_codes[pairs],
            annot_codes[pairs],
            class_codes[pairs],
            n_labeled,
            len(annot_values),
            len(cs),
            pairs,
        )
    total = n_labeled + len(unlabeled_values)
    return AnnotationInputs(
        fr=fr,
        spec=spec,
        ann=ann,
        labeled=np.arange(n_labeled),
        unlabeled=np.arange(n_labeled, total),
        num_items=total,
        pred_probs=P,
        classes=cs,
        class_column=label,
        annotator_names=list(annot_values),
        label_columns=[label],
        item_values=list(item_values) + unlabeled_values,
        gold=gold,
        item_array=fi.values if fi.categories is None and not unlabeled_values else None,
        order=order,
    )


def _long_grouped(fr, spec, fi, fl, item_codes, item_values, annot_codes, annot_values):
    """:func:`_long` without pred_probs for rows grouped by item, its row rules checked in one
    compiled pass (``long_pass``); ``None`` when that pass does not apply or some rule fails
    (the general path then raises the error it names)."""
    item, annotator, label = spec.item, spec.annotator, spec.label
    if spec.gold is not None and (
        spec.gold in (item, annotator, label) or spec.gold not in fr.columns
    ):
        return None
    # the label column has no nulls (checked) and, unless categorical, no value that is not in
    # its uniques: one code per unique gives merge_factors the same answer without scanning rows
    probe = fl
    if fl.categories is None:
        probe = Factorized(np.arange(len(fl.uniques)), fl.uniques, None, fl.kind, fl.values)
    merged, remaps = merge_factors([probe])
    remap, uniques = remaps[0]
    _, cs = _models(
        spec, lambda p: _pred_probs_and_classes(fr, p, merged, spec.classes, label, set())
    )
    gold_codes = gold_map = None
    if spec.gold is not None:
        fg = fr.factorize(spec.gold)
        gold_codes = fg.codes
        gold_map = class_code_map(fg.categories if fg.categories is not None else fg.uniques, cs)
    out = long_pass.grouped_annotations(
        item_codes,
        annot_codes,
        fl.codes,
        class_code_map(uniques, cs)[remap],
        num_items=len(item_values),
        num_annotators=len(annot_values),
        num_classes=len(cs),
        gold=gold_codes,
        gold_map=gold_map,
    )
    if out is None:
        return None
    _check_two_classes(label, cs)  # the rules before it held (the general path's order)
    ann, gold = out
    return AnnotationInputs(
        fr=fr,
        spec=spec,
        ann=ann,
        labeled=np.arange(len(item_values)),
        unlabeled=np.arange(len(item_values), len(item_values)),
        num_items=len(item_values),
        pred_probs=None,
        classes=cs,
        class_column=label,
        annotator_names=list(annot_values),
        label_columns=[label],
        item_values=item_values,  # _dense's uniques (converted only if read)
        gold=gold,
        item_array=fi.values if fi.categories is None else None,
    )


# ----------------------------------------------------------------------------------------------
# Pieces of both layouts
# ----------------------------------------------------------------------------------------------


def _pred_probs_and_classes(fr: Engine, pred_probs, merged, classes, label, exclude=()):
    """(pred_probs in class order as float64, or None; the ClassSet) from a spec on ``fr``."""
    if pred_probs is None:
        return None, ClassSet(tuple(default_class_order(merged, classes)))
    sel = resolve_columns(fr, pred_probs, param="pred_probs")
    if sel.columns is not None:
        clash = [c for c in sel.columns if c in exclude]
        if clash:
            raise ValidationError(
                clash[0], "spec", "this column is both an annotation column and in pred_probs="
            )
        values, order = pred_probs_class_order(merged, sel, len(sel.columns), label, classes)
        columns: list | None = [sel.columns[i] for i in order]
        P = selection_matrix(fr, sel, order)
    else:  # one array column: read once, then put in class order
        P = selection_matrix(fr, sel)
        values, order = pred_probs_class_order(merged, sel, P.shape[1], label, classes)
        columns = None
        P = P if order == list(range(P.shape[1])) else P[:, order]
    P = check_probabilities(fr, P, sel, columns)
    return np.asarray(P, dtype=np.float64), ClassSet(tuple(values))


def _gold_codes(fr: Engine, gold: str, cs: ClassSet, exclude: set) -> np.ndarray:
    """Class code of the ``gold`` column on every row (-1 where null); known classes only."""
    require_columns(fr, [gold], param="gold")
    if gold in exclude:
        raise ValidationError(gold, "spec", "gold= must not be an annotation column")
    fact = fr.factorize(gold)
    source = fact.categories if fact.categories is not None else fact.uniques
    codes = class_code_map(source, cs)[fact.codes]
    bad = np.flatnonzero((codes < 0) & (fact.codes >= 0))
    if len(bad):
        _raise_unknown(gold, fr, bad, cs, len(bad))
    if not (codes >= 0).any():
        raise ValidationError(
            gold, "gold_labels", "gold= holds no known label (every value is null)"
        )
    return codes


def _models(spec: AnnotationSpec, resolve):
    """``resolve(pred_probs)`` for one model, or for each model of an ensemble stacked into an
    (E, N, K) array (the models must have the same classes)."""
    if not spec.ensemble:
        return resolve(spec.pred_probs)
    parts = [resolve(p) for p in spec.pred_probs]
    first = parts[0][1]
    for _, other in parts[1:]:
        if other.values != first.values:
            raise ValidationError(
                None,
                "classes",
                f"the models' classes differ: {list(first.names)} vs {list(other.names)}",
            )
    return np.stack([P for P, _ in parts]), first


def _raise_unknown(column: str, fr: Engine, rows: np.ndarray, cs: ClassSet, n: int):
    values = list(fr.column(column)[rows[:5]])
    raise ValidationError(
        column,
        "known_class",
        f"labels that are not classes {list(cs.names)[:12]}",
        list(zip(fr.row_labels(rows[:5]), values)),
        num_failures=n,
    )


def _check_two_classes(column: str, cs: ClassSet) -> None:
    if len(cs) < 2:
        raise ValidationError(
            column,
            "at_least_2_classes",
            f"need at least two classes, found {list(cs.names)}; pass classes=[...]",
        )


def _dtype_column(cols: list, facts: list[Factorized]) -> str:
    """The annotator column whose dtype class values take: the first not float-with-nulls."""
    for c, f in zip(cols, facts):
        if f.kind != "float":
            return c
    return cols[0]


def _dense(fact: Factorized) -> tuple[np.ndarray, Sequence]:
    """Dense codes 0..U-1 and the value of each code (categorical: category order, used only).
    The uniques are the factorize's own (read only here; ``factorize_sorted``'s convert to
    Python values when first read)."""
    if fact.categories is None:
        return fact.codes, fact.uniques
    used, dense = np.unique(fact.codes, return_inverse=True)
    return dense.astype(np.int64), [fact.categories[i] for i in used]


def _canonical_order(fi, item_values, items_sorted, fa, annot_values):
    """(item ranks, annotator ranks): each dense code's position among the values sorted, the
    numbering in which the aggregators of ``CANONICAL_METHODS`` run (crowd-kit's sorted
    ``groupby`` numbers them so too); ``None`` when some values have no order."""
    ranks = []
    for fact, values, done in ((fi, item_values, items_sorted), (fa, annot_values, False)):
        if done or fact.categories is not None:  # codes in value (category) order already
            ranks.append(np.arange(len(values)))
            continue
        rank = _sorted_ranks(values)
        if rank is None:
            return None
        ranks.append(rank)
    return ranks[0], ranks[1]


def _sorted_ranks(values: Sequence) -> np.ndarray | None:
    """Position of each of the distinct ``values`` in sorted order, or ``None`` when they do not
    compare. Sorted by numpy when they make one numpy array of numbers, strings or datetimes
    with no two equal (numbers mixed with strings: as strings), else by Python with the values
    grouped by type name; either way a function of the set of values alone."""
    n = len(values)
    arr = np.asarray(values) if n else np.zeros(0, dtype=np.int64)
    order = None
    if arr.ndim == 1 and arr.dtype.kind in "biufUMm":  # a C sort
        order = np.argsort(arr, kind="stable")
        if np.any(arr[order[1:]] == arr[order[:-1]]):  # distinct values made equal: by Python
            order = None
    if order is None:
        try:
            order = np.array(
                sorted(range(n), key=lambda i: (str(type(values[i])), values[i])), dtype=np.int64
            )
        except (TypeError, ValueError, ArithmeticError):  # e.g. complex numbers, Decimal NaN
            return None
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank


def _check_one_annotation_per_pair(fr, spec, item_codes, item_values, annot_codes, annot_values):
    """No (item, annotator) pair twice; returns the pairs' order (``pair_order``, sorted once
    for this check and for ``Annotations.from_coo``)."""
    order = pair_order(item_codes, annot_codes, len(annot_values))
    if order is SORTED:
        return order
    key = item_codes[order] * len(annot_values) + annot_codes[order]
    dup = np.flatnonzero(key[1:] == key[:-1])
    if len(dup):
        rows = np.sort(order[dup + 1])
        pairs = [(item_values[item_codes[r]], annot_values[annot_codes[r]]) for r in rows[:5]]
        raise ValidationError(
            spec.annotator,
            "unique_item_annotator",
            f"the same annotator labelled the same item (column {spec.item!r}) more than once",
            list(zip(fr.row_labels(rows[:5]), pairs)),
            num_failures=len(rows),
        )
    return order


def _constant_per_item(fr, spec, P_rows, item_codes, item_values, first):
    """pred_probs given on the long frame: one row per item, the same on all its rows."""
    P = P_rows[first]
    differs = np.flatnonzero(np.any(P_rows != P[item_codes], axis=1))
    if len(differs):
        raise ValidationError(
            str(spec.pred_probs),
            "constant_per_item",
            f"pred_probs must be the same on every row of an item (column {spec.item!r})",
            list(
                zip(
                    fr.row_labels(differs[:5]),
                    [item_values[item_codes[r]] for r in differs[:5]],
                )
            ),
            num_failures=len(differs),
        )
    return P


def _align_pred_frame(
    pfr: Engine, spec: AnnotationSpec, item_values, P_rows, first_rows, extra_order=None
):
    """Rows of a pred_probs frame keyed by the item column, in item order; items it adds (only
    for active learning) come last, in ``extra_order`` when given (an ensemble's later models
    follow its first model's frame). ``first_rows`` are the row labels of each item's first
    annotation (for messages)."""
    item = spec.item
    assert item is not None
    fk = pfr.factorize(item)
    check_label_nulls(pfr, item, fk, message=_LONG_NULLS)
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
    lookup = {class_key(v): row_of_code[i] for i, v in enumerate(values)}
    rows = np.array([lookup.get(class_key(v), -1) for v in item_values], dtype=np.int64)
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
    if len(extra_rows) and not spec.active_learning:
        raise ValidationError(
            item,
            "annotated",
            "items in pred_probs without any annotation; drop them or score them with "
            "active_learning_scores",
            list(zip(pfr.row_labels(extra_rows[:5]), [values[codes[r]] for r in extra_rows[:5]])),
            num_failures=len(extra_rows),
        )
    unlabeled_values = [values[codes[r]] for r in extra_rows]
    if extra_order is not None:
        if {class_key(v) for v in unlabeled_values} != {class_key(v) for v in extra_order}:
            raise ValidationError(
                item,
                "same_items",
                "the pred_probs frames of the models hold different unannotated items",
            )
        extra_rows = np.array([lookup[class_key(v)] for v in extra_order], dtype=np.int64)
        unlabeled_values = list(extra_order)
    return P_rows[np.concatenate([rows, extra_rows]).astype(np.int64)], unlabeled_values
