"""Synthetic label noise: ``inject_label_noise``, ``noise_matrix_from_trace``,
``noise_matrix_is_valid``.

Parity with cleanlab 2.9's ``benchmarking.noise_generation``: the per-class flip counts of
``generate_noisy_labels`` (exactly, on synthetic labels and on the bundled CIFAR-10 labels), the
validity rule of ``noise_matrix_is_valid`` and the rules a matrix from
``generate_noise_matrix_from_trace`` obeys. The random streams differ by design (numpy's
``Generator`` here, the legacy global stream there), so rows are not compared one by one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from cleanlab.benchmarking import noise_generation as ref
from hypothesis import given
from hypothesis import strategies as st

import cleanframe
from cleanframe.datasets import load_arrays
from cleanframe.errors import ValidationError
from cleanframe.noise import inject_label_noise, noise_matrix_from_trace, noise_matrix_is_valid
from cleanframe.scoring.classification import noise as kernel

from .conftest import FRAME_TYPES, HYPOTHESIS_SETTINGS, make_frame, to_pandas


def crosstab(noisy, true, k):
    out = np.zeros((k, k), dtype=np.int64)
    np.add.at(out, (np.asarray(noisy), np.asarray(true)), 1)
    return out


def expected_counts(T, true, k):
    """The reference's flip counts: floor(T * py * N) off the diagonal, the rest kept."""
    counts = np.bincount(true, minlength=k)
    if not len(true):
        return np.zeros((k, k), dtype=np.int64)
    flips = (np.asarray(T) * (counts / len(true)) * len(true)).astype(int)
    np.fill_diagonal(flips, 0)
    return flips + np.diag(counts - flips.sum(axis=0))


def random_matrix(rng, k):
    return rng.dirichlet(np.ones(k) * 0.7, k).T  # columns sum to 1


# ----------------------------------------------------------------------------------------------
# parity with the reference's flip counts
# ----------------------------------------------------------------------------------------------


def test_flip_counts_equal_cleanlabs_on_synthetic_labels():
    rng = np.random.default_rng(0)
    for trial in range(60):
        k = int(rng.integers(2, 8))
        n = int(rng.integers(k, 600))
        true = rng.integers(0, k, n)
        true[:k] = np.arange(k)  # every class occurs (cleanlab's prior needs all K)
        T = random_matrix(rng, k)
        np.random.seed(trial)
        theirs = crosstab(ref.generate_noisy_labels(true, T), true, k)
        ours = crosstab(kernel.noisy_labels(true, T, rng=np.random.default_rng(trial)), true, k)
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(ours, expected_counts(T, true, k))


def test_flip_counts_equal_cleanlabs_on_cifar10_labels():
    arrays = load_arrays("cifar10")
    true = arrays["labels"]
    names = [str(c) for c in arrays["class_names"]]
    py = np.bincount(true) / len(true)
    T = noise_matrix_from_trace(10, 7.0, py=py, frac_zero_noise_rates=0.4, seed=3)
    assert ref.noise_matrix_is_valid(T, py)
    np.random.seed(0)
    theirs = crosstab(ref.generate_noisy_labels(true, T), true, 10)
    df = pd.DataFrame({"label": np.array(names, dtype=object)[true]})
    out = df.cl.inject_label_noise(label="label", noise_matrix=T, classes=names, seed=1)
    codes = {c: i for i, c in enumerate(names)}
    noisy = out["noisy_label"].map(codes).to_numpy()
    np.testing.assert_array_equal(crosstab(noisy, true, 10), theirs)
    assert int(out["is_flipped"].sum()) == int(theirs.sum() - np.trace(theirs))


def test_validity_rule_equals_cleanlabs():
    rng = np.random.default_rng(1)
    verdicts = []
    for _ in range(400):
        k = int(rng.integers(2, 6))
        T = random_matrix(rng, k)
        py = rng.dirichlet(np.ones(k))
        ours = noise_matrix_is_valid(T, py)
        assert ours == ref.noise_matrix_is_valid(T, py)
        verdicts.append(ours)
    assert 0 < sum(verdicts) < len(verdicts)  # both verdicts occur


# ----------------------------------------------------------------------------------------------
# inject_label_noise on every frame type
# ----------------------------------------------------------------------------------------------


def animals(n_per_class=(30, 20, 10)):
    names = ["ant", "bee", "cow"]
    y = np.repeat(np.arange(3), n_per_class)
    return pd.DataFrame({"y": np.array(names, dtype=object)[y], "x": np.arange(len(y))}), y


