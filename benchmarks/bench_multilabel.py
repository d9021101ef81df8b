"""Multi-label and token classification: cleanframe vs cleanlab 2.9 in the same run.

Run by hand (never by the tests):

    .venv/bin/python benchmarks/bench_multilabel.py [--repeat 3] [--quick]

1. Multi-label, N = 100,000 rows × K = 50 classes: ``df.cl.find_label_issues(label="tags",
   pred_probs="p_*")`` timed from a polars frame with a ``List[str]`` tag column (resolving the
   tags to classes, validating the probabilities, scoring, attaching ``label_score``,
   ``is_issue`` and ``suggested_tags``), and from pandas (object column of lists). cleanlab gets
   ``multilabel_classification.filter.find_label_issues`` on ready integer lists and a numpy
   array (its favourable path), plus ``get_label_quality_scores`` for the scores; its reference
   time is the faster of ``n_jobs=1`` and its default multiprocessing.
2. Token classification, 1,000,000 tokens × 20 tags in 50,000 sentences: cleanframe from the
   long frame (``find_label_issues(..., group="sentence_id")`` and ``group_scores``); cleanlab
   from the same frame, which it must first turn into nested per-sentence lists (timed
   separately and included in its total), then ``token_classification.filter.find_label_issues``
   and ``token_classification.rank.get_label_quality_scores``.

Flags are compared as sets (cleanlab given cleanframe's rule for tied rounding residuals, as
in the parity tests) and scores by their largest difference; prints a Markdown block for
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _harness import machine  # noqa: E402


def best(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def multilabel_data(n, k, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, k)) < 0.08
    p = np.where(truth, rng.beta(8, 2, (n, k)), rng.beta(1, 10, (n, k)))
    tags = truth ^ (rng.random((n, k)) < 0.002)  # about 10% of the rows have a wrong tag
    return tags, p


def bench_multilabel(n, k, repeat):
    import pandas as pd
    import polars as pl
    from cleanlab.multilabel_classification import filter as cl_filter
    from cleanlab.multilabel_classification import rank as cl_rank

    import cleanframe  # noqa: F401

    tags, p = multilabel_data(n, k)
    names = [f"c{j:02d}" for j in range(k)]
    tag_lists = [[names[j] for j in np.flatnonzero(row)] for row in tags]
    pl_df = pl.DataFrame({"tags": tag_lists}).with_columns(
        [pl.Series(f"p_{c}", p[:, j]) for j, c in enumerate(names)]
    )
    pd_df = pl_df.to_pandas()
    pd_df["tags"] = pd.Series(tag_lists, dtype=object)
    int_lists = [list(np.flatnonzero(row)) for row in tags]

    def cf_polars():
        return pl_df.cl.find_label_issues(label="tags", pred_probs="p_*")

    def cf_pandas():
        return pd_df.cl.find_label_issues(label="tags", pred_probs="p_*")

    def cl_call(n_jobs):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mask = cl_filter.find_label_issues(int_lists, p, n_jobs=n_jobs)
            scores = cl_rank.get_label_quality_scores(int_lists, p)
            return mask, scores

        return run

    out_pl, t_pl = best(cf_polars, repeat)
    out_pd, t_pd = best(cf_pandas, repeat)
    (mask1, scores), t_cl1 = best(cl_call(1), max(1, repeat - 1))
    (mask_mp, _), t_clmp = best(cl_call(None), max(1, repeat - 1))
    flags = out_pl["is_issue"].to_numpy()
    return {
        "n": n,
        "k": k,
        "cleanframe_polars": t_pl,
        "cleanframe_pandas": t_pd,
        "cleanlab_n_jobs_1": t_cl1,
        "cleanlab_default": t_clmp,
        "flagged": int(flags.sum()),
        "same_flags": bool(np.array_equal(flags, mask1) and np.array_equal(flags, mask_mp)),
        "same_flags_pandas": bool(np.array_equal(out_pd["is_issue"].to_numpy(), mask1)),
        "max_score_diff": float(np.abs(out_pl["label_score"].to_numpy() - scores).max()),
    }


def token_data(n_tokens, k, n_sentences, seed=0):
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, n_tokens), n_sentences - 1, replace=False))
    lengths = np.diff(np.concatenate([[0], cuts, [n_tokens]]))
    truth = rng.integers(0, k, n_tokens)
    p = rng.dirichlet(np.full(k, 1.0), n_tokens)
    p[np.arange(n_tokens), truth] += rng.random(n_tokens) * 2
    p /= p.sum(axis=1, keepdims=True)
    noisy = rng.random(n_tokens) < 0.05  # 5% of the given tags are wrong
    labels = np.where(noisy, rng.integers(0, k, n_tokens), truth)
    return lengths, labels, p


def bench_tokens(n_tokens, k, n_sentences, repeat):
    import polars as pl
    from cleanlab.token_classification import filter as cl_tfilter
    from cleanlab.token_classification import rank as cl_trank

    import cleanframe  # noqa: F401

    lengths, labels, p = token_data(n_tokens, k, n_sentences)
    tags = [f"T{j:02d}" for j in range(k)]
    df = pl.DataFrame(
        {
            "sentence_id": np.repeat(np.arange(n_sentences), lengths),
            "ner_tag": np.array(tags)[labels],
        }
    ).with_columns([pl.Series(f"p_{t}", p[:, j]) for j, t in enumerate(tags)])
    kw = {"label": "ner_tag", "pred_probs": "p_*", "group": "sentence_id"}

    def cf_issues():
        return df.cl.find_label_issues(**kw)

    def cf_groups():
        return df.cl.group_scores(**kw)

    def nested_from_frame():
        # what a cleanlab user does with the long frame: per-sentence lists of codes and arrays
        codes = df["ner_tag"].cast(pl.Enum(tags)).to_physical().to_numpy()
        probs = df.select([f"p_{t}" for t in tags]).to_numpy()
        bounds = np.cumsum(df.group_by("sentence_id", maintain_order=True).len()["len"])[:-1]
        return (
            [c.tolist() for c in np.split(codes, bounds)],
            np.split(probs, bounds),
        )

    def cl_issues(nested):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return cl_tfilter.find_label_issues(*nested, n_jobs=1)

        return run

    def cl_groups(nested):
        def run():
            return cl_trank.get_label_quality_scores(*nested)

        return run

    out, t_cf = best(cf_issues, repeat)
    groups, t_cfg = best(cf_groups, repeat)
    nested, t_nest = best(nested_from_frame, repeat)
    issues, t_cl = best(cl_issues(nested), max(1, repeat - 1))
    (sentence_scores, _), t_clg = best(cl_groups(nested), max(1, repeat - 1))
    flagged = out.filter(pl.col("is_issue"))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rows = set((starts[i] + j) for i, j in issues)
    mine = set(np.flatnonzero(out["is_issue"].to_numpy()).tolist())
    return {
        "tokens": n_tokens,
        "k": k,
        "sentences": n_sentences,
        "cleanframe_issues": t_cf,
        "cleanframe_group_scores": t_cfg,
        "cleanlab_nesting": t_nest,
        "cleanlab_issues": t_cl,
        "cleanlab_scores": t_clg,
        "flagged": len(flagged),
        "same_flags": rows == mine,
        "max_group_score_diff": float(
            np.abs(groups["group_score"].to_numpy() - sentence_scores).max()
        ),
    }


def same_tie_rule():
    """Give cleanlab cleanframe's tie rule for rounding the calibrated confident joint (tied
    rounding residuals, common with equal counts in a row: cleanlab picks by numpy's unstable
    argsort, cleanframe the earlier class), as the parity tests do; nothing else changes."""
    import cleanlab.internal.util as cl_util

    from cleanframe.scoring._common import round_preserving_sum

    cl_util.round_preserving_sum = round_preserving_sum


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    args = parser.parse_args()
    same_tie_rule()
    scale = 10 if args.quick else 1
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {machine()}\nload before: {load}\n")
    ml = bench_multilabel(100_000 // scale, 50, args.repeat)
    tok = bench_tokens(1_000_000 // scale, 20, 50_000 // scale, args.repeat)
    load_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    ref_ml = min(ml["cleanlab_n_jobs_1"], ml["cleanlab_default"])
    print(f"load after: {load_after}\n")
    print(f"### Multi-label, {ml['n']:,} × {ml['k']}\n")
    print("| call | seconds | ratio (cleanlab / cleanframe) |\n|---|---|---|")
    print(
        f"| cleanframe, polars List[str] tags | {ml['cleanframe_polars']:.2f} | "
        f"{ref_ml / ml['cleanframe_polars']:.1f}× |"
    )
    print(
        f"| cleanframe, pandas object lists | {ml['cleanframe_pandas']:.2f} | "
        f"{ref_ml / ml['cleanframe_pandas']:.1f}× |"
    )
    print(f"| cleanlab filter + rank, n_jobs=1 | {ml['cleanlab_n_jobs_1']:.2f} | |")
    print(f"| cleanlab filter + rank, default n_jobs | {ml['cleanlab_default']:.2f} | |")
    print(
        f"\nflagged {ml['flagged']:,}; identical flags: {ml['same_flags']} "
        f"(pandas: {ml['same_flags_pandas']}); max |score diff| {ml['max_score_diff']:.1e}\n"
    )
    cf_total = tok["cleanframe_issues"] + tok["cleanframe_group_scores"]
    cl_total = tok["cleanlab_nesting"] + tok["cleanlab_issues"] + tok["cleanlab_scores"]
    print(
        f"### Token classification, {tok['tokens']:,} tokens × {tok['k']} tags in "
        f"{tok['sentences']:,} sentences\n"
    )
    print("| step | cleanframe s | cleanlab s | ratio |\n|---|---|---|---|")
    print(f"| frame → nested lists (cleanlab only) | – | {tok['cleanlab_nesting']:.2f} | |")
    print(
        f"| token issues | {tok['cleanframe_issues']:.2f} | {tok['cleanlab_issues']:.2f} | "
        f"{tok['cleanlab_issues'] / tok['cleanframe_issues']:.1f}× |"
    )
    print(
        f"| sentence scores | {tok['cleanframe_group_scores']:.2f} | "
        f"{tok['cleanlab_scores']:.2f} | "
        f"{tok['cleanlab_scores'] / tok['cleanframe_group_scores']:.1f}× |"
    )
    print(
        f"| total from the long frame | {cf_total:.2f} | {cl_total:.2f} | "
        f"{cl_total / cf_total:.1f}× |"
    )
    print(
        f"\nflagged {tok['flagged']:,}; identical flags: {tok['same_flags']}; "
        f"max |sentence score diff| {tok['max_group_score_diff']:.1e}"
    )


if __name__ == "__main__":
    main()
