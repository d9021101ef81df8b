"""Every public accessor method against adversarial frames (hypothesis).

The methods are enumerated from :class:`cleanframe._accessors.CleanAccessor`, so a new ``df.cl``
method is fuzzed as soon as it exists: its keyword arguments are filled from the roles below by
parameter name (a required parameter without a role fails the test, naming it).

The frames are drawn to be hostile: duplicated and MultiIndex column names, a non-unique index,
nullable and Arrow dtypes, Categorical labels with unused categories, one class, huge, tiny,
NaN and infinite values, ragged list columns, empty and one-row frames. For every call:

- it returns a result or raises :class:`cleanframe.ValidationError`, never another exception;
- the frame it was given is not modified;
- a second call gives an identical result (or the same error);
- pandas and polars (eager or lazy, drawn) give the same result, or both reject the frame by
  the same rule and column.

The default run is short; ``make fuzz`` (the ``fuzz`` hypothesis profile of ``conftest.py``)
draws many more frames.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cleanframe import ValidationError
from cleanframe._accessors import CleanAccessor, _Forward

from .conftest import examples, to_pandas

METHODS = sorted(k for k, v in vars(CleanAccessor).items() if isinstance(v, _Forward))

FUZZ_SETTINGS = settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CLASS_NAMES = ("ant", "bee", "cow")
FEATURE_SCALES = (1.0, 1.0, 1.0, 1e-300, 1e-44, 1e39, 1e300)
BAD_VALUES = (np.nan, np.inf, -np.inf, -0.5, 2.0, 1e300, 1e-300)


# ------------------------------------------------------------------------------------------
# frames
# ------------------------------------------------------------------------------------------
class Drawn:
    """A drawn pandas frame and what the call recipes need to know about it: whether the same
    data exists as a polars frame (unique string column names), the number of pred_probs
    columns and the classes (as strings)."""

    def __init__(self, frame: pd.DataFrame, polars_ok: bool, k: int, classes: list):
        self.frame, self.polars_ok, self.k, self.classes = frame, polars_ok, k, classes

    def __repr__(self) -> str:
        with pd.option_context("display.max_columns", None, "display.width", 250):
            return f"{self.frame!r}\ndtypes: {dict(self.frame.dtypes)}\nindex: {self.frame.index!r}"


#: What is wrong with a drawn frame (at most one thing; ``None``: nothing beyond its dtypes,
#: index and scale, which are drawn separately).
HAZARDS = (
    [None] * 6
    + ["empty", "one_row", "two_rows", "one_class", "one_column", "unused_category"]
    + ["null_label", "bad_value", "bad_value", "constant_features", "duplicate_rows"]
    + ["ragged", "null_annotations", "duplicated_column", "multiindex_columns"]
)


@st.composite
def frames(draw) -> Drawn:
    """A small pandas frame with every role's columns, drawn with one hazard.

    Columns: ``y`` (class label), ``p_*`` and ``q_*`` (two models' pred_probs), ``f_*``
    (numeric features), ``emb`` (one list column of the same features), ``a_*`` (annotators,
    null where one did not label), ``t`` and ``pred`` (a numeric target and its predictions).
    """
    hazard = draw(st.sampled_from(HAZARDS), label="hazard")
    n = {"empty": 0, "one_row": 1, "two_rows": 2}.get(hazard) or draw(
        st.sampled_from([3, 5, 8, 12, 20, 30])
    )
    k = 1 if hazard == "one_column" else draw(st.sampled_from([2, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    names: list = list(CLASS_NAMES[:k])

    codes = rng.integers(0, k, n) if hazard != "one_class" else np.zeros(n, dtype=int)
    if hazard != "one_class" and n >= k:
        codes[:k] = np.arange(k)
    label_kind = draw(st.sampled_from(["str", "str", "int", "bool", "categorical"]))
    if hazard == "unused_category":
        label_kind = "unused_category"
    if label_kind == "bool" and k != 2:
        label_kind = "int"
    if label_kind in ("int", "bool"):
        names = list(range(k)) if label_kind == "int" else [False, True]
        y: Any = pd.Series(np.array(names)[codes])
    elif label_kind in ("categorical", "unused_category"):
        cats = [*names, "zebra"] if label_kind == "unused_category" else names
        y = pd.Series(pd.Categorical(np.array(names, dtype=object)[codes], categories=cats))
    else:
        y = pd.Series(np.array(names, dtype=object)[codes], dtype=object)
    if hazard == "null_label" and n:
        y = y.astype(object) if label_kind in ("int", "bool") else y
        y.iloc[int(rng.integers(n))] = None

    data: dict[Any, Any] = {"y": y}
    for prefix in ("p", "q"):
        p = rng.dirichlet(np.full(k, 0.5), n) if n else np.empty((0, k))
        p[np.arange(n), codes] += rng.uniform(0, 1.5, n)
        p /= p.sum(axis=1, keepdims=True) if n else 1.0
        for j, c in enumerate(names):
            data[f"{prefix}_{c}"] = p[:, j]

    d = draw(st.sampled_from([1, 2, 3]))
    scale = draw(st.sampled_from(FEATURE_SCALES), label="feature scale")
    feats = rng.normal(size=(n, d)) * scale
    if hazard == "constant_features":
        feats[:] = scale
    elif hazard == "duplicate_rows" and n > 1:
        feats[1::2] = feats[0]
    for j in range(d):
        data[f"f_{j}"] = feats[:, j]
    ragged = hazard == "ragged" and n > 1 and d > 1
    data["emb"] = pd.Series(
        [feats[i, : d - (i % 2) if ragged else d].tolist() for i in range(n)], dtype=object
    )
    for j in range(3):
        ann = np.array(names, dtype=object)[rng.integers(0, k, n)]
        if hazard == "null_annotations":
            ann[rng.random(n) < 0.7] = None
        elif j:  # annotator 0 labels every row: every row has a label
            ann[rng.random(n) < 0.3] = None
        data[f"a_{j}"] = pd.Series(ann, dtype=object)
    t = rng.normal(size=n) * scale
    data["t"] = t
    data["pred"] = t + rng.normal(size=n) * scale * 0.1
    df = pd.DataFrame(data)

    if hazard == "bad_value" and n:  # a value the rules must reject (or tolerate)
        numeric = [c for c in df.columns if df[c].dtype == np.float64]
        column = draw(st.sampled_from(numeric), label="bad column")
        df.loc[df.index[int(rng.integers(n))], column] = draw(st.sampled_from(BAD_VALUES))

    dtypes = draw(st.sampled_from(["numpy", "numpy", "float32", "nullable", "arrow"]))
    if dtypes == "float32":
        df = df.astype({c: "float32" for c in df.columns if df[c].dtype == np.float64})
    elif dtypes == "nullable":
        df = df.convert_dtypes()
    elif dtypes == "arrow":
        df = df.convert_dtypes(dtype_backend="pyarrow")

    index = draw(st.sampled_from(["range", "range", "strings", "non_unique"]))
    if index == "strings":
        df.index = pd.Index([f"r{i}" for i in range(n)])
    elif index == "non_unique":
        df.index = pd.Index([i // 2 for i in range(n)])
    polars_ok = True
    if hazard == "duplicated_column":
        column = draw(st.sampled_from(["y", f"p_{names[0]}", "f_0", "a_0", "t", "emb"]))
        df = pd.concat([df, df[[column]]], axis=1)
        polars_ok = False
    elif hazard == "multiindex_columns":
        df.columns = pd.MultiIndex.from_tuples([(c, "x") for c in df.columns])
        polars_ok = False
    return Drawn(df, polars_ok, k, [str(c) for c in names])


def to_polars(df: pd.DataFrame, lazy: bool):
    """The same data as polars: NaN stays NaN, a Categorical becomes an Enum of its categories
    (unused ones included, in order)."""
    out = pl.from_pandas(df, nan_to_null=False)
    enums = [
        pl.col(c).cast(pl.Enum([str(v) for v in df[c].cat.categories]))
        for c in df.columns
        if isinstance(df[c].dtype, pd.CategoricalDtype)
    ]
    out = out.with_columns(enums) if enums else out
    return out.lazy() if lazy else out


# ------------------------------------------------------------------------------------------
# call recipes: keyword arguments by parameter name
# ------------------------------------------------------------------------------------------
#: parameter name -> a strategy of its value given the drawn frame; ``None`` leaves it out.
def _roles(drawn: Drawn, method: str) -> dict[str, st.SearchStrategy]:
    pred_probs = st.sampled_from(
        ["p_*", [f"p_{c}" for c in drawn.classes], {c: f"p_{c}" for c in drawn.classes}]
    )
    features = st.sampled_from(["f_*", "f_*", ["f_0"], "emb"])
    return {
        "label": st.just("y"),
        "pred_probs": (
            st.just(["p_*", "q_*"]) if method == "ensemble_label_quality_scores" else pred_probs
        ),
        "features": features,
        "annotators": st.sampled_from(["a_*", ["a_0", "a_1", "a_2"]]),
        "k": st.sampled_from([None, None, 1, 3, 0, 1000]),
        "cv": st.sampled_from([2, 2, 3, 1]),
        "prefix": st.just("cv_"),
        "count_threshold": st.sampled_from([1, 2, 10]),
        "num_permutations": st.sampled_from([5, 5, 0]),
        "rank_by": st.sampled_from([None, "normalized_margin", "confidence_weighted_entropy"]),
        "rank_by_kwargs": st.sampled_from([None, {"adjust_pred_probs": True}, {"x": 1}]),
        "weight_ensemble_members_by": st.sampled_from(
            [None, "uniform", "custom", "log_loss_search"]
        ),
        "custom_weights": st.sampled_from([None, [0.5, 0.5], [1.0], [np.nan, 1.0]]),
        "classes": st.sampled_from([None, None, None, drawn.classes, drawn.classes[::-1]]),
        "threshold": st.sampled_from([None, 0.1, 0.5]),
        "min_examples_per_class": st.sampled_from([None, 1, 3]),
        "filter_by": st.sampled_from([None, "both", "confident_learning", "predicted_neq_given"]),
        "frac_noise": st.sampled_from([None, 0.5]),
        "metric": st.sampled_from([None, "cosine", "euclidean"]),
        "method": st.sampled_from(
            {
                "label_quality_scores": [None, "normalized_margin", "confidence_weighted_entropy"],
                "find_outliers": [None, "least_confidence"],
            }.get(method, [None])
        ),
        "consensus_method": st.sampled_from([None, "majority_vote", "dawid_skene"]),
        "quality_method": st.sampled_from([None, "agreement"]),
        **(_multiannotator_roles(drawn, method, pred_probs) if method in MULTIANNOTATOR else {}),
        "progress": st.just(False),
        # object detection: the drawn frame's own rows as the predicted boxes, numeric columns as
        # coordinates (most draws end in a box rule's error, which the test accepts)
        **(
            {
                "predictions": st.just(drawn.frame),
                "image": st.sampled_from(["a_0", "y", "t"]),
                "box": st.sampled_from([["f_0", "f_0", "t", "t"], ["f_0", "f_1", "pred", "t"]]),
                "score": st.sampled_from(["pred", f"p_{drawn.classes[0]}"]),
            }
            if method.startswith("detection")
            else {}
        ),
        # token classification (group_scores, common_label_issues): a sentence and a word column
        **(
            {"group": st.sampled_from(["t", "a_0", "y"]), "token": st.sampled_from(["a_0", "y"])}
            if method in ("group_scores", "common_label_issues")
            else {}
        ),
    }


#: The multi-annotator accessor methods whose consensus methods, ensembles, gold labels and
#: seeds are drawn (``_multiannotator_roles``).
MULTIANNOTATOR = ("consensus", "annotator_stats", "label_quality", "active_learning_scores")
#: Every consensus method (crowd-kit's aggregators included) and a name that is none.
CONSENSUS_METHODS = (
    "best_quality",
    "majority_vote",
    "dawid_skene",
    "one_coin_dawid_skene",
    "glad",
    "mace",
    "wawa",
    "zero_based_skill",
    "kos",
    "m_msr",
    "gold_majority_vote",
    "nope",
)
WITHOUT_PRED_PROBS = {"dawid_skene", *CONSENSUS_METHODS[3:]}


def _multiannotator_roles(drawn: Drawn, method: str, pred_probs) -> dict:
    """consensus_method / method (one shared draw, so that both given agree, or only one is
    filled), pred_probs (one model or an ensemble ``["p_*", "q_*"]``; mostly left out for the
    methods that take none), gold (a label column, mostly only with gold_majority_vote) and
    seed."""
    consensus = st.shared(st.sampled_from(CONSENSUS_METHODS), key="consensus method")
    models = st.one_of(pred_probs, st.just(["p_*", "q_*"]), st.just(["p_*", "p_*"]))
    if method == "active_learning_scores":  # no consensus_method; pred_probs required
        return {"pred_probs": models}
    return {
        "consensus_method": consensus,
        "method": consensus,
        "pred_probs": consensus.flatmap(
            lambda c: (
                st.sampled_from([None, None, None, None, "p_*"])
                if c in WITHOUT_PRED_PROBS
                else models
            )
        ),
        "gold": consensus.flatmap(
            lambda c: (
                st.sampled_from(["y", "y", "a_1", "p_*"])
                if c == "gold_majority_vote"
                else st.sampled_from([None, None, None, None, None, None, None, "y"])
            )
        ),
        "seed": st.sampled_from([None, None, None, None, None, 0, 7, -1]),
        "calibrate_probs": st.sampled_from([False, False, False, True]),  # needs pred_probs
    }


#: Keyword arguments not used for the call (a knn_graph of another frame, a model object,
#: ``overwrite`` toggles). Every other keyword-only parameter with a default may be drawn.
UNUSED = {
    "knn_graph",
    "model",
    "overwrite",
    "return_knn_graph",
    "backend",
    "confident_joint",
}
#: Parameters filled only sometimes (the others with a role are filled whenever present).
SOMETIMES = {
    "classes",
    "rank_by",
    "rank_by_kwargs",
    "weight_ensemble_members_by",
    "custom_weights",
    "metric",
    "method",
    "consensus_method",
    "quality_method",
    "k",
    "threshold",
    "min_examples_per_class",
    "filter_by",
    "frac_noise",
    "count_threshold",
}
#: Optional inputs left out now and then (methods that take one of several inputs).
OPTIONAL_INPUTS = {"label", "pred_probs", "features"}
#: The long layout's keywords of the multi-annotator methods (the drawn frame is wide).
LONG_LAYOUT = {"item", "annotator", "label"}
#: ``**kwargs`` methods that forward them to another accessor method (whose parameters are
#: drawn for them); other ``**kwargs`` are left empty.
VAR_KEYWORD_TARGETS = {"find_issues": "audit"}


def _parameters(method: str) -> list[inspect.Parameter]:
    """The keyword parameters of ``df.cl.<method>`` (``**kwargs`` resolved where known)."""
    params = list(inspect.signature(getattr(CleanAccessor, method)).parameters.values())[1:]
    if method in VAR_KEYWORD_TARGETS and any(p.kind is p.VAR_KEYWORD for p in params):
        params = [p for p in params if p.kind is not p.VAR_KEYWORD]
        params += _parameters(VAR_KEYWORD_TARGETS[method])
    return params


@st.composite
def calls(draw, method: str, drawn: Drawn) -> dict:
    """Keyword arguments for ``df.cl.<method>`` built from its signature."""
    params = _parameters(method)
    roles = _roles(drawn, method)
    kwargs: dict[str, Any] = {}
    names = {p.name for p in params}
    detection = method.startswith("detection")  # predictions= is a frame of boxes there
    regression = "predictions" in names and not detection and draw(st.booleans())
    wide = "annotators" in names  # multi-annotator: the wide layout of the drawn frame
    for p in params:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.name in UNUSED or (wide and p.name in LONG_LAYOUT):
            continue
        if regression and p.name in ("label", "predictions"):
            kwargs[p.name] = {"label": "t", "predictions": "pred"}[p.name]
            continue
        if regression and p.name in ("pred_probs", "classes"):
            continue
        required = p.default is p.empty
        if p.name not in roles and isinstance(p.default, bool):  # any flag, either way
            kwargs[p.name] = draw(st.booleans())
            continue
        if p.name not in roles:
            assert not required, (
                f"{method}: no fuzz role for the required parameter {p.name!r}; add one to "
                f"tests/test_fuzz.py::_roles"
            )
            continue
        if p.name in SOMETIMES and not required and not draw(st.booleans()):
            continue
        if p.name in OPTIONAL_INPUTS and not required and draw(st.integers(0, 5)) == 0:
            continue
        value = draw(roles[p.name])
        if value is not None:
            kwargs[p.name] = value
    return kwargs


@st.composite
def long_layout(draw, drawn: Drawn, kwargs: dict):
    """The drawn frame's annotations as one row per (item, annotator) with a label, and the
    multi-annotator keywords for that layout (``item=``, ``annotator=``, ``label=``)."""
    wide = drawn.frame
    names = [c for c in wide.columns if str(c).startswith("a_")]
    items = draw(st.sampled_from(["int", "str"]), label="item ids")
    gold_column = isinstance(kwargs.get("gold"), str) and kwargs["gold"] in wide.columns
    rows = []
    for i in range(len(wide)):
        for c in names:
            value = wide[c].iloc[i]
            if value is not None and value is not pd.NA:
                row = {"item": i if items == "int" else f"i{i}", "who": c, "label": value}
                if gold_column:
                    row["gold"] = wide[kwargs["gold"]].iloc[i]  # the same on every item row
                rows.append(row)
    # only a column the wide frame has (a missing one stays missing: a NaN-filled column would
    # be null in pandas but NaN, a value, in polars)
    gold = ["gold"] if gold_column else []
    long = pd.DataFrame(rows, columns=["item", "who", "label", *gold])
    if gold_column:  # object, as in the wide frame: ints with None must not become NaN floats
        long["gold"] = pd.Series([r["gold"] for r in rows], dtype=object, index=long.index)
    if len(long) and draw(st.integers(0, 5), label="repeat an annotation") == 0:
        long = pd.concat([long, long.iloc[[0]]], ignore_index=True)
    if draw(st.booleans(), label="shuffle"):
        long = long.iloc[np.random.default_rng(0).permutation(len(long))]
    out = {k: v for k, v in kwargs.items() if k not in ("annotators", "pred_probs")}
    out.update(item="item", annotator="who", label="label")
    if isinstance(kwargs.get("gold"), str):
        out["gold"] = "gold"  # the long frame's column (missing when the wide one was)
    return Drawn(long, True, drawn.k, drawn.classes), out


# ------------------------------------------------------------------------------------------
# results as comparable data
# ------------------------------------------------------------------------------------------
def _cell(v):
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (list, tuple, np.ndarray, pl.Series)):
        return tuple(_cell(x) for x in list(v))
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    return str(v)


def _frame(obj, exact: bool):
    if isinstance(obj, pl.LazyFrame):
        obj = obj.collect()
    if isinstance(obj, (pl.DataFrame, pl.Series)):
        obj = obj.to_pandas() if isinstance(obj, pl.DataFrame) else obj.to_frame().to_pandas()
    if isinstance(obj, pd.Series):
        obj = obj.to_frame()
    if not exact and any(name is not None for name in obj.index.names):
        obj = obj.reset_index()  # a table's named index (e.g. given_label) is a polars column
    out: dict[str, Any] = {"columns": [str(c) for c in obj.columns]}
    values = []
    for i in range(obj.shape[1]):
        s = obj.iloc[:, i]
        if pd.api.types.is_bool_dtype(s.dtype) or (
            pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype)
        ):
            values.append(s.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            values.append([_cell(v) for v in s.tolist()])
    out["values"] = values
    if exact:
        out["index"] = [str(i) for i in obj.index]
        out["dtypes"] = [str(t) for t in obj.dtypes]
    return out


def canonical(obj, exact: bool):
    """``obj`` as nested lists / dicts / arrays; ``exact=False`` drops what differs between
    libraries by design (the index, dtypes, a pandera schema's checks)."""
    if isinstance(obj, (pd.DataFrame, pd.Series, pl.DataFrame, pl.LazyFrame, pl.Series)):
        return ("frame", _frame(obj, exact))
    if obj is None or isinstance(obj, (bool, str, np.bool_)):
        return obj if not isinstance(obj, np.bool_) else bool(obj)
    if isinstance(obj, (int, float, np.integer, np.floating)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return [canonical(x, exact) for x in obj.tolist()]
        return obj.copy()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (
            type(obj).__name__,
            {f.name: canonical(getattr(obj, f.name), exact) for f in dataclasses.fields(obj)},
        )
    if isinstance(obj, dict):
        return {str(key): canonical(v, exact) for key, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(x, exact) for x in obj]
    if hasattr(obj, "columns") and hasattr(obj, "validate"):  # a pandera schema
        return ("schema", sorted(map(str, obj.columns)), repr(obj) if exact else None)
    return ("object", type(obj).__name__, repr(obj) if exact else None)


def assert_same(a, b, *, rtol: float, path: str = "result") -> None:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, (path, a.shape, b.shape)
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            np.testing.assert_allclose(
                a.astype(float), b.astype(float), rtol=rtol, atol=0, equal_nan=True, err_msg=path
            )
        else:
            np.testing.assert_array_equal(a, b, err_msg=path)
        return
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), (path, a, b)
        else:
            assert a == b or abs(a - b) <= rtol * max(abs(a), abs(b)), (path, a, b)
        return
    assert type(a) is type(b), (path, type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b), (path, list(a), list(b))
        for key in a:
            assert_same(a[key], b[key], rtol=rtol, path=f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, rtol=rtol, path=f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


# ------------------------------------------------------------------------------------------
# one call
# ------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    result: Any = None
    error: ValidationError | None = None

    def describe(self) -> str:
        return "a result" if self.error is None else f"ValidationError({self.error.rule!r})"


def run(frame, method: str, kwargs: dict) -> Outcome:
    """Call ``frame.cl.<method>(**kwargs)``; a lazy result is collected (so every check ran).

    One BLAS / OpenMP thread: the default model of ``cross_val_pred_probs`` (histogram gradient
    boosting) spends seconds per tiny frame in OpenMP waits when the cores are shared.
    """
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        try:
            result = getattr(frame.cl, method)(**copy.deepcopy(kwargs))
            if isinstance(result, pl.LazyFrame):
                result = result.collect()
            return Outcome(result=result)
        except ValidationError as err:
            return Outcome(error=err)


#: Result columns holding a score: a float in [0, 1], lower = worse (DESIGN.md "Results").
def _is_score_column(name) -> bool:
    name = str(name)
    return name.endswith("_score") or name in ("consensus_quality", "annotator_agreement")


def _frames_in(obj):
    """Every frame inside a result (a frame, a dataclass of them, dicts and lists of them)."""
    if isinstance(obj, (pd.DataFrame, pl.DataFrame, pl.LazyFrame)):
        yield obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _frames_in(getattr(obj, f.name))
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _frames_in(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _frames_in(v)


def assert_valid(result, frame) -> None:
    """Scores in [0, 1]; a frame that extends the input has its rows, in order, with its index."""
    given = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    for out in _frames_in(result):
        out = out.collect() if isinstance(out, pl.LazyFrame) else out
        for name in out.columns:
            if not _is_score_column(name) or name in list(given.columns):
                continue
            values = (out[name] if isinstance(out, pl.DataFrame) else out[name]).to_numpy()
            values = np.asarray(values, dtype=np.float64)
            values = values[~np.isnan(values)]
            assert ((values >= 0) & (values <= 1)).all(), (name, values)
        if type(out) is not type(given):  # it extends another input (detection: predictions=)
            continue
        n_given = given.shape[1]
        if list(out.columns)[:n_given] == list(given.columns) and out.shape[1] > n_given:
            assert out.shape[0] == given.shape[0]
            if isinstance(out, pd.DataFrame):
                assert out.index.equals(given.index)
                pd.testing.assert_frame_equal(out.iloc[:, :n_given], given)
            else:
                assert out.select(given.columns).equals(given, null_equal=True)


def snapshot(frame):
    if isinstance(frame, pd.DataFrame):
        return copy.deepcopy(frame)
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    return frame.clone()


def assert_unchanged(frame, before) -> None:
    if isinstance(frame, pd.DataFrame):
        pd.testing.assert_frame_equal(frame, before, check_exact=True)
        for a, b in zip(frame.itertuples(index=False), before.itertuples(index=False)):
            assert repr(a) == repr(b)  # list cells compared element by element
        return
    now = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    assert now.schema == before.schema
    assert now.equals(before, null_equal=True)


def outcome_key(o: Outcome, exact: bool):
    if o.error is not None:
        return ("error", o.error.rule, o.error.column) + ((str(o.error),) if exact else ())
    return ("result", canonical(o.result, exact))


def check_twice(frame, method: str, kwargs: dict) -> Outcome:
    """Run twice on ``frame``: valid outcome, input unchanged, the same outcome both times."""
    before = snapshot(frame)
    first = run(frame, method, kwargs)
    assert_unchanged(frame, before)
    if first.error is None:
        assert_valid(first.result, frame)
    second = run(frame, method, kwargs)
    assert_unchanged(frame, before)
    assert_same(outcome_key(first, True), outcome_key(second, True), rtol=0.0)
    return first


@pytest.mark.parametrize("method", METHODS)
@FUZZ_SETTINGS
@given(data=st.data())
def test_every_method_survives_adversarial_frames(method, data):
    drawn = data.draw(frames(), label="frame")
    kwargs = data.draw(calls(method, drawn), label="kwargs")
    if "annotators" in kwargs and drawn.polars_ok and data.draw(st.booleans(), label="long"):
        drawn, kwargs = data.draw(long_layout(drawn, kwargs), label="long layout")
    on_pandas = check_twice(drawn.frame, method, kwargs)
    event(on_pandas.describe())
    if not drawn.polars_ok:
        return
    lazy = data.draw(st.booleans(), label="lazy")
    try:
        frame = to_polars(drawn.frame, lazy)
    except (pl.exceptions.PolarsError, TypeError, ValueError, ArithmeticError):
        event("no polars frame")
        return  # pandas data polars cannot hold (e.g. mixed object columns): nothing to compare
    on_polars = check_twice(frame, method, kwargs)
    assert on_pandas.describe() == on_polars.describe(), (
        on_pandas.error or "",
        on_polars.error or "",
    )
    assert_same(outcome_key(on_pandas, False), outcome_key(on_polars, False), rtol=1e-9)


def test_every_accessor_method_is_fuzzed():
    """The parametrisation above is the accessor's method list, not a copy of it."""
    assert METHODS == sorted(
        name for name in dir(pd.DataFrame({"a": [1]}).cl) if not name.startswith("_")
    )


# ------------------------------------------------------------------------------------------
# crashes the fuzz test found (each one pinned on every frame type)
# ------------------------------------------------------------------------------------------
INT_LABELS = pd.DataFrame(
    {
        "y": [1, 0, 1, 0, 2],
        "p_0": [0.2, 0.7, 0.4, 0.9, 0.1],
        "p_1": [0.7, 0.2, 0.3, 0.05, 0.1],
        "p_2": [0.1, 0.1, 0.3, 0.05, 0.8],
    }
)


@pytest.mark.parametrize(
    "spec",
    [
        {"pred_probs": "p_*", "classes": ["0", "1", "2"]},
        {"pred_probs": {"0": "p_0", "1": "p_1", "2": "p_2"}},
        {"pred_probs": "p_*", "classes": [0, 1, 2.0]},
    ],
)
def test_classes_given_as_strings_of_integer_labels(constructor, spec):
    # polars raised TypeError (an Int64 column built from "0"), pandas ValueError for "zebra"
    out = to_pandas(constructor(INT_LABELS).cl.find_label_issues(label="y", **spec))
    assert out["predicted_label"].tolist() == [1, 0, 0, 0, 2]
    assert pd.api.types.is_integer_dtype(out["predicted_label"].dtype)


@pytest.mark.parametrize("classes", [[0, 1, "zebra"], ["0", "1", "x"]])
def test_classes_the_label_column_cannot_hold_are_an_error(constructor, classes):
    with pytest.raises(ValidationError, match="cannot be a value of the integer label column"):
        constructor(INT_LABELS).cl.find_label_issues(label="y", pred_probs="p_*", classes=classes)


def test_annotator_classes_given_as_strings_of_integer_labels(constructor):
    data = pd.DataFrame(
        {"a_0": [1, 0, 1, 0], "a_1": [1, 0, None, 0], "p_0": [0.3, 0.6, 0.2, 0.9]}
    ).assign(p_1=lambda d: 1 - d["p_0"])
    data["a_1"] = data["a_1"].astype("Int64")
    for spec in ({"classes": ["0", "1"]}, {"pred_probs": {"0": "p_0", "1": "p_1"}}):
        out = to_pandas(constructor(data).cl.consensus(annotators="a_*", **spec))
        assert out["consensus_label"].tolist() == [1, 0, 1, 0]


def _rare_first_class(labels) -> pd.DataFrame:
    p = np.random.default_rng(0).dirichlet(np.ones(3), len(labels))
    return pd.DataFrame({"y": labels, "p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2]})


def test_merging_rare_classes_of_a_boolean_label_is_an_error(constructor):
    # polars raised TypeError (a Boolean column built from "other"); pandas mixed True and
    # "other" in an object column
    labels = [False] * 3 + [True] * 17
    df = pd.DataFrame({"y": labels, "p_False": np.linspace(0.9, 0.1, 20)})
    df["p_True"] = 1 - df["p_False"]
    with pytest.raises(ValidationError, match="boolean label column cannot hold"):
        constructor(df).cl.merge_rare_classes(label="y", pred_probs="p_*")


def test_merging_rare_classes_of_float_labels_adds_a_number(constructor):
    # a float label column got the class "other", which polars cannot hold either
    labels = [0.0] * 3 + [1.0] * 12 + [2.0] * 12
    df = _rare_first_class(labels).rename(columns={"p_a": "p_0", "p_b": "p_1", "p_c": "p_2"})
    merged = constructor(df).cl.merge_rare_classes(label="y", pred_probs="p_*")
    assert merged.classes == [1.0, 2.0, 3.0]
    assert to_pandas(merged.frame)["y"].tolist() == [3.0] * 3 + labels[3:]
    with pytest.raises(ValidationError, match="numeric label column"):
        constructor(df).cl.merge_rare_classes(label="y", pred_probs="p_*", other_class="rare")


# ------------------------------------------------------------------------------------------
# the hypothesis profiles (tests/conftest.py)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CI": "true"}, "ci True None None"),
        ({"CI": "true", "HYPOTHESIS_PROFILE": "fuzz"}, "fuzz False db None"),
        ({}, "default False db None"),
    ],
)
def test_ci_runs_replay_a_fixed_set_of_examples(env, expected):
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "from tests import conftest; from hypothesis import settings as s; d = s.default; "
        "print(conftest.HYPOTHESIS_PROFILE, d.derandomize, "
        "'db' if d.database is not None else None, d.deadline)"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split("\n")[-2] == expected


# ------------------------------------------------------------------------------------------
# arguments the fuzz test found raising raw errors from the kernels
# ------------------------------------------------------------------------------------------
TWO_MODELS = pd.DataFrame(
    {
        "y": ["a", "b", "a", "b"],
        "m1_a": [0.7, 0.6, 0.2, 0.3],
        "m1_b": [0.3, 0.4, 0.8, 0.7],
        "m2_a": [0.9, 0.2, 0.5, 0.5],
        "m2_b": [0.1, 0.8, 0.5, 0.5],
    }
)
ENTROPY = "confidence_weighted_entropy"
CUSTOM = dict(label="y", pred_probs=["m1_*", "m2_*"], weight_ensemble_members_by="custom")
#: case: (method, its other arguments, a good value, the bad value, the rule named)
ARGUMENT_CASES = {
    "entropy score, adjusted": (
        "label_quality_scores",
        dict(label="y", pred_probs="m1_*", method=ENTROPY),
        dict(adjust_pred_probs=False),
        dict(adjust_pred_probs=True),
        "adjust_pred_probs",
    ),
    "entropy ensemble, adjusted": (
        "ensemble_label_quality_scores",
        dict(label="y", pred_probs=["m1_*", "m2_*"], method=ENTROPY),
        dict(adjust_pred_probs=False),
        dict(adjust_pred_probs=True),
        "adjust_pred_probs",
    ),
    "entropy ranking, adjusted": (
        "find_label_issues",
        dict(label="y", pred_probs="m1_*", rank_by=ENTROPY),
        dict(rank_by_kwargs={"adjust_pred_probs": False}),
        dict(rank_by_kwargs={"adjust_pred_probs": True}),
        "adjust_pred_probs",
    ),
    "unknown ranking option": (
        "find_label_issues",
        dict(label="y", pred_probs="m1_*"),
        dict(rank_by_kwargs={"adjust_pred_probs": True}),
        dict(rank_by_kwargs={"adjust": True}),
        "rank_by_kwargs",
    ),
    "custom weighting without weights": (
        "ensemble_label_quality_scores",
        CUSTOM,
        dict(custom_weights=[0.5, 0.5]),
        dict(),
        "custom_weights",
    ),
    "one weight for two models": (
        "ensemble_label_quality_scores",
        CUSTOM,
        dict(custom_weights=[0.5, 0.5]),
        dict(custom_weights=[1.0]),
        "custom_weights",
    ),
    "NaN weight": (
        "ensemble_label_quality_scores",
        CUSTOM,
        dict(custom_weights=[0.5, 0.5]),
        dict(custom_weights=[np.nan, 1.0]),
        "custom_weights",
    ),
    "removal counts without pruning": (
        "find_label_issues",
        dict(label="y", pred_probs="m1_*", filter_by="confident_learning"),
        dict(),
        dict(num_to_remove_per_class=[1, 1]),
        "num_to_remove_per_class",
    ),
    "no permutations": (
        "non_iid",
        dict(features=["m1_a", "m2_a"], k=2),
        dict(num_permutations=3),
        dict(num_permutations=0),
        "num_permutations",
    ),
    "one fold": (
        "cross_val_pred_probs",
        dict(label="y", features=["m1_a"], progress=False),
        dict(cv=2),
        dict(cv=1),
        "cv",
    ),
}


@pytest.mark.parametrize("case", list(ARGUMENT_CASES))
def test_bad_arguments_are_validation_errors(constructor, case):
    # each raised a ValueError from inside a kernel (a NaN weight gave NaN scores)
    method, common, good, bad, rule = ARGUMENT_CASES[case]
    frame = constructor(TWO_MODELS)
    assert run(frame, method, {**common, **good}).error is None
    with pytest.raises(ValidationError) as err:
        getattr(frame.cl, method)(**common, **bad)
    assert err.value.rule == rule