T3 = np.array([[0.7, 0.1, 0.0], [0.2, 0.8, 0.5], [0.1, 0.1, 0.5]])


def test_inject_adds_noisy_label_and_flag(constructor):
    base, y = animals()
    df = constructor(base)
    before = to_pandas(df).copy()
    out = df.cl.inject_label_noise(label="y", noise_matrix=T3, seed=7)
    assert type(out) is type(df)
    res = to_pandas(out)
    pd.testing.assert_frame_equal(to_pandas(df), before)  # input unchanged
    assert list(res.columns) == ["y", "x", "noisy_y", "is_flipped"]
    assert list(res["x"]) == list(range(len(base)))
    noisy = res["noisy_y"].map({"ant": 0, "bee": 1, "cow": 2}).to_numpy()
    np.testing.assert_array_equal(crosstab(noisy, y, 3), expected_counts(T3, y, 3))
    np.testing.assert_array_equal(res["is_flipped"].to_numpy(dtype=bool), noisy != y)
    assert res["is_flipped"].dtype == bool or str(res["is_flipped"].dtype).startswith("bool")


def test_same_result_on_every_frame_type_and_seed_matters():
    base, _ = animals()
    results = [
        to_pandas(inject_label_noise(make_frame(kind, base), label="y", frac=0.4, seed=3))
        for kind in FRAME_TYPES
    ]
    for res in results[1:]:
        assert res["noisy_y"].astype(str).tolist() == results[0]["noisy_y"].astype(str).tolist()
        assert res["is_flipped"].tolist() == results[0]["is_flipped"].tolist()
    other = inject_label_noise(base, label="y", frac=0.4, seed=4)
    assert other["is_flipped"].tolist() != results[0]["is_flipped"].tolist()
    assert other["is_flipped"].sum() == results[0]["is_flipped"].sum()


def test_frac_flips_evenly_and_exactly():
    base, y = animals((40, 40, 20))
    out = inject_label_noise(base, label="y", frac=0.5, seed=0)
    noisy = out["noisy_y"].map({"ant": 0, "bee": 1, "cow": 2}).to_numpy()
    ct = crosstab(noisy, y, 3)
    np.testing.assert_array_equal(ct, [[20, 10, 5], [10, 20, 5], [10, 10, 10]])
    assert inject_label_noise(base, label="y", frac=0.0)["is_flipped"].sum() == 0


def test_label_dtypes_are_kept(constructor):
    base = pd.DataFrame({"i": np.repeat([3, 5], 10), "b": np.repeat([False, True], 10)})
    df = constructor(base)
    for label in ("i", "b"):
        out = df.cl.inject_label_noise(label=label, frac=0.3, seed=1, out=f"n_{label}")
        native = out.collect() if isinstance(out, pl.LazyFrame) else out
        assert native[f"n_{label}"].dtype == native[label].dtype
        res = to_pandas(out)
        assert int(res["is_flipped"].sum()) == 6  # floor(0.3 * 10) in each of the 2 classes
        assert set(res[f"n_{label}"].tolist()) == set(res[label].tolist())


def test_categorical_label_keeps_its_categories(constructor_indexed):
    cat = pd.Categorical(np.repeat(["lo", "hi"], 10), categories=["lo", "hi", "mid"])
    df = constructor_indexed(pd.DataFrame({"c": cat}))
    out = df.cl.inject_label_noise(label="c", frac=0.3, seed=1)
    assert out["noisy_c"].dtype == out["c"].dtype
    # three classes (the category order): 3 rows of each class flip, 1 or 2 of them to "mid"
    assert out["is_flipped"].sum() == 6
    assert out[out["is_flipped"]].groupby("c", observed=True).size().to_dict() == {"lo": 3, "hi": 3}
    assert 2 <= (out["noisy_c"].astype(str) == "mid").sum() <= 4
    # the symmetric matrix instead: floor(0.15 * 10) = 1 row to each other class
    T = kernel.symmetric_noise_matrix(3, 0.3)
    out = df.cl.inject_label_noise(label="c", noise_matrix=T, seed=1)
    assert out["is_flipped"].sum() == 4 and (out["noisy_c"].astype(str) == "mid").sum() == 2


