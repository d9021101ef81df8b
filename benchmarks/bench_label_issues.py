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

Each row reports the best wall time of the repeats, the CPU time (user + system, all threads) of
that run, and the load average when the process started (the machine may be shared).
``--rounds R`` runs the whole set of processes R times in turn (cleanlab, cleanframe pandas,
cleanframe polars, cleanlab, ...) and keeps each one's best, so a burst of load from elsewhere
does not decide a ratio. ``--steps`` prints instead where a label_quality_scores call from a frame
spends its time, step by step (wall and CPU, best of the repeats).

Usage (by hand; results go to benchmarks/RESULTS.md):

    .venv/bin/python benchmarks/bench_label_issues.py                 # N=1e6, K=10 and 100
    .venv/bin/python benchmarks/bench_label_issues.py --n 100000 --k 10
    .venv/bin/python benchmarks/bench_label_issues.py --k 100 --shape hard
    .venv/bin/python benchmarks/bench_label_issues.py --k 100 --shape easy hard --steps
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
from _harness import machine, measure, run_child  # noqa: E402

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


def frame(labels, p, names, engine: str):
    """The benchmark's frame: string labels and one float32 column per class."""
    columns = {"label": np.array(names, dtype=object)[labels]}
    columns.update({f"p_{c}": p[:, i] for i, c in enumerate(names)})
    if engine == "pandas":
        import pandas as pd

        return pd.DataFrame(columns)
    import polars as pl

    return pl.DataFrame(columns)


def steps_child(args: dict) -> dict:
    """Where a label_quality_scores call from a frame spends its time (the steps of
    ``label_issues.label_quality_scores``, called one by one)."""
    import time

    from _harness import cpu_seconds

    import cleanframe  # noqa: F401
    from cleanframe._engines import adapt
    from cleanframe._inputs.classes import check_classes_occur, classification_spec, label_codes
    from cleanframe._inputs.columns import check_result_columns
    from cleanframe._inputs.probabilities import check_probability_columns
    from cleanframe.scoring.classification import passes
    from cleanframe.scoring.classification.columns import ProbColumns

    labels, p = make_data(args["n"], args["k"], shape=args["shape"])
    df = frame(labels, p, class_names(args["k"]), args["engine"])
    df.head(2000).cl.label_quality_scores(label="label", pred_probs="p_*")
    k = args["k"]

    def one() -> dict:
        marks = [(time.perf_counter(), cpu_seconds())]

        def mark():
            marks.append((time.perf_counter(), cpu_seconds()))

        fr = adapt(df)
        check_result_columns(fr, ["label_score"], overwrite=False)
        spec = classification_spec(fr, label="label", pred_probs="p_*")
        mark()
        codes = label_codes(fr, "label", spec.labels, spec.classes)
        check_classes_occur("label", codes, spec.classes.values)
        mark()
        fr.non_numeric(spec.columns)
        cols = ProbColumns(fr.float_columns(spec.columns))
        mark()
        P = check_probability_columns(fr, cols, codes, spec.selection, spec.columns)
        mark()
        _, scores = passes.run(
            passes.array_batches(codes, P), k, filter_by=None, rank_by="self_confidence"
        )
        mark()
        fr.attach({"label_score": scores})
        mark()
        names = ["factorize + spec", "class codes", "float columns", "gate read", "score", "attach"]
        out = {n: (b[0] - a[0], b[1] - a[1]) for n, a, b in zip(names, marks, marks[1:])}
        out["total"] = (marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1])
        return out

    runs = [one() for _ in range(args["repeat"] + 1)][1:]
    best = min(runs, key=lambda r: r["total"][0])
    t0 = time.perf_counter()
    df.cl.label_quality_scores(label="label", pred_probs="p_*")
    best["public call"] = (time.perf_counter() - t0, float("nan"))
    return {"steps": best, "load": os.getloadavg()[0]}


