"""Benchmark: models in the loop, cleanframe vs cleanlab 2.9 in the same run.

Cases (each in a fresh subprocess, so its peak RSS is its own; one timed call after the data is
built; cleanlab gets the same model, the same folds and the same seeds):

* ``*_outre``: regression label quality from a predictions column (OUTRE, cleanlab's default).
  cleanlab asks sklearn for ceil(N/2) neighbours of every row -- an N x N/2 distance array plus an
  index array of the same shape -- so it is skipped when that would not fit in memory.
* ``*_outre_fast``: the same with ``exact=False`` (cleanframe's opt-in approximation); the run
  also times the exact path and cleanlab at the same N and reports the approximation's error
  against the exact scores (relative error of the mean kNN distance, flagged rows, median).
* ``*_clf``: ``CleanLearning(LogisticRegression())`` classification, find issues + final fit, on a
  synthetic 10-class problem with 20% label noise; accuracy on a clean held-out set.
* ``*_reg``: ``CleanLearning(LinearRegression())`` regression (cleanlab's default search), R² on a
  clean held-out set.

Run by hand (never by the tests)::

    .venv/bin/python benchmarks/bench_models.py     # all sizes, writes RESULTS_models.md
    .venv/bin/python benchmarks/bench_models.py --quick --no-write
    .venv/bin/python benchmarks/bench_models.py --tasks outre_fast --no-write   # fast OUTRE only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


COEF = np.random.default_rng(12345).normal(size=10)  # one ground truth for train and test sets


def regression_data(n, seed=0, noise_frac=0.05):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 10))
    y = X @ COEF + rng.normal(scale=0.5, size=n)
    pred = y + rng.normal(scale=0.5, size=n)  # an imperfect out-of-sample model
    bad = rng.choice(n, int(noise_frac * n), replace=False)
    y_noisy = y.copy()
    y_noisy[bad] += rng.choice([-1, 1], len(bad)) * rng.uniform(3, 6, len(bad))
    mask = np.zeros(n, dtype=bool)
    mask[bad] = True
    return X, y, y_noisy, pred, mask


def classification_data(n, seed=0, k=10, d=20, noise=0.2):
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=2 * n,
        n_features=d,
        n_informative=12,
        n_classes=k,
        n_clusters_per_class=1,
        class_sep=1.5,
        random_state=seed,
    )
    X_train, y_train, X_test, y_test = X[:n], y[:n], X[n:], y[n:]
    rng = np.random.default_rng(seed)
    flip = rng.random(n) < noise
    y_noisy = y_train.copy()
    y_noisy[flip] = (y_noisy[flip] + rng.integers(1, k, flip.sum())) % k
    return X_train, y_noisy, X_test, y_test, flip


def flag_stats(mask, truth) -> dict:
    """How many rows were flagged, and their precision / recall against the injected errors."""
    mask = np.asarray(mask, dtype=bool)
    hits = int((mask & truth).sum())
    return {
        "flagged": int(mask.sum()),
        "precision": hits / max(int(mask.sum()), 1),
        "recall": hits / int(truth.sum()),
    }


def fit_measured(est, X, y, truth, lib, out):
    """Time ``est.fit(X, y)`` with peak RSS; record the flagged rows against ``truth``."""
    from _harness import PeakRSS

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        est.fit(X, y)
        out["time"] = time.perf_counter() - t0
    out.update(flag_stats(est.label_issues_mask_ if lib == "cf" else est.label_issues_mask, truth))
    return mem


def max_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(case: str, n: int) -> dict:
    """Run one case in this (fresh) process."""
    warnings.filterwarnings("ignore")
    from _harness import PeakRSS

    lib, task = case.split("_", 1)
    out: dict = {"case": case, "n": n}
    # import what either library needs before timing (cleanframe imports scikit-learn lazily)
    import sklearn.base
    import sklearn.linear_model
    import sklearn.metrics
    import sklearn.model_selection  # noqa: F401

    out["load_before"] = os.getloadavg()[0]
    if task in ("outre", "outre_fast"):
        _, _, y, pred, bad = regression_data(n)
        if lib == "cf":
            import pandas as pd

            from cleanframe.regression import find_label_issues

            df = pd.DataFrame({"y": y, "pred": pred})

            def run():
                r = find_label_issues(df, label="y", predictions="pred", exact=task == "outre")
                return r["label_score"].to_numpy(), r["is_issue"].to_numpy()
        else:
            from cleanlab.regression.rank import get_label_quality_scores

            def run():
                s = get_label_quality_scores(y, pred)
                return s, s < 0.05 * np.median(s)

        with PeakRSS() as mem:
            t0 = time.perf_counter()
            scores, flagged = run()
            out["time"] = time.perf_counter() - t0
        out.update(flag_stats(flagged, bad))
        np.save(f"/tmp/bench_models_{case}_{n}.npy", scores)
    elif task == "clf":
        from sklearn.linear_model import LogisticRegression

        X, y, X_test, y_test, flip = classification_data(n)
        base = LogisticRegression().fit(X, y).score(X_test, y_test)
        if lib == "cf":
            from cleanframe.models import CleanLearning

            est = CleanLearning(LogisticRegression(), seed=0)
        else:
            from cleanlab.classification import CleanLearning

            est = CleanLearning(LogisticRegression(), seed=0)
        mem = fit_measured(est, X, y, flip, lib, out)
        out["test_accuracy"] = float(est.score(X_test, y_test))
        out["baseline_accuracy"] = float(base)
    elif task == "reg":
        from sklearn.linear_model import LinearRegression

        X, _, y, _, bad = regression_data(n, seed=1, noise_frac=0.1)
        Xt, yt, _, _, _ = regression_data(n, seed=2)
        base = LinearRegression().fit(X, y).score(Xt, yt)
        if lib == "cf":
            from cleanframe.models import CleanLearning

            est = CleanLearning(LinearRegression(), seed=0)
        else:
            from cleanlab.regression.learn import CleanLearning

            est = CleanLearning(LinearRegression())
            np.random.seed(0)
        mem = fit_measured(est, X, y, bad, lib, out)
        out["test_r2"] = float(est.score(Xt, yt))
        out["baseline_r2"] = float(base)
    out["extra_rss_mb"] = mem.extra / 2**20
    out["max_rss_mb"] = max_rss_mb()
    out["load_after"] = os.getloadavg()[0]
    return out


def approximation_error(fast_scores, exact_scores) -> dict:
    """Error of the fast OUTRE scores against the exact ones, in terms of the mean kNN distance.

    ``score = exp(-avg / median(avg))``, so with equal medians ``-log(score)`` is ``avg`` over
    the common median and its relative error is that of ``avg``.
    """
    a, b = -np.log(fast_scores), -np.log(exact_scores)
    rel = np.abs(a - b) / np.maximum(b, 1e-300)
    return {
        "avg_rel_err_max": float(rel.max()),
        "avg_rel_err_median": float(np.median(rel)),
        "avg_rel_err_p99": float(np.quantile(rel, 0.99)),
        "median_equal": bool(
            np.isclose(np.median(fast_scores), np.median(exact_scores), rtol=1e-13, atol=0)
        ),
        "flags_equal": bool(
            np.array_equal(
                fast_scores < 0.05 * np.median(fast_scores),
                exact_scores < 0.05 * np.median(exact_scores),
            )
        ),
    }


def run_case(case: str, n: int, timeout: float) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", case, str(n)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        return {"case": case, "n": n, "error": proc.stderr.strip().splitlines()[-1][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", nargs=2, metavar=("CASE", "N"))
    p.add_argument("--quick", action="store_true", help="small sizes only")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument(
        "--tasks",
        default="outre,outre_fast,clf,reg",
        help="comma-separated subset of outre,outre_fast,clf,reg",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="fresh-process runs per clf/reg case, cleanframe and cleanlab alternating; "
        "the fastest is reported",
    )
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return
    if args.quick:
        plan = [
            ("outre", [2000, 5000]),
            ("outre_fast", [20_000]),
            ("clf", [10_000]),
            ("reg", [10_000]),
        ]
    else:
        plan = [
            ("outre", [10_000, 20_000, 100_000]),
            ("outre_fast", [20_000, 100_000]),
            ("clf", [10_000, 100_000]),
            ("reg", [10_000, 100_000]),
        ]
    wanted = set(args.tasks.split(","))
    plan = [(task, sizes) for task, sizes in plan if task in wanted]
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    results = []
    for task, sizes in plan:
        for n in sizes:
            runs: dict = {}
            libs = ("cf", "cl")
            if task == "outre_fast":  # the exact path and cleanlab as references, same run
                libs = ("cf", "cf_exact", "cl")
            for rep in range(1 if task.startswith("outre") else args.repeats):
                for lib in libs if rep % 2 == 0 else libs[::-1]:
                    case = f"{lib}_{task}"
                    if lib == "cf_exact":
                        case = "cf_outre"
                    elif lib == "cl" and task == "outre_fast":
                        case = "cl_outre"
                    if case == "cl_outre" and n * (n // 2) * 16 / 2**30 > 0.5 * mem_gb:
                        need = n * (n // 2) * 16 / 2**30
                        runs[case] = {
                            "case": case,
                            "n": n,
                            "skipped": (
                                f"needs ~{need:.0f} GB for the N x N/2 distance + index arrays"
                            ),
                        }
                        continue
                    r = run_case(case, n, args.timeout)
                    print(r, flush=True)
                    if case not in runs or r.get("time", np.inf) < runs[case].get("time", np.inf):
                        runs[case] = r
            if task == "outre_fast":
                r = runs["cf_outre_fast"]
                if "time" in r and "time" in runs["cf_outre"]:
                    r.update(
                        approximation_error(
                            np.load(f"/tmp/bench_models_cf_outre_fast_{n}.npy"),
                            np.load(f"/tmp/bench_models_cf_outre_{n}.npy"),
                        )
                    )
                results += [r, {**runs["cf_outre"], "case": "cf_outre_exact"}, runs["cl_outre"]]
                continue
            for lib in ("cf", "cl"):
                r = runs[f"{lib}_{task}"]
                if task == "outre" and lib == "cl" and "time" in r:
                    a = np.load(f"/tmp/bench_models_cf_outre_{n}.npy")
                    b = np.load(f"/tmp/bench_models_cl_outre_{n}.npy")
                    r["max_abs_score_diff_vs_cf"] = float(np.max(np.abs(a - b)))
                results.append(r)
    text = report(
        results, " ".join(["python", "benchmarks/bench_models.py"] + (argv or sys.argv[1:]))
    )
    print(text)
    if not args.no_write:
        (HERE / "RESULTS_models.md").write_text(text)


def report(results, command) -> str:
    from _harness import machine

    by = {(r["case"], r["n"]): r for r in results}
    lines = [
        "## Models in the loop: cross-validation, CleanLearning, regression label issues",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        (
            f"- Machine: {machine()} (`nproc` = {os.cpu_count()}); shared with other jobs, so "
            "compare the ratios from the same run"
        ),
        f"- Command: `{command}`",
        (
            "- Each case runs in a fresh process; time = one call after the data is built "
            "(clf/reg: the fastest of `--repeats` fresh-process runs, the two libraries "
            "alternating); extra RSS = peak RSS sampled every 2 ms above the RSS before the call; "
            "max RSS = `ru_maxrss`."
        ),
        "",
        (
            "| task | N | library | time (s) | extra RSS (MB) | max RSS (MB) | flagged | "
            "precision | recall | load (1-min, before→after) | quality |"
        ),
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        lib = "cleanframe" if r["case"].startswith("cf") else "cleanlab"
        task = r["case"].split("_", 1)[1]
        if "skipped" in r or "error" in r:
            lines.append(
                f"| {task} | {r['n']:,} | {lib} | — | — | — | | | | | "
                f"{r.get('skipped') or 'error: ' + r['error']} |"
            )
            continue
        quality = ""
        if task == "clf":
            quality = (
                f"test accuracy {r['test_accuracy']:.4f} (no cleaning: "
                f"{r['baseline_accuracy']:.4f})"
            )
        elif task == "reg":
            quality = f"test R² {r['test_r2']:.4f} (no cleaning: {r['baseline_r2']:.4f})"
        elif "max_abs_score_diff_vs_cf" in r:
            quality = f"max |score diff| vs cleanframe {r['max_abs_score_diff_vs_cf']:.1e}"
        elif "avg_rel_err_max" in r:
            quality = (
                f"mean-distance rel. error vs exact: max {r['avg_rel_err_max']:.1e}, "
                f"p99 {r['avg_rel_err_p99']:.1e}, median {r['avg_rel_err_median']:.1e}; "
                f"median identical (to 1e-13): {r['median_equal']}; flagged rows identical: "
                f"{r['flags_equal']}"
            )
        lines.append(
            f"| {task} | {r['n']:,} | {lib} | {r['time']:.3f} | {r['extra_rss_mb']:.0f} | "
            f"{r['max_rss_mb']:.0f} | {r['flagged']} | {r['precision']:.3f} | {r['recall']:.3f} | "
            f"{r.get('load_before', float('nan')):.1f}→{r.get('load_after', float('nan')):.1f} | "
            f"{quality} |"
        )
    lines += ["", "Ratios (cleanlab time / cleanframe time, same run):", ""]
    for task in ("outre", "clf", "reg"):
        for n in sorted({r["n"] for r in results if r["case"].endswith(task)}):
            a, b = by.get((f"cf_{task}", n)), by.get((f"cl_{task}", n))
            if a and b and "time" in a and "time" in b:
                lines.append(
                    f"- {task}, N={n:,}: **{b['time'] / a['time']:.2f}×** "
                    f"(memory {b['extra_rss_mb']:.0f} MB vs {a['extra_rss_mb']:.0f} MB)"
                )
    for n in sorted({r["n"] for r in results if r["case"] == "cf_outre_fast"}):
        fast = by[("cf_outre_fast", n)]
        for ref, name in (("cf_outre_exact", "cleanframe exact"), ("cl_outre", "cleanlab")):
            b = by.get((ref, n))
            if "time" in fast and b and "time" in b:
                lines.append(
                    f"- outre_fast, N={n:,}: {name} time / fast time = "
                    f"**{b['time'] / fast['time']:.1f}×**"
                )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