def test_noise_matrix_as_a_table_and_classes_order():
    base, y = animals()
    table = pd.DataFrame(T3, columns=["ant", "bee", "cow"])
    a = inject_label_noise(base, label="y", noise_matrix=table, seed=2)
    b = inject_label_noise(base, label="y", noise_matrix=T3, seed=2)
    assert a["noisy_y"].tolist() == b["noisy_y"].tolist()
    # the same matrix in another class order gives the same counts
    order = ["cow", "ant", "bee"]
    perm = [2, 0, 1]
    c = inject_label_noise(base, label="y", noise_matrix=T3[np.ix_(perm, perm)], classes=order)
    noisy = c["noisy_y"].map({"ant": 0, "bee": 1, "cow": 2}).to_numpy()
    np.testing.assert_array_equal(crosstab(noisy, y, 3), expected_counts(T3, y, 3))


def test_frac_flips_every_class_its_rounded_share():
    df = pd.DataFrame({"y": ["a"] * 7 + ["b"] * 3 + ["c"] * 11})
    y = np.repeat([0, 1, 2], [7, 3, 11])
    out = inject_label_noise(df, label="y", frac=0.3, seed=4)
    ct = crosstab(out["noisy_y"].map({"a": 0, "b": 1, "c": 2}).to_numpy(), y, 3)
    flipped = ct.sum(axis=0) - np.diag(ct)
    np.testing.assert_array_equal(flipped, [2, 1, 3])  # floor(0.3 * n + 0.5)
    for col in range(3):
        off = np.delete(ct[:, col], col)
        assert off.max() - off.min() <= 1  # spread evenly over the other classes
    # a small class still loses its share (the symmetric matrix's floors would flip none)
    small = pd.DataFrame({"y": ["a"] * 5 + ["b"] * 95})
    out = inject_label_noise(small, label="y", frac=0.2, seed=0)
    assert out.groupby("y")["is_flipped"].sum().to_dict() == {"a": 1, "b": 19}


