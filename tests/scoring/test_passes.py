"""Mergeable passes (scoring/classification/passes.py): results over any batching equal the
in-memory kernels (and cleanlab), every filter_by rule and option, ties broken by global row."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from cleanframe.scoring.classification import count as our_count
from cleanframe.scoring.classification import dataset as our_dataset
from cleanframe.scoring.classification import filter as our_filter
from cleanframe.scoring.classification import passes
from cleanframe.scoring.classification import rank as our_rank
from cleanframe.scoring.classification.columns import ProbColumns

from ..conftest import synthetic

cl_filter = pytest.importorskip("cleanlab.filter")
cl_count = pytest.importorskip("cleanlab.count")
cl_rank = pytest.importorskip("cleanlab.rank")

FILTERS = our_filter.FILTER_BY


@pytest.fixture(autouse=True)
def same_rounding_ties(monkeypatch):
    """cleanlab gets cleanframe's tie rule for integer rounding (see test_parity_cleanlab)."""
    from cleanlab.internal import util as cl_util

    from cleanframe.scoring._common import round_preserving_sum

    monkeypatch.setattr(cl_util, "round_preserving_sum", round_preserving_sum)


def as_columns(p):
    """pred_probs as column arrays (views of a column-major copy), as a frame holds them."""
    fortran = np.asfortranarray(p)
    return ProbColumns([fortran[:, j] for j in range(p.shape[1])])


def batches(labels, p, cuts, *, seed=None):
    """A factory of batches split at ``cuts`` (repeats give empty batches), yielded in a
    shuffled order when ``seed`` is given. ``p`` is a matrix or :class:`ProbColumns`."""
    bounds = [0, *cuts, len(labels)]
    parts = [
        (labels[a:b], p[a:b], a) for a, b in zip(bounds[:-1], bounds[1:])
    ]  # views, any memory order of p kept

    def factory():
        order = np.arange(len(parts))
        if seed is not None:
            np.random.default_rng(seed).shuffle(order)
        return [parts[i] for i in order]

    return factory


