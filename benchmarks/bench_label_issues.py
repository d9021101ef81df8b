"""cleanframe vs cleanlab 2.9: find_label_issues and label quality scores at N=1,000,000.

cleanframe is timed from the DataFrame (column resolution, validation and attaching the result
columns included) with **string** labels; cleanlab gets its favourable path: a ready numpy
float32 array and integer labels (best of n_jobs=1 and its default multiprocessing). Every
measurement runs in a fresh process (peak memory = peak RSS above the level before the call).

Two data shapes (``--shape``): ``easy`` (Dirichlet pred_probs whose top class is the given label
on most rows) and ``hard`` (issue 10: logits ~ N(0, 1), the true class's logit raised by
U(0.5, 4), softmax in float32, then 10% of the labels replaced by a uniformly random class: the
top class agrees with the given label on about 40% of the rows).

cleanframe's process first runs one call on a 2,000-row frame (not measured): the one-time cost of
loading its compiled loops, like cleanlab's import, is not part of the call.

Usage (by hand; results go to benchmarks/RESULTS.md):

    .venv/bin/python benchmarks/bench_label_issues.py                 # N=1e6, K=10 and 100
    .venv/bin/python benchmarks/bench_label_issues.py --n 100000 --k 10
    .venv/bin/python benchmarks/bench_label_issues.py --k 100 --shape hard
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _harness import machine, run_child, timed  # noqa: E402

DATA_DIR = os.path.join(tempfile.gettempdir(), "cleanframe-bench")


def make_data(n: int, k: int, seed: int = 0, shape: str = "easy"):
    """Noisy labels and float32 pred_probs of one shape, cached on disk."""
    os.makedirs(DATA_DIR, exist_ok=True)
    suffix = "" if shape == "easy" else f"_{shape}"
    path = os.path.join(DATA_DIR, f"labels_{n}_{k}_{seed}{suffix}.npz")
    if os.path.exists(path):
        with np.load(path) as d:
            return d["labels"], d["pred_probs"]
    if shape == "hard":
        labels, p = _hard(n, k, seed)
        np.savez(path, labels=labels, pred_probs=p)
        return labels, p
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    p = rng.dirichlet(np.full(k, 0.2), n).astype(np.float32)
    p[np.arange(n), true] += rng.uniform(0.3, 1.5, n).astype(np.float32)
    p /= p.sum(axis=1, keepdims=True)
    labels = true.copy()
    flip = rng.random(n) < 0.1
    labels[flip] = rng.integers(0, k, flip.sum())
    np.savez(path, labels=labels, pred_probs=p)
    return labels, p


def _hard(n: int, k: int, seed: int):
    """Issue 10's hard shape: most given labels are not the model's top class."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    p = np.empty((n, k), dtype=np.float32)
    step = 100_000
    for a in range(0, n, step):
        b = min(n, a + step)
        logits = rng.standard_normal((b - a, k)).astype(np.float32)
        logits[np.arange(b - a), true[a:b]] += rng.uniform(0.5, 4, b - a).astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        p[a:b] = logits
    labels = true.copy()
    flip = rng.random(n) < 0.1
    labels[flip] = rng.integers(0, k, flip.sum())
    return labels, p


def class_names(k):
    return [f"class_{i:03d}" for i in range(k)]


def child(args: dict) -> dict:
    warnings.simplefilter("ignore")
    labels, p = make_data(args["n"], args["k"], shape=args.get("shape", "easy"))
    names = class_names(args["k"])
    task, who = args["task"], args["who"]
    if who.startswith("cleanlab"):
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

        n_jobs = 1 if who == "cleanlab_n1" else None
        if task == "find_label_issues":
            fn = lambda: find_label_issues(labels, p, n_jobs=n_jobs)  # noqa: E731
        else:
            fn = lambda: get_label_quality_scores(labels, p)  # noqa: E731
        result, seconds, extra = timed(fn, args["repeat"])
        mask_or_scores = result
    else:
        import cleanframe  # noqa: F401

        columns = {"label": np.array(names, dtype=object)[labels]}
        columns.update({f"p_{c}": p[:, i] for i, c in enumerate(names)})
        if who == "cleanframe_pandas":
            import pandas as pd

            df = pd.DataFrame(columns)
        else:
            import polars as pl

            df = pl.DataFrame(columns)
        del columns
        small = df.head(2000)  # load the compiled loops once (like an import), not measured
        small.cl.find_label_issues(label="label", pred_probs="p_*")
        small.cl.label_quality_scores(label="label", pred_probs="p_*")
        if task == "find_label_issues":
            fn = lambda: df.cl.find_label_issues(label="label", pred_probs="p_*")  # noqa: E731
            col = "is_issue"
        else:
            fn = lambda: df.cl.label_quality_scores(label="label", pred_probs="p_*")  # noqa: E731
            col = "label_score"
        result, seconds, extra = timed(fn, args["repeat"])
        mask_or_scores = np.asarray(result[col])
    shape = args.get("shape", "easy")
    out_path = os.path.join(DATA_DIR, f"result_{task}_{who}_{args['n']}_{args['k']}_{shape}.npy")
    np.save(out_path, mask_or_scores)
    return {"seconds": seconds, "extra_mb": extra / 2**20, "result": out_path}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shape", choices=["easy", "hard"], nargs="+", default=["easy"])
    parser.add_argument("--tasks", nargs="+", default=["find_label_issues", "label_quality_scores"])
    ns = parser.parse_args()
    if ns.child:
        print(json.dumps(child(json.loads(ns.child))))
        return
    print(f"# machine: {machine()}")
    print(f"# N={ns.n:,}, float32 pred_probs; best of {ns.repeat} runs after a warm-up\n")
    header = (
        "| shape | task | K | pred_probs MB | who | seconds | extra peak MB (× pred_probs) | "
        "ratio cleanlab/cleanframe | agreement |"
    )
    print(header)
    print("|" + "---|" * 9)
    for shape, k in [(shape, k) for shape in ns.shape for k in ns.k]:
        make_data(ns.n, k, shape=shape)
        size_mb = ns.n * k * 4 / 2**20
        for task in ns.tasks:
            rows = {}
            whos = (
                ["cleanlab_n1", "cleanlab_default"]
                if task == "find_label_issues"
                else ["cleanlab_n1"]
            )
            for who in whos + ["cleanframe_pandas", "cleanframe_polars"]:
                rows[who] = run_child(
                    __file__,
                    {
                        "n": ns.n,
                        "k": k,
                        "task": task,
                        "who": who,
                        "repeat": ns.repeat,
                        "shape": shape,
                    },
                )
            ref_who = min(whos, key=lambda w: rows[w]["seconds"])
            ref = rows[ref_who]
            ref_result = np.load(ref["result"])
            for who, r in rows.items():
                res = np.load(r["result"])
                if task == "find_label_issues":
                    inter = np.sum(res & ref_result)
                    union = np.sum(res | ref_result)
                    agree = (
                        f"Jaccard {inter / max(union, 1):.6f} "
                        f"({res.sum():,} vs {ref_result.sum():,} flagged)"
                    )
                else:
                    agree = f"max |Δscore| {np.max(np.abs(res - ref_result)):.1e}"
                ratio = ref["seconds"] / r["seconds"]
                print(
                    f"| {shape} | {task} | {k} | {size_mb:.0f} | {who} | {r['seconds']:.3f} | "
                    f"{r['extra_mb']:.0f} ({r['extra_mb'] / size_mb:.2f}×) | "
                    f"{'' if who.startswith('cleanlab') else f'{ratio:.1f}×'} | {agree} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