@given(
    counts=st.lists(st.integers(0, 60), min_size=2, max_size=6),
    frac=st.floats(0, 1),
    seed=st.integers(0, 1000),
)
@HYPOTHESIS_SETTINGS
def test_property_fraction_flip_counts(counts, frac, seed):
    counts = np.array(counts)
    flips = kernel.fraction_flip_counts(counts, frac, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(flips.sum(axis=0), np.floor(frac * counts + 0.5))
    assert (np.diag(flips) == 0).all()
    k = len(counts)
    for col in range(k):
        off = np.delete(flips[:, col], col)
        assert off.max() - off.min() <= 1
    again = kernel.fraction_flip_counts(counts, frac, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(flips, again)
    true = np.repeat(np.arange(k), counts)
    noisy = kernel.relabel(true, flips, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(crosstab(noisy, true, k), flips + np.diag(counts - flips.sum(0)))


def test_a_class_without_rows_can_receive_flips():
    df = pd.DataFrame({"y": ["a"] * 10 + ["b"] * 10})
    T = [[0.5, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]]
    out = inject_label_noise(df, label="y", noise_matrix=T, classes=["a", "b", "c"], seed=0)
    assert out["noisy_y"].value_counts().to_dict() == {"b": 10, "a": 5, "c": 5}


def test_overwrite_and_out():
    base, _ = animals()
    out = inject_label_noise(base, label="y", frac=0.2, out="y_noisy")
    assert "y_noisy" in out.columns and "noisy_y" not in out.columns
    with pytest.raises(ValidationError, match="already exists"):
        inject_label_noise(out, label="y", frac=0.2, out="y_noisy")
    again = inject_label_noise(out, label="y", frac=0.2, out="y_noisy", overwrite=True, seed=5)
    assert list(again.columns) == list(out.columns)


@given(
    k=st.integers(2, 5),
    n=st.integers(0, 120),
    seed=st.integers(0, 2**31),
    data=st.data(),
)
@HYPOTHESIS_SETTINGS
def test_property_reproducible_and_exact_counts(k, n, seed, data):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    T = random_matrix(rng, k)
    s = data.draw(st.integers(0, 2**31), label="noise seed")
    first = kernel.noisy_labels(true, T, rng=np.random.default_rng(s))
    second = kernel.noisy_labels(true, T, rng=np.random.default_rng(s))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(crosstab(first, true, k), expected_counts(T, true, k))
    assert first.min(initial=0) >= 0 and first.max(initial=0) < k


# ----------------------------------------------------------------------------------------------
# noise_matrix_from_trace
# ----------------------------------------------------------------------------------------------


@given(
    k=st.integers(2, 7),
    seed=st.integers(0, 10_000),
    frac_zero=st.sampled_from([0.0, 0.0, 0.3, 0.6, 1.0]),
    share=st.floats(0.3, 0.95),
)
@HYPOTHESIS_SETTINGS
def test_property_trace_matrix_obeys_the_rules(k, seed, frac_zero, share):
    rng = np.random.default_rng(seed)
    py = rng.dirichlet(np.ones(k) * 2)
    trace = 1.0 + share * (k - 1.0)  # in (1, K)
    T = noise_matrix_from_trace(k, trace, py=py, frac_zero_noise_rates=frac_zero, seed=seed)
    assert T.shape == (k, k)
    np.testing.assert_allclose(T.sum(axis=0), 1.0, atol=1e-9)
    assert np.trace(T) == pytest.approx(trace, abs=1e-6)
    assert (T >= 0).all() and (T <= 1 + 1e-9).all()
    assert ref.noise_matrix_is_valid(T, py)
    if k > 2:  # the reference's share of zero noise rates ("or higher" when forced)
        off = T[~np.eye(k, dtype=bool)]
        noisy_cols = int((np.diag(T) < 1).sum())
        wanted = min(
            int(k * (k - 1) * frac_zero), (k - noisy_cols) * (k - 1) + noisy_cols * (k - 2)
        )
        assert (off == 0).sum() >= wanted
        # every noisy column keeps at least one non-zero noise rate
        assert all((T[:, j] > 0).sum() >= 2 for j in range(k) if T[j, j] < 1)
    again = noise_matrix_from_trace(k, trace, py=py, frac_zero_noise_rates=frac_zero, seed=seed)
    np.testing.assert_array_equal(T, again)


def test_trace_matrix_bounds_and_seeds():
    T = noise_matrix_from_trace(
        4,
        3.0,
        py=[0.25] * 4,
        max_trace_prob=0.8,
        min_trace_prob=0.7,
        max_noise_rate=0.2,
        min_noise_rate=0.01,
        seed=11,
    )
    diag = np.diag(T)
    off = T[~np.eye(4, dtype=bool)]
    assert (diag >= 0.7 - 1e-6).all() and (diag <= 0.8 + 1e-6).all()
    assert (off <= 0.2 + 1e-6).all() and (off[off > 0] >= 0.01 - 1e-6).all()
    others = {noise_matrix_from_trace(4, 3.0, py=[0.25] * 4, seed=s).tobytes() for s in range(5)}
    assert len(others) == 5


def test_two_classes():
    T = noise_matrix_from_trace(
        2, 1.5, seed=0
    )  # no prior needed: every 2x2 with trace > 1 is valid
    assert np.trace(T) == pytest.approx(1.5) and np.allclose(T.sum(axis=0), 1)
    Z = noise_matrix_from_trace(2, 1.5, frac_zero_noise_rates=0.5, seed=0)
    assert sorted(np.diag(Z).tolist()) == [0.5, 1.0] and (Z == 0).sum() == 1
    free = noise_matrix_from_trace(2, 0.6, valid_noise_matrix=False, seed=0)
    assert np.trace(free) == pytest.approx(0.6)


def test_top_level_names():
    assert cleanframe.inject_label_noise is inject_label_noise
    assert cleanframe.noise_matrix_from_trace is noise_matrix_from_trace


# ----------------------------------------------------------------------------------------------
# bad inputs
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "rule", "text"),
    [
        ({}, "spec", "exactly one of noise_matrix"),
        ({"frac": 0.1, "noise_matrix": T3}, "spec", "exactly one"),
        ({"frac": 1.5}, "frac", r"\[0, 1\]"),
        ({"frac": -0.1}, "frac", r"\[0, 1\]"),
        ({"frac": float("nan")}, "frac", "finite"),
        ({"frac": True}, "frac", "number"),
        ({"noise_matrix": T3.T}, "column_sums_to_1", "column-stochastic.*'ant'.*\\.T"),
        ({"noise_matrix": np.eye(2)}, "shape", "3×3"),
        ({"noise_matrix": [1, 2, 3]}, "shape", "3×3"),
        ({"noise_matrix": "abc"}, "shape", "matrix"),
        ({"noise_matrix": np.where(np.eye(3) > 0, np.nan, 0.0)}, "finite", "NaN"),
        ({"noise_matrix": [[1.5, 0, 0], [-0.5, 1, 0], [0, 0, 1]]}, "in_range", r"\[0, 1\]"),
        ({"frac": 0.1, "seed": -1}, "seed", "non-negative"),
        ({"frac": 0.1, "seed": 1.5}, "seed", "integer"),
        ({"frac": 0.1, "classes": ["ant", "bee"]}, "known_class", "not classes"),
        ({"frac": 0.1, "out": "is_flipped"}, "spec", "out="),
        ({"frac": 0.1, "out": "y", "overwrite": True}, "no_overwrite", "label column"),
        ({"frac": 0.1, "label": "nope"}, None, "nope"),
    ],
)
def test_bad_inputs(constructor, kwargs, rule, text):
    base, _ = animals()
    df = constructor(base)
    kwargs = {"label": "y", **kwargs}
    with pytest.raises(ValidationError, match=text) as err:
        df.cl.inject_label_noise(**kwargs)
    if rule is not None:
        assert err.value.rule == rule


def test_bad_labels(constructor):
    df = constructor(pd.DataFrame({"y": ["a", None, "b", "a"]}))
    with pytest.raises(ValidationError) as err:
        df.cl.inject_label_noise(label="y", frac=0.2)
    assert err.value.rule == "not_null" and err.value.column == "y"
    one = constructor(pd.DataFrame({"y": ["a", "a"]}))
    with pytest.raises(ValidationError, match="classes=") as err:
        one.cl.inject_label_noise(label="y", frac=0.2)
    assert err.value.rule == "at_least_2_classes"
    assert (
        to_pandas(one.cl.inject_label_noise(label="y", frac=0.5, classes=["a", "b"]))[
            "is_flipped"
        ].sum()
        == 1
    )
    empty = constructor(pd.DataFrame({"y": pd.Series([], dtype=object)}))
    with pytest.raises(ValidationError):
        empty.cl.inject_label_noise(label="y", frac=0.2)


@pytest.mark.parametrize(
    ("args", "kwargs", "rule", "text"),
    [
        ((1, 1.0), {}, "K", "at least 2"),
        ((True, 1.5), {}, "K", "integer"),
        ((3, 1.0), {"py": [0.3, 0.3, 0.4]}, "trace", "trace > 1"),
        ((3, 3.5), {"py": [0.3, 0.3, 0.4]}, "trace", r"out of range.*\[3e-05, 3\]"),
        ((3, -0.5), {"valid_noise_matrix": False}, "trace", "out of range"),
        ((3, 2.5), {"py": [0.3, 0.3, 0.4], "max_trace_prob": 0.8}, "trace", "out of range"),
        ((3, 2.0), {}, "py", "required"),
        ((3, 2.0), {"py": [0.5, 0.5]}, "py", r"one probability per class \(3\)"),
        ((3, 2.0), {"py": [0.5, 0.5, 0.5]}, "py", "sum to 1"),
        ((3, 2.0), {"py": [1.5, -0.5, 0.0]}, "py", "non-negative"),
        ((3, float("inf")), {"py": [0.3, 0.3, 0.4]}, "trace", "finite"),
        (
            (3, 2.0),
            {"py": [0.3, 0.3, 0.4], "frac_zero_noise_rates": 2},
            "frac_zero_noise_rates",
            "frac_zero_noise_rates",
        ),
        (
            (3, 2.0),
            {"py": [0.3, 0.3, 0.4], "min_noise_rate": 0.5, "max_noise_rate": 0.1},
            "min_noise_rate",
            "exceed",
        ),
        ((3, 2.0), {"py": [0.3, 0.3, 0.4], "max_iter": 0}, "max_iter", "at least 1"),
        ((3, 2.0), {"py": [0.3, 0.3, 0.4], "seed": -3}, "seed", "non-negative"),
        ((3, 2.0), {"valid_noise_matrix": "yes"}, "valid_noise_matrix", "True or False"),
        # the noise-rate bounds cannot hold for any diagonal with this trace: no matrix found
        (
            (3, 2.9),
            {"py": [0.3, 0.3, 0.4], "min_noise_rate": 0.2, "max_iter": 20},
            "max_iter",
            "max_iter=20",
        ),
    ],
)
def test_trace_bad_inputs(args, kwargs, rule, text):
    with pytest.raises(ValidationError, match=text) as err:
        noise_matrix_from_trace(*args, **kwargs)
    assert err.value.rule == rule


def test_is_valid_bad_inputs():
    with pytest.raises(ValidationError) as err:
        noise_matrix_is_valid([[0.5, 0.5], [0.5, 0.5]], py=[1.0])
    assert err.value.rule == "py"
    with pytest.raises(ValidationError) as err:
        noise_matrix_is_valid([[0.5, 0.5], [0.6, 0.5]], py=[0.5, 0.5])
    assert err.value.rule == "column_sums_to_1"