def batchings(n, seed=0):
    """One batch, uneven batches with empty ones, tiny batches, shuffled order."""
    rng = np.random.default_rng(seed)
    uneven = sorted(rng.integers(0, n, 6).tolist() + [0, n // 3, n // 3, n])
    return {
        "one": ([], None),
        "uneven+empty": (uneven, None),
        "uneven+empty shuffled": (uneven, seed + 1),
        "tiny": (list(range(7, n, 7)), seed + 2),
    }


def options(filter_by, k):
    out = [{}, {"min_examples_per_class": 10}]
    if filter_by in passes.PRUNE:
        out += [
            {"frac_noise": 0.5},
            {"num_to_remove_per_class": list(range(1, k + 1))},
            {"num_to_remove_per_class": [0] * (k - 1) + [3], "min_examples_per_class": 0},
        ]
    return out


def in_memory(labels, p, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return our_filter.find_label_issues(labels, p, **kw)


def streamed(labels, p, cuts, seed, k, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return passes.run(batches(labels, p, cuts, seed=seed), k, **kw)


def tied_problem(n_base, k, seed, dtype):
    """Rows repeated (exact ties across batch boundaries), sorted by label so that most batches
    miss most classes."""
    labels, p = synthetic(n_base, k, seed=seed, dtype=dtype)
    labels, p = np.tile(labels, 4), np.tile(p, (4, 1))
    order = np.argsort(labels, kind="stable")
    half = len(labels) // 2  # first half sorted by class, second half in tiled order
    idx = np.concatenate([order[:half], np.arange(half, len(labels))])
    return labels[idx], np.asarray(p[idx])


@pytest.mark.parametrize("filter_by", FILTERS)
@pytest.mark.parametrize(
    "k,n,seed,dtype",
    [(2, 300, 0, np.float64), (5, 1000, 2, np.float32), (10, 2000, 3, np.float64)],
)
def test_every_batching_equals_in_memory_and_cleanlab(filter_by, k, n, seed, dtype):
    labels, p = synthetic(n, k, seed=seed, dtype=dtype)
    for kw in options(filter_by, k):
        ref = in_memory(labels, p, filter_by=filter_by, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = cl_filter.find_label_issues(labels, p, filter_by=filter_by, n_jobs=1, **kw)
        np.testing.assert_array_equal(ref, theirs, err_msg=f"{filter_by} {kw}")
        for name, (cuts, order_seed) in batchings(n, seed).items():
            for layout in (p, as_columns(p)):
                mask, scores = streamed(
                    labels, layout, cuts, order_seed, k, filter_by=filter_by, **kw
                )
                np.testing.assert_array_equal(mask, ref, err_msg=f"{filter_by} {kw} {name}")
                np.testing.assert_array_equal(scores, our_rank.get_label_quality_scores(labels, p))


@pytest.mark.parametrize("filter_by", FILTERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_across_batches_and_absent_classes(filter_by, dtype):
    k = 6
    labels, p = tied_problem(250, k, 3, dtype)
    n = len(labels)
    cuts = [50, 50, 250, 251, 500, 610, 777, 999]  # cut through runs of identical rows
    for kw in options(filter_by, k):
        ref = in_memory(labels, p, filter_by=filter_by, **kw)
        for seed, layout in ((None, p), (4, p), (6, as_columns(p))):
            mask, _ = streamed(labels, layout, cuts, seed, k, filter_by=filter_by, **kw)
            np.testing.assert_array_equal(mask, ref, err_msg=f"{filter_by} {kw}")
        mask, _ = streamed(labels, p, list(range(1, n)), 5, k, filter_by=filter_by, **kw)
        np.testing.assert_array_equal(mask, ref, err_msg=f"{filter_by} {kw} one row per batch")


def test_ties_are_broken_by_global_position():
    """Identical rows: the earliest global rows are flagged, whichever batch holds them."""
    row = np.array([0.3, 0.7])
    p = np.vstack([np.tile([[0.9, 0.1]], (30, 1)), np.tile(row, (10, 1))])
    p = np.vstack([p, np.tile([[0.2, 0.8]], (30, 1))])
    labels = np.array([0] * 40 + [1] * 30)
    ref = in_memory(labels, p, filter_by="prune_by_class", num_to_remove_per_class=[4, 0])
    assert np.flatnonzero(ref).tolist() == [30, 31, 32, 33]
    for cuts in ([31], [35, 35], [1, 2, 3, 32, 33]):
        mask, _ = streamed(
            labels, p, cuts, 1, 2, filter_by="prune_by_class", num_to_remove_per_class=[4, 0]
        )
        np.testing.assert_array_equal(mask, ref)


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "prune_by_class", "both"])
def test_supplied_confident_joint(filter_by):
    k = 4
    labels, p = synthetic(800, k, seed=7)
    cj = cl_count.compute_confident_joint(labels, p, calibrate=False)
    ref = in_memory(labels, p, filter_by=filter_by, confident_joint=cj)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = cl_filter.find_label_issues(
            labels, p, filter_by=filter_by, confident_joint=cj, n_jobs=1
        )
    np.testing.assert_array_equal(ref, theirs)
    job = passes.LabelIssueJob(k, filter_by=filter_by, confident_joint=cj)
    assert job.steps == ("classes", "candidates")  # no confident-joint pass
    mask, _ = streamed(labels, p, [100, 100, 555], 2, k, filter_by=filter_by, confident_joint=cj)
    np.testing.assert_array_equal(mask, ref)


@pytest.mark.parametrize("method", our_rank.RANK_METHODS)
@pytest.mark.parametrize("adjust", [False, True])
def test_scores_every_method(method, adjust):
    if adjust and method == "confidence_weighted_entropy":
        with pytest.raises(ValueError, match="adjust_pred_probs"):
            passes.LabelIssueJob(3, rank_by=method, rank_by_kwargs={"adjust_pred_probs": True})
        return
    labels, p = synthetic(700, 5, seed=8, dtype=np.float32)
    ref = our_rank.get_label_quality_scores(labels, p, method=method, adjust_pred_probs=adjust)
    theirs = cl_rank.get_label_quality_scores(labels, p, method=method, adjust_pred_probs=adjust)
    np.testing.assert_allclose(ref, theirs, rtol=1e-6)
    kw = {"filter_by": None, "rank_by": method, "rank_by_kwargs": {"adjust_pred_probs": adjust}}
    job = passes.LabelIssueJob(5, **kw)
    assert job.steps == (("classes",) if adjust else ())
    for cuts, seed in batchings(700, 1).values():
        for layout in (p, as_columns(p)):
            mask, scores = streamed(labels, layout, cuts, seed, 5, **kw)
            assert mask is None
            np.testing.assert_array_equal(scores, ref)


def test_counts_and_health_statistics():
    k = 7
    labels, p = synthetic(1200, k, seed=9, dtype=np.float32)
    cj = cl_count.compute_confident_joint(labels, p, calibrate=False) + 1
    for (cuts, seed), layout in zip(batchings(1200, 2).values(), [p, as_columns(p)] * 2):
        r = passes.run_counts(batches(labels, layout, cuts, seed=seed), k)
        np.testing.assert_array_equal(r.thresholds, our_count.get_confident_thresholds(labels, p))
        for calibrate in (True, False):
            np.testing.assert_array_equal(
                r.confident_joint(calibrate=calibrate),
                our_count.compute_confident_joint(labels, p, calibrate=calibrate),
            )
        np.testing.assert_array_equal(r.joint(), our_count.estimate_joint(labels, p))
        for method in our_count.ESTIMATION_METHODS:
            given = cj if method == "off_diagonal_custom" else None
            assert r.num_label_issues(
                estimation_method=method, confident_joint=given
            ) == cl_count.num_label_issues(
                labels, p, estimation_method=method, confident_joint=given
            )
        health = r.health(asymmetric=True)
        assert health["overall_label_health_score"] == our_dataset.overall_label_health_score(
            labels, p
        )
        quality = our_dataset.class_label_quality(labels, p)
        for key, values in quality.items():
            np.testing.assert_array_equal(health["class_quality"][key], values)
        pairs = our_dataset.overlapping_class_pairs(labels, p, asymmetric=True)
        for key, values in pairs.items():
            np.testing.assert_array_equal(health["overlaps"][key], values)
    with pytest.warns(UserWarning, match="ignored"):
        r.num_label_issues(confident_joint=cj)
    with pytest.raises(ValueError, match="needs a confident_joint"):
        r.num_label_issues(estimation_method="off_diagonal_custom")


def test_merge_is_associative_and_order_free():
    k = 5
    labels, p = synthetic(1000, k, seed=10, dtype=np.float32)
    job = passes.LabelIssueJob(k, filter_by="both", num_to_remove_per_class=[30] * k)
    parts = batches(labels, p, [90, 90, 333, 600, 601, 950])()
    rng = np.random.default_rng(0)
    while (step := job.next_pass()) is not None:
        stats = [step(lab, prob, off) for lab, prob, off in parts]
        left = passes.merge_all(step, stats)
        results = [left]
        for _ in range(3):  # other orders and tree-shaped groupings
            order = rng.permutation(len(stats))
            pairs = [stats[i] for i in order]
            while len(pairs) > 1:
                pairs = [
                    pairs[i].merge(pairs[i + 1]) if i + 1 < len(pairs) else pairs[i]
                    for i in range(0, len(pairs), 2)
                ]
            results.append(pairs[0].merge(step.empty()))
        for other in results[1:]:
            _assert_same_stats(left, other)
        job.add(pickle.loads(pickle.dumps(left)))
    plan = pickle.loads(pickle.dumps(job.plan()))
    mask = np.concatenate([passes.flags(lab, prob, off, plan)[0] for lab, prob, off in parts])
    np.testing.assert_array_equal(
        mask, in_memory(labels, p, filter_by="both", num_to_remove_per_class=[30] * k)
    )


def _assert_same_stats(a, b):
    if isinstance(a, passes.ClassStats):
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.thresholds(), b.thresholds())
    elif isinstance(a, passes.JointStats):
        np.testing.assert_array_equal(a.cells, b.cells)
        assert a.off_diagonal == b.off_diagonal
    else:
        for name in ("slots", "keys", "positions"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_warnings_and_errors_as_in_memory():
    labels, p = synthetic(300, 3, seed=11)
    labels[:] = np.where(labels == 2, 0, labels)
    labels[:2] = 2  # class 2 has two rows: at most min_examples_per_class
    for filter_by, small in [
        (
            "prune_by_noise_rate",
            {"confident_joint": np.array([[92, 16, 0], [16, 54, 0], [5, 0, 1]])},
        ),
        ("both", {"confident_joint": np.array([[92, 16, 0], [16, 54, 0], [5, 0, 1]])}),
        ("prune_by_class", {"num_to_remove_per_class": [1, 1, 1]}),
    ]:
        small["min_examples_per_class"] = 2
        with warnings.catch_warnings(record=True) as ours:
            warnings.simplefilter("always")
            passes.run(
                passes.array_batches(labels, p, rows=50),
                3,
                filter_by=filter_by,
                **small,
            )
        with warnings.catch_warnings(record=True) as theirs:
            warnings.simplefilter("always")
            our_filter.find_label_issues(
                labels,
                p,
                filter_by=filter_by,
                **small,
            )
        assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
        assert len(ours) == 1 and "class 2" in str(ours[0].message)
    with pytest.warns(UserWarning, match="only apply"):
        with pytest.raises(ValueError, match="num_to_remove_per_class"):
            passes.LabelIssueJob(3, filter_by="confident_learning", num_to_remove_per_class=[1] * 3)
    with pytest.warns(UserWarning, match="ignored by filter_by='confident_learning'"):
        passes.LabelIssueJob(3, filter_by="confident_learning", confident_joint=np.eye(3))
    with pytest.raises(ValueError, match="filter_by"):
        passes.LabelIssueJob(3, filter_by="nope")
    job = passes.LabelIssueJob(3)
    with pytest.raises(ValueError, match="still needs"):
        job.plan()
    with pytest.raises(TypeError, match="classes"):
        job.add(passes.JointStats(np.zeros((3, 3), dtype=np.int64)))


def test_column_kernels_match_numpy():
    """The fused column loops: argmax, self-confidence, runner-up, sums, range, guesses."""
    from cleanframe.scoring.classification import columns

    labels, p = synthetic(3000, 9, seed=13, dtype=np.float32)
    p[::5, 2] = p[::5, 4]  # ties for the maximum and the runner-up
    cols = as_columns(p)
    stats = cols.row_stats(labels)
    np.testing.assert_array_equal(stats.argmax, p.argmax(axis=1))
    np.testing.assert_array_equal(stats.own, p[np.arange(len(p)), labels])
    np.testing.assert_array_equal(
        (stats.own - stats.other + 1) / 2,
        our_rank.get_normalized_margin_for_each_label(labels, p),
    )
    np.testing.assert_allclose(stats.sums, p.sum(axis=1, dtype=np.float64), rtol=1e-14)
    assert (stats.low, stats.high) == (p.min(), p.max()) and stats.finite
    thresholds = our_count.get_confident_thresholds(labels, p)
    cut = our_count.confident_cut(thresholds, p.dtype)
    expected = our_count.confident_guesses(p, thresholds)
    np.testing.assert_array_equal(columns.confident_guess(cols, cut, stats), expected)
    fresh = as_columns(p)  # argmax and runner-up computed in the same read as the guesses
    fresh_stats = fresh.row_stats(labels)
    np.testing.assert_array_equal(columns.confident_guess(fresh, cut, fresh_stats), expected)
    np.testing.assert_array_equal(fresh_stats.argmax, p.argmax(axis=1))
    np.testing.assert_array_equal(fresh_stats.other, stats.other)
    bad = p.copy()
    bad[7, 3] = np.nan
    assert not as_columns(bad).row_stats(labels).finite


def test_column_kernels_on_threads_match_one_batch():
    """Large enough for the row ranges to run on threads: same results as the matrix path."""
    k = 100
    labels, p = synthetic(45_000, k, seed=14, dtype=np.float32)
    ref = in_memory(labels, p)
    mask, scores = passes.run(passes.array_batches(labels, as_columns(p)), k)
    np.testing.assert_array_equal(mask, ref)
    np.testing.assert_array_equal(scores, our_rank.get_label_quality_scores(labels, p))
    stats = as_columns(p).row_stats(labels)
    np.testing.assert_array_equal(stats.argmax, p.argmax(axis=1))
    assert (stats.low, stats.high) == (p.min(), p.max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prediction_agrees_on_columns_with_exact_ties(dtype):
    """The +1e-6 boost makes the given label tie with another class: first maximum decides."""
    eps = dtype(1e-6)
    a = dtype(0.4)
    tie = dtype(a + eps)
    rest = dtype(1) - a - tie
    p = np.array(
        [[tie, a, rest], [a, tie, rest], [rest, a, tie], [tie, a, rest], [0.2, 0.5, 0.3]],
        dtype=dtype,
    )
    labels = np.array([1, 0, 1, 0, 2])
    rows = np.arange(len(p))
    expected = our_count.prediction_agrees_with_label(labels, p, rows)
    assert expected.tolist() == [False, True, True, True, False]
    np.testing.assert_array_equal(passes._agrees(labels, as_columns(p), rows), expected)


def test_no_rows_and_column_major_batches():
    k = 4
    labels, p = synthetic(500, k, seed=12, dtype=np.float32)
    fortran = np.asfortranarray(p)
    ref = in_memory(labels, p)
    for cuts in ([], [100, 100, 400]):
        mask, scores = passes.run(batches(labels, fortran, cuts, seed=3), k)
        np.testing.assert_array_equal(mask, ref)
    mask, scores = passes.run(lambda: [], k)
    assert mask is not None and len(mask) == 0 and scores is None


@pytest.mark.parametrize("seed", range(4))
def test_sort_cut_of_two_cut_lists_equals_a_full_sort_and_cut(seed):
    """Sorting and cutting two cut lists (sorted by slot, key, position) keeps exactly what
    sorting the union and cutting keeps, with many tied keys; batch candidates from the column
    loop come sorted the same way."""
    from cleanframe.scoring.classification.columns import sort_cut

    rng = np.random.default_rng(seed)
    limits = rng.integers(0, 6, size=8)
    rows = rng.permutation(400)
    slots = rng.integers(0, 8, size=400)
    keys = rng.integers(0, 4, size=400).astype(np.float32) / 4  # ties everywhere
    half = rng.random(400) < 0.5
    a = passes._cut(limits, slots[half], keys[half], rows[half])
    b = passes._cut(limits, slots[~half], keys[~half], rows[~half])
    whole = passes._cut(limits, slots, keys, rows)
    merged = sort_cut(limits, [(a.slots, a.keys, a.positions), (b.slots, b.keys, b.positions)])
    for got, want in zip(merged, (whole.slots, whole.keys, whole.positions)):
        np.testing.assert_array_equal(got, want)
    order = np.lexsort((whole.positions, whole.keys, whole.slots))
    np.testing.assert_array_equal(order, np.arange(len(order)))

    labels, p = synthetic(3000, 6, seed=seed, dtype=np.float32)
    job = passes.LabelIssueJob(6, filter_by="both")
    for _ in ("classes", "joint"):
        step = job.next_pass()
        job.add(step(labels, p, 0))
    step = job.next_pass()
    cols = step(labels, as_columns(p), 0)
    dense = step(labels, p, 0)
    _assert_same_stats(cols, dense)


@pytest.mark.parametrize("seed", range(4))
def test_lazy_candidate_runs_sort_and_cut_as_a_full_sort(seed, monkeypatch):
    """Candidates held as unsorted runs (merged in any grouping and order, some runs out of
    position order, groups both under and over the insertion-sort size, tied keys and -0.0)
    give exactly what sorting the union by (slot, key, position) and cutting keeps; a merge
    that exceeds the memory cap is sorted and cut at once, with the same result."""
    from cleanframe.scoring.classification.columns import sort_cut

    rng = np.random.default_rng(seed)
    n, num_slots = 3000, 9
    limits = rng.integers(0, 400, size=num_slots)
    limits[0] = 0
    slots = rng.choice(num_slots, size=n, p=[0.05, 0.3, 0.3, 0.05, 0.05, 0.05, 0.1, 0.05, 0.05])
    keys = (rng.integers(-3, 4, size=n) / 4).astype(np.float32)
    keys[rng.random(n) < 0.1] = -0.0
    rows = rng.permutation(n).astype(np.int64)
    whole = passes._cut(limits, slots, keys, rows)
    cuts = np.sort(rng.choice(np.arange(1, n), size=12, replace=False))
    bounds = [0, *cuts, n]
    runs = [(slots[a:b], keys[a:b], rows[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    got = sort_cut(limits, runs)
    for g, w in zip(got, (whole.slots, whole.keys, whole.positions)):
        np.testing.assert_array_equal(g, w)
    from cleanframe.scoring.classification import columns

    monkeypatch.setattr(columns, "SORT_SPLIT", 100)  # slots split over threads (2+ cores)
    for g, w in zip(sort_cut(limits, runs), (whole.slots, whole.keys, whole.positions)):
        np.testing.assert_array_equal(g, w)
    parts = [passes.CandidateStats(limits, runs=[r]) for r in runs]
    rng.shuffle(parts)
    merged = passes.CandidateStats(limits)
    while len(parts) > 1:  # random pairs merged, in random order
        i, j = sorted(rng.choice(len(parts), size=2, replace=False))
        right = parts.pop(j)
        left = parts.pop(i)
        parts.append(left.merge(right) if rng.random() < 0.5 else right.merge(left))
        if rng.random() < 0.3:  # some merged results read (sorted) in between
            _ = parts[-1].slots
    merged = merged.merge(parts[0])
    for g, w in zip(
        (merged.slots, merged.keys, merged.positions), (whole.slots, whole.keys, whole.positions)
    ):
        np.testing.assert_array_equal(g, w)
    picked = pickle.loads(pickle.dumps(passes.CandidateStats(limits, runs=runs)))
    np.testing.assert_array_equal(picked.positions, whole.positions)
    monkeypatch.setattr(passes.CandidateStats, "_cap", lambda self: 10)
    over = passes.CandidateStats(limits, runs=runs[:6]).merge(
        passes.CandidateStats(limits, runs=runs[6:])
    )
    assert over._flat is not None and over.size == len(whole.slots)  # sorted and cut at once
    np.testing.assert_array_equal(over.positions, whole.positions)


def test_pair_cutoffs_bound_the_scan_and_keep_the_flags_exact():
    """With several batches the joint pass carries per-pair key histograms; the cut-offs from
    them are finite, above every selected key, and the flags equal the in-memory call, also
    with tied keys (probabilities rounded to a coarse grid)."""
    from cleanframe.scoring.classification import columns

    keys = np.random.default_rng(1).uniform(-1, 1, 20_000).astype(np.float32)
    keys[:50] = [0.0, -0.0, 1.0, -1.0, 2.0**-16, -(2.0**-16), 1e-30, -1e-30] * 6 + [0.5, -0.5]
    bins = columns.key_bins(keys)
    order = np.argsort(keys, kind="stable")
    assert (np.diff(bins[order]) >= 0).all()
    uppers = np.array([columns._bin_upper(int(b)) for b in bins])
    assert (keys <= uppers).all()

    k = 6
    labels, p = synthetic(6000, k, seed=3, dtype=np.float32)
    p = np.round(p * 16) / 16  # many tied margins
    p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    for filter_by in ("prune_by_noise_rate", "both"):
        job = passes.LabelIssueJob(k, filter_by=filter_by)
        parts = batches(labels, p, [700, 701, 2500, 4000])()
        while (step := job.next_pass()) is not None:
            got = [step(lab, as_columns(prob), off) for lab, prob, off in parts]
            if step.name == "joint":
                dense = [step(lab, prob, off) for lab, prob, off in parts]
                for a, b in zip(got, dense):
                    np.testing.assert_array_equal(a.hist, b.hist)
            if step.name == "candidates":
                cut = step.context.cutoff
                assert cut is not None and np.isfinite(cut).any()
            job.add(passes.merge_all(step, got))
        plan = job.plan()
        mask = np.concatenate([passes.flags(lab, prob, off, plan)[0] for lab, prob, off in parts])
        np.testing.assert_array_equal(mask, in_memory(labels, p, filter_by=filter_by))


def positive_key_problem(n: int = 3000, seed: int = 5):
    """Class 0's rows are confident (threshold ~0.8) and class 1's are not (~0.25): rows given
    0 with p = (0.30, 0.27, 0.43) are confidently 1 (only p[1] reaches its threshold) although
    p[0] > p[1], and not predicted 0, so the pair (0, 1) flags rows whose key p[0] - p[1] is
    positive."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    p = np.empty((n, 3))
    for y, own in ((0, 0.9), (1, 0.25), (2, 0.8)):
        rows = np.flatnonzero(labels == y)
        p[rows] = (1 - own) / 2
        p[rows, y] = own
    odd = np.flatnonzero(labels == 0)[::6]
    p[odd] = [0.30, 0.27, 0.43]
    p += rng.uniform(0, 1e-3, p.shape)
    p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    return labels, p


def test_pairs_whose_quota_needs_positive_keys_have_no_cut_off_and_stay_exact():
    """The key histograms count the negative keys only (p[j] > p[y]); a pair whose quota they
    do not reach gets an infinite cut-off (every key is scanned for it) and the flags stay
    those of the in-memory call; the count is exactly the number of (row, class) with p[j] >
    p[y]."""
    from cleanframe.scoring.classification import columns

    labels, p = positive_key_problem()
    own = p[np.arange(len(p)), labels]
    hist = columns.pair_histogram(as_columns(p), labels, own)
    assert hist.sum() == int((p > own[:, None]).sum())
    assert hist.shape == (3, 3, columns.NEG_BINS)  # the bins of the negative keys only
    np.testing.assert_array_equal(hist, columns.pair_histogram_dense(labels, p))
    job = passes.LabelIssueJob(3, filter_by="prune_by_noise_rate")
    parts = batches(labels, as_columns(p), [500, 1700])()
    while (step := job.next_pass()) is not None:
        if step.name == "candidates":
            assert np.isinf(step.context.cutoff[0, 1]) and step.context.limits[1] > 0
        job.add(passes.merge_all(step, [step(lab, prob, off) for lab, prob, off in parts]))
    plan = job.plan()
    mask = np.concatenate([passes.flags(lab, prob, off, plan)[0] for lab, prob, off in parts])
    expected = in_memory(labels, p)
    assert expected[labels == 0].sum() > 100
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize(
    "filter_by, rank_by",
    [
        ("prune_by_noise_rate", "self_confidence"),
        ("both", "normalized_margin"),
        ("predicted_neq_given", "self_confidence"),
        ("low_normalized_margin", "normalized_margin"),
    ],
)
def test_kept_row_values_give_the_row_map_without_the_columns(filter_by, rank_by):
    """The row map of the kept flags and of the self-confidence / normalized-margin scores
    needs only per-row values (own probability, argmax, largest other, agreement): from
    ``RowStats.known`` on rows whose columns are not there it equals the map on the columns;
    a read of the values raises."""
    from cleanframe.scoring.classification.columns import RowStats

    k = 7
    labels, p = tied_problem(300, k, seed=2, dtype=np.float32)
    cols = as_columns(p)
    job = passes.LabelIssueJob(k, filter_by=filter_by, rank_by=rank_by)
    assert not job.row_map_reads_values()
    while (step := job.next_pass()) is not None:
        job.add(step(labels, cols, 0))
    plan = job.plan()
    assert not passes.needs_values(plan)
    want_mask, want_scores = passes.flags(labels, cols, 0, plan)
    stats = cols.row_stats(labels)
    for a, b in ((0, len(labels)), (13, 211)):
        lab = labels[a:b]  # the row stats belong to this labels array
        kept = RowStats.known(
            lab, stats.own[a:b], stats.argmax[a:b], stats.other[a:b], stats.agrees[a:b]
        )
        bare = ProbColumns.rows_only(lab, kept, k)
        mask, scores = passes.flags(lab, bare, a, plan)
        np.testing.assert_array_equal(mask, want_mask[a:b])
        np.testing.assert_array_equal(scores, want_scores[a:b])
        np.testing.assert_array_equal(passes.predicted_class(lab, bare), p[a:b].argmax(1))
        with pytest.raises(ValueError, match="not read"):
            bare.take([0])


def test_which_row_maps_need_the_probabilities():
    assert passes.LabelIssueJob(3, filter_by="confident_learning").row_map_reads_values()
    assert passes.LabelIssueJob(3, rank_by="confidence_weighted_entropy").row_map_reads_values()
    assert passes.LabelIssueJob(
        3, rank_by="self_confidence", rank_by_kwargs={"adjust_pred_probs": True}
    ).row_map_reads_values()
    assert not passes.LabelIssueJob(3, filter_by=None).row_map_reads_values()
    assert not passes.CountJob(3).row_map_reads_values()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "both"])
def test_appended_candidates_equal_the_heaps_and_fall_back_when_the_room_is_short(filter_by, dtype):
    """With finite cut-offs the candidates of a batch are appended and sorted once; the result
    equals the bounded heaps' (the same rows, keys and order), also when ``room`` is too small
    (the heaps are used then). The float64 data has keys that only float64 tells apart
    (probabilities on a 0.01 grid moved by 1e-12)."""
    from cleanframe.scoring.classification import columns

    k = 6
    labels, p = synthetic(4000, k, seed=8, dtype=dtype)
    if dtype == np.float64:
        jitter = np.random.default_rng(8).uniform(-1e-12, 1e-12, p.shape)
        p = np.round(p, 2) + jitter
    parts = batches(labels, p, [1000, 2500])()
    job = passes.LabelIssueJob(k, filter_by=filter_by)
    for _ in ("classes", "joint"):
        step = job.next_pass()
        job.add(passes.merge_all(step, [step(lab, as_columns(pr), off) for lab, pr, off in parts]))
    ctx = job.next_pass().context
    k1 = k + 1
    quota = ctx.limits[: k * k1].reshape(k, k1)[:, :-1] > 0  # the pairs with rows to flag
    assert ctx.room > 0 and quota.any() and np.isfinite(ctx.cutoff[quota]).all()
    pair_slot = np.full((k, k), -1, dtype=np.int64)
    for y, others in ctx.pairs.items():
        pair_slot[y, others] = y * k1 + others
    class_slot = np.full(k, -1, dtype=np.int64)
    class_slot[list(ctx.by_class)] = np.asarray(ctx.by_class, dtype=np.int64) * k1 + k
    lab, pr, off = parts[1]
    cols = as_columns(pr)
    stats = cols.row_stats(lab)
    args = (cols, lab, stats.own, stats.other, off, pair_slot, class_slot, ctx.limits, ctx.cutoff)
    heaps = columns.top_candidates(*args)
    for room in (ctx.room, 1):
        appended = columns.top_candidates(*args, room=room)
        for a, b in zip(appended, heaps):
            np.testing.assert_array_equal(a, b)
    assert len(heaps[0]) > 0
    assert columns._appended_candidates(*args, ctx.room) is not None  # the appending path ran
    assert columns._appended_candidates(*args, 1) is None  # short room: the heaps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slot_key_order_sorts_as_a_lexsort_of_slot_key_position(dtype):
    """The appended candidates' sort orders (slot, key) as the floats compare (-0.0 equal to
    0.0, subnormals, ties) and keeps positions in order among ties; float64 keys closer than
    float32 can tell apart are still ordered by their value."""
    from cleanframe.scoring.classification.columns import _by_slot_key

    rng = np.random.default_rng(1)
    for _ in range(50):
        m = 400
        slots = rng.integers(0, 5, m).astype(np.int32)
        keys = (rng.integers(-4, 5, m) / 4).astype(dtype)
        keys[rng.random(m) < 0.05] = dtype(-0.0)
        keys[rng.random(m) < 0.05] = dtype(1e-40)
        keys[rng.random(m) < 0.05] = dtype(-1e-40)
        if dtype == np.float64:  # equal in float32, ordered in float64
            near = rng.random(m) < 0.2
            keys[near] += rng.choice([-1e-12, 1e-12], int(near.sum()))
            assert len(np.unique(keys)) > len(np.unique(keys.astype(np.float32)))
        order = _by_slot_key(slots, keys)
        np.testing.assert_array_equal(order, np.lexsort((np.arange(m), keys, slots)))


# -- two reads: the key histograms in pass 1, the candidates with the joint --------------------
def row_values(labels, p):
    """Pass 1's per-row values of a matrix, as a streamed call keeps them: label codes, own
    probability, first argmax, largest other probability, second largest value."""
    p = np.asarray(p)
    rows = np.arange(len(labels))
    others = p.copy()
    others[rows, labels] = -np.inf
    second = np.sort(p, axis=1)[:, -2]
    return labels, p[rows, labels], p.argmax(axis=1), others.max(axis=1), second


def two_read_run(labels, p, cuts, k, *, columns=True, **kw):
    """A ``two_reads`` job over batches (of columns, or of the matrix), given the per-row values
    after pass 1: ``(mask, scores, the passes it ran, its candidates contexts)``."""
    job = passes.LabelIssueJob(k, two_reads=True, **kw)
    parts = batches(labels, as_columns(p) if columns else p, cuts)()
    names, contexts = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while (step := job.next_pass()) is not None:
            names.append(step.name)
            if step.name == "joint" and step.context.candidates is not None:
                contexts.append(step.context.candidates)
            if step.name == "candidates":
                contexts.append(step.context)
            job.add(passes.merge_all(step, [step(lab, prob, off) for lab, prob, off in parts]))
            if step.name == "classes":
                job.set_rows(lambda: [row_values(labels, p)])
        plan = job.plan()
    out = [passes.flags(lab, prob, off, plan) for lab, prob, off in parts]
    mask = np.concatenate([m for m, _ in out]) if plan.rule is not None else None
    return mask, np.concatenate([s for _, s in out]), names, contexts


def hard_shape(n, k, seed=0):
    """The scale benchmark's data (most given labels are not the top class), float32."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), true] += rng.uniform(0.5, 4, n)
    e = np.exp(logits - logits.max(1, keepdims=True))
    given = true.copy()
    flip = rng.random(n) < 0.1
    given[flip] = rng.integers(0, k, flip.sum())
    return given, (e / e.sum(1, keepdims=True)).astype(np.float32)


def near_tie_classes(n=4000, k=40, seed=3):
    """The hard shape with K >= 32 classes, where the rows given classes 0-4 put nearly all
    their weight on their class and on class y + 5 just above it (margins under 0.005): the
    quotas of those pairs lie among keys above the first read's histogram floor."""
    labels, p = hard_shape(n, k, seed=seed)
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(labels < 5)
    y = labels[rows]
    p = p.astype(np.float64)
    p[rows] = 0.1 / (k - 2)
    p[rows, y] = 0.45
    p[rows, y + 5] = 0.45 + rng.uniform(1e-4, 5e-3, len(rows))
    return labels, (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "both"])
def test_first_read_histogram_floor_is_exact_where_quotas_lie_above_it(filter_by, monkeypatch):
    """With K >= 32, from row FLOOR_FROM_ROW on (here 700: the first batch counts every key),
    the first read counts only the keys at or below -floor (the counts equal the full
    histogram's there and are 0 above); pairs whose quota the counts do not reach get no
    cut-off, others a finite one, and the two-read call flags the in-memory rows."""
    from cleanframe.scoring.classification import columns

    labels, p = near_tie_classes()
    k = p.shape[1]
    assert columns.first_read_floor(k, 1 << 30) == 2.0**-6
    assert columns.first_read_floor(k, 0) == 0.0 and columns.first_read_floor(31, 1 << 30) == 0
    monkeypatch.setattr(columns, "FLOOR_FROM_ROW", 700)
    floor = columns.first_read_floor(k, 700)
    cols = as_columns(p)
    stats = cols.row_stats(labels)
    full = columns.pair_histogram(cols, labels, stats.own)
    _, part = columns.scan(cols, labels, cols.row_stats(labels), hist=True, floor=floor)
    counted = columns.key_bins(np.array([-floor]))[0]
    np.testing.assert_array_equal(part[:, :, : counted + 1], full[:, :, : counted + 1])
    assert not part[:, :, counted + 1 :].any() and full[:, :, counted + 1 :].any()
    cuts = [700, len(labels) // 3, 2 * len(labels) // 3]
    mask, scores, names, contexts = two_read_run(labels, p, cuts, k, filter_by=filter_by)
    np.testing.assert_array_equal(mask, in_memory(labels, p, filter_by=filter_by))
    np.testing.assert_array_equal(scores, our_rank.get_label_quality_scores(labels, p))
    ctx = contexts[0]
    width = k * (k + 1)
    k1 = k + 1
    quota = ctx.limits[:width].reshape(k, k1)[:, :-1] > 0
    assert np.isinf(ctx.cutoff[:5][quota[:5]]).any()  # the near-tie classes: no cut-off
    assert np.isfinite(ctx.cutoff[5:][quota[5:]]).mean() > 0.5  # most others: one


TWO_READ_PROBLEMS = {
    "dirichlet k=5": lambda: synthetic(2000, 5, seed=4, dtype=np.float32),
    "hard k=12": lambda: hard_shape(3000, 12, seed=1),
    "ties k=4": lambda: tied_problem(400, 4, 6, np.float32),
    "positive keys k=3": positive_key_problem,
    "float64 k=6": lambda: synthetic(1500, 6, seed=8, dtype=np.float64),
}


@pytest.mark.parametrize("problem", sorted(TWO_READ_PROBLEMS))
@pytest.mark.parametrize("filter_by", FILTERS)
def test_two_reads_equal_in_memory_and_read_twice_for_the_default_rule(problem, filter_by):
    """A job with ``two_reads`` (what a streamed call runs) flags the rows of the in-memory
    call for every rule and option, on columns and on matrices; ``prune_by_noise_rate`` with
    the default options runs two passes (the candidates come with the joint), the others as
    many as before."""
    labels, p = TWO_READ_PROBLEMS[problem]()
    k = p.shape[1]
    cuts = sorted({len(labels) // 3, len(labels) // 3, 2 * len(labels) // 3, 77})
    for kw in options(filter_by, k):
        ref = in_memory(labels, p, filter_by=filter_by, **kw)
        for columns in (True, False):
            mask, scores, names, _ = two_read_run(
                labels, p, cuts, k, columns=columns, filter_by=filter_by, **kw
            )
            np.testing.assert_array_equal(mask, ref, err_msg=f"{problem} {filter_by} {kw}")
            np.testing.assert_array_equal(scores, our_rank.get_label_quality_scores(labels, p))
            steps = passes.LabelIssueJob(k, filter_by=filter_by, **kw).steps
            if filter_by == "prune_by_noise_rate" and "num_to_remove_per_class" not in kw:
                assert names == ["classes", "joint"], (problem, kw, names)
            else:
                assert names == list(steps), (problem, kw, names)


@pytest.mark.parametrize("problem", sorted(TWO_READ_PROBLEMS))
def test_joint_and_quota_bounds_hold(problem):
    """The per-row values of pass 1 bound the confident joint cell by cell (decided rows below,
    decided plus possible above), and the quota bounds are at or above the exact quotas, with
    ``frac_noise`` and ``min_examples_per_class`` too; float16 rounded up keeps them bounds."""
    from cleanframe.scoring.classification.count import confident_cut

    labels, p = TWO_READ_PROBLEMS[problem]()
    k = p.shape[1]
    thresholds = our_count.get_confident_thresholds(labels, p)
    cut = confident_cut(thresholds, p.dtype)
    guesses = our_count.confident_guesses(p, thresholds)
    valid = guesses >= 0
    cells = np.bincount(labels[valid] * k + guesses[valid], minlength=k * k).reshape(k, k)
    values = row_values(labels, p)
    up = values[4].astype(np.float16)
    up[up.astype(p.dtype) < values[4]] = np.nextafter(
        up[up.astype(p.dtype) < values[4]], np.float16(1)
    )
    for second in (values[4], up):
        known, ranks, at_max = passes.guess_bounds(*values[:4], second, cut)
        assert (known <= cells).all()
        order = np.argsort(cut, kind="stable")
        reach = np.cumsum(ranks[:, ::-1], axis=1)[:, ::-1]
        possible = np.zeros((k, k), dtype=np.int64)
        possible[:, order] = reach[:, 1:]
        assert (cells <= known + possible + at_max).all()
        assert known.sum() + ranks.sum() <= len(labels)
        counts = np.bincount(labels, minlength=k)
        for frac, small in ((1.0, 1), (0.5, 1), (1.0, 50)):
            joint = passes.JointStats(cells).confident_joint(counts)
            exact = our_filter.prune_count_matrix(
                joint, labels, frac_noise=frac, min_examples_per_class=small
            ).T.copy()
            np.fill_diagonal(exact, 0)
            bound = passes.quota_bounds((known, ranks, at_max), cut, counts, frac)
            assert (exact <= bound).all(), (frac, small)
    if problem.startswith("hard"):  # few rows are undecided; the bounds are close
        assert ranks.sum() < len(labels) // 20
        base = passes.JointStats(cells).confident_joint(counts)
        exact = our_filter.prune_count_matrix(base, labels).T.copy()
        np.fill_diagonal(exact, 0)
        bound = passes.quota_bounds((known, ranks, at_max), cut, counts, 1.0)
        assert bound.sum() < 1.5 * exact.sum() + 2 * (exact > 0).sum()


@pytest.mark.parametrize("problem", ["hard k=12", "positive keys k=3", "ties k=4"])
def test_a_quota_above_its_bound_gets_a_third_pass_for_those_pairs_only(problem, monkeypatch):
    """If the joint pass collected too few candidates for a pair (its bound made smaller here),
    only the pairs whose exact quota exceeds what was collected are read again, and the flags
    stay those of the in-memory call."""
    labels, p = TWO_READ_PROBLEMS[problem]()
    k = p.shape[1]
    real = passes.quota_bounds

    def short(*args):
        bound = real(*args)
        bound[::2] //= 3  # every other given class: a third of its bound
        return bound

    monkeypatch.setattr(passes, "quota_bounds", short)
    cuts = [700, len(labels) // 4, len(labels) // 2]
    mask, _, names, contexts = two_read_run(labels, p, sorted(cuts), k)
    np.testing.assert_array_equal(mask, in_memory(labels, p))
    assert names == ["classes", "joint", "candidates"]
    speculative, rest = contexts
    width = k * (k + 1)
    exact = passes.LabelIssueJob(k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in ("classes", "joint"):
            pass_ = exact.next_pass()
            exact.add(pass_(labels, p, 0))
        limits = exact.next_pass().context.limits[:width]
    over = limits > speculative.limits[:width]
    assert over.any() and not over.all()
    np.testing.assert_array_equal(rest.limits[:width], np.where(over, limits, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(3))
def test_guesses_from_kept_ranks_equal_the_read(dtype, seed):
    """The joint pass's confident guesses from kept ranks and a rounded-up second largest value
    (the streamed call's second read) equal the guesses of a read of the columns, on rows with
    values exactly at a class's cut, ties for the maximum, several confident classes, rows
    that the kept values leave undecided, and a bound that is +inf (unknown)."""
    from cleanframe._batched import _float16_up
    from cleanframe.scoring.classification import columns

    k = 7
    rng = np.random.default_rng(seed)
    labels, p = synthetic(4000, k, seed=20 + seed, dtype=dtype)
    thresholds = our_count.get_confident_thresholds(labels, p)
    cut = our_count.confident_cut(thresholds, p.dtype)
    rows = rng.choice(len(p), 600, replace=False)
    cls = rng.integers(0, k, len(rows))
    p[rows[:200], cls[:200]] = cut[cls[:200]]  # exactly at the cut
    p[rows[200:300], cls[200:300]] = np.nextafter(cut[cls[200:300]], dtype(0))  # just below
    low = rows[300:450]  # several classes at or near their cut, none the largest
    p[low] = (cut * dtype(0.999)).astype(dtype)
    p[low, cls[300:450]] = cut[cls[300:450]]
    tie = rows[450:550]
    p[tie, 1] = p[tie].max(axis=1)  # ties for the maximum
    p[tie, 5] = p[tie, 1]
    edge = rows[550:]  # the second largest exactly at the lowest cut, the largest below its cut
    lo, hi = int(np.argmin(cut)), int(np.argmax(cut))
    assert cut[hi] > cut[lo]
    p[edge] = cut[lo] / 4
    p[edge, lo] = cut[lo]
    p[edge, hi] = (cut[hi] + cut[lo]) / 2
    expected = our_count.confident_guesses(p, thresholds)
    read = as_columns(p)
    stats = read.row_stats(labels)
    np.testing.assert_array_equal(columns.confident_guess(read, cut, stats), expected)
    assert (expected[edge] == lo).all()
    rounded = _float16_up(stats.second, len(p))
    rounded[::97] = np.inf  # unknown bounds: those rows are read
    for second in (rounded, stats.second):  # a bound above the value, and the value itself
        kept = columns.RowStats.known(
            labels, stats.own, stats.argmax, stats.other, stats.agrees, second_bound=second
        )
        cols = as_columns(p)
        cols.set_row_stats(labels, kept)
        taken = []
        take = cols.take
        cols.take = lambda r, t=take, n=taken: n.append(len(r)) or t(r)  # type: ignore[method-assign]
        got = columns.confident_guess(cols, cut, kept)
        np.testing.assert_array_equal(got, expected)
        assert len(taken) == 1 and 40 <= taken[0] < len(p) // 4  # only the undecided rows read
    assert (expected == -1).any() and len(np.unique(expected)) == k + 1