def child(args: dict) -> dict:
    warnings.simplefilter("ignore")
    if args.get("steps"):
        return steps_child(args)
    load = os.getloadavg()[0]
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
        m = measure(fn, args["repeat"])
        mask_or_scores = m["result"]
    else:
        import cleanframe  # noqa: F401

        df = frame(labels, p, names, "pandas" if who == "cleanframe_pandas" else "polars")
        small = df.head(2000)  # load the compiled loops once (like an import), not measured
        small.cl.find_label_issues(label="label", pred_probs="p_*")
        small.cl.label_quality_scores(label="label", pred_probs="p_*")
        if task == "find_label_issues":
            fn = lambda: df.cl.find_label_issues(label="label", pred_probs="p_*")  # noqa: E731
            col = "is_issue"
        else:
            fn = lambda: df.cl.label_quality_scores(label="label", pred_probs="p_*")  # noqa: E731
            col = "label_score"
        m = measure(fn, args["repeat"])
        mask_or_scores = np.asarray(m["result"][col])
    shape = args.get("shape", "easy")
    out_path = os.path.join(DATA_DIR, f"result_{task}_{who}_{args['n']}_{args['k']}_{shape}.npy")
    np.save(out_path, mask_or_scores)
    best = int(np.argmin(m["seconds"]))
    return {
        "seconds": m["seconds"][best],
        "cpu": m["cpu"][best],
        "extra_mb": m["extra"] / 2**20,
        "result": out_path,
        "load": load,
    }


def print_steps(ns) -> None:
    print("| shape | engine | step | wall ms | CPU ms (all threads) |")
    print("|---|---|---|---|---|")
    for shape in ns.shape:
        for k in ns.k:
            make_data(ns.n, k, shape=shape)
            for engine in ("pandas", "polars"):
                r = run_child(
                    __file__,
                    {
                        "steps": True,
                        "n": ns.n,
                        "k": k,
                        "shape": shape,
                        "engine": engine,
                        "repeat": ns.repeat,
                    },
                )
                for step, (wall, cpu) in r["steps"].items():
                    print(
                        f"| {shape} (K={k}) | {engine} | {step} | {wall * 1e3:.1f} | "
                        f"{cpu * 1e3:.1f} |",
                        flush=True,
                    )
                print(f"| | {engine} | load at start | {r['load']:.1f} | |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shape", choices=["easy", "hard"], nargs="+", default=["easy"])
    parser.add_argument("--tasks", nargs="+", default=["find_label_issues", "label_quality_scores"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--steps", action="store_true")
    ns = parser.parse_args()
    if ns.child:
        print(json.dumps(child(json.loads(ns.child))))
        return
    print(f"# machine: {machine()}")
    print(f"# load average at start: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if ns.steps:
        print(f"# N={ns.n:,}, float32 pred_probs; best of {ns.repeat} calls after a warm-up\n")
        print_steps(ns)
        return
    print(
        f"# N={ns.n:,}, float32 pred_probs; best of {ns.repeat} runs after a warm-up, "
        f"best of {ns.rounds} round(s) of fresh processes\n"
    )
    header = (
        "| shape | task | K | pred_probs MB | who | seconds | CPU s | "
        "extra peak MB (× pred_probs) | ratio cleanlab/cleanframe | agreement | load |"
    )
    print(header)
    print("|" + "---|" * 11)
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
            for _ in range(ns.rounds):
                for who in whos + ["cleanframe_pandas", "cleanframe_polars"]:
                    r = run_child(
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
                    if who not in rows or r["seconds"] < rows[who]["seconds"]:
                        rows[who] = r
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
                    f"{r['cpu']:.3f} | {r['extra_mb']:.0f} ({r['extra_mb'] / size_mb:.2f}×) | "
                    f"{'' if who.startswith('cleanlab') else f'{ratio:.1f}×'} | {agree} | "
                    f"{r['load']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
