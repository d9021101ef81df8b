"""Benchmark: the whole audit against cleanlab 2.9's ``Datalab.find_issues`` in the same run.

Run by hand (never by the tests), from the repository root:

    .venv/bin/python benchmarks/bench_audit.py                        # 10k and 50k, every shape
    .venv/bin/python benchmarks/bench_audit.py --sizes 10000 --shapes clusters manifold

For each data shape of ``benchmarks/embedding_shapes.py`` (N x 128 float32 embeddings, the
realistic ones included) and each size, the same inputs go to both libraries:

- features: the embedding as float64 (separate columns ``emb_0..emb_127`` of a pandas frame for
  cleanframe, the array for Datalab; float64 because sklearn's float32 cosine distances carry
  errors of ~1e-7, the scale of the near-duplicate radius on the ``near_duplicates`` shape);
- labels: 10 classes, each row's class the nearest of 10 seeded random rows of the embedding,
  then 5% of the labels replaced by a random class (string class names, sorted = column order);
- pred_probs: softmax of ``-30 * distance to the 10 class rows / median distance`` plus
  Gaussian noise (a plausible, imperfect model), float64.

The checks are Datalab's default classification run: ``null, label, outlier, near_duplicate,
non_iid, class_imbalance, underperforming_group``; cleanframe runs the same list
(``checks=[...]``) with ``label_kwargs={"min_examples_per_class": 10}`` (Datalab's
``CleanLearning`` setting). cleanframe's neighbour search is its default (exact below 20,000
rows, the calibrated approximate index above). Each library runs in a fresh subprocess: the data
is generated there, a warm-up audit of 1,000 rows runs first (imports, first-call costs; for
cleanframe also a 40,000 x 8 neighbour graph, which loads the search's compiled loops), then
the measured call runs once under ``_harness.PeakRSS`` (extra memory = peak RSS during the call -
RSS before it). Per-check time: each check's own function (cleanframe: the registry's functions
plus the neighbour search; Datalab: each issue manager's ``find_issues``), timed in the same
call. Flags are saved; the parent compares them per check (Jaccard, 1.0 when both flag nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRATCH = os.environ.get("BENCH_SCRATCH", "/tmp/bench_audit")
D = 128
K = 10
CHECKS = [
    "null",
    "label",
    "outlier",
    "near_duplicate",
    "non_iid",
    "class_imbalance",
    "underperforming_group",
]


def make_inputs(shape: str, n: int, seed: int = 0):
    sys.path.insert(0, HERE)
    from embedding_shapes import make_shape

    X = make_shape(shape, n, D, seed)
    rng = np.random.default_rng(seed + 1)
    anchors = X[rng.choice(n, K, replace=False)].astype(np.float64)
    dist = np.sqrt(
        np.maximum(
            (X.astype(np.float64) ** 2).sum(1)[:, None]
            - 2 * X.astype(np.float64) @ anchors.T
            + (anchors**2).sum(1)[None, :],
            0,
        )
    )
    true = dist.argmin(axis=1)
    logits = -30 * dist / np.median(dist) + rng.normal(0, 1.0, size=dist.shape)
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    labels = np.where(rng.random(n) < 0.05, rng.integers(0, K, n), true)
    names = np.array([f"c{j}" for j in range(K)], dtype=object)
    return X.astype(np.float64), names[labels], P


def cpu_seconds() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------------------
# workers (a fresh subprocess each)
# ------------------------------------------------------------------------------------------
def _frame(X, labels, P):
    import pandas as pd

    df = pd.DataFrame(X, columns=[f"emb_{i}" for i in range(D)])
    df["y"] = labels
    for j in range(K):
        df[f"p_c{j}"] = P[:, j]
    return df


def run_cleanframe(X, labels, P, per_check: dict):
    import cleanframe
    import cleanframe.checks as checks_module
    from cleanframe.checks import registry

    df = _frame(X, labels, P)

    def call():
        return cleanframe.audit(
            df,
            label="y",
            pred_probs="p_*",
            features="emb_*",
            checks=CHECKS,
            label_kwargs={"min_examples_per_class": 10},
            progress=False,
        )

    # per-check timing: wrap each registered check and the neighbour search
    for name in CHECKS:
        check = registry._REGISTRY[name]

        def timed_run(inputs, _run=check.run, _name=name, **kw):
            t = time.perf_counter()
            try:
                return _run(inputs, **kw)
            finally:
                per_check[_name] = per_check.get(_name, 0.0) + time.perf_counter() - t

        timed_run.__signature__ = __import__("inspect").signature(check.run)  # keep params
        registry._REGISTRY[name] = registry.Check(
            check.name, check.needs, timed_run, check.default, check.tasks
        )
    build = checks_module.build_graph

    def timed_build(*a, **kw):
        t = time.perf_counter()
        try:
            return build(*a, **kw)
        finally:
            per_check["knn_graph"] = per_check.get("knn_graph", 0.0) + time.perf_counter() - t

    checks_module.build_graph = timed_build
    return (
        call,
        lambda report: {
            name: np.asarray(report.issues[f"is_{name}_issue"], dtype=bool) for name in CHECKS
        },
        lambda report: {
            "approximate": bool(report.details["knn_graph"].approximate),
            "estimated_recall": report.estimated_recall,
            "p_value": float(report.details["non_iid"].p_value),
        },
    )


def run_datalab(X, labels, P, per_check: dict):
    import pandas as pd
    from cleanlab import Datalab
    from cleanlab.datalab.internal.issue_manager_factory import REGISTRY

    task = next(t for t in REGISTRY if str(getattr(t, "value", t)) == "classification")
    managers = {name: REGISTRY[task][name] for name in CHECKS}
    for name, cls in managers.items():
        original = cls.find_issues

        def timed(self, *a, _original=original, _name=name, **kw):
            t = time.perf_counter()
            try:
                return _original(self, *a, **kw)
            finally:
                per_check[_name] = per_check.get(_name, 0.0) + time.perf_counter() - t

        cls.find_issues = timed

    def call():
        lab = Datalab(pd.DataFrame({"y": labels}), label_name="y", verbosity=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lab.find_issues(features=X, pred_probs=P)
        return lab

    def flags(lab):
        issues = lab.get_issues()
        return {name: issues[f"is_{name}_issue"].to_numpy(dtype=bool) for name in CHECKS}

    return call, flags, lambda lab: {"p_value": float(lab.get_info("non_iid")["p-value"])}


def worker(lib: str, shape: str, n: int, seed: int) -> dict:
    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    from _harness import PeakRSS

    X, labels, P = make_inputs(shape, n, seed)
    per_check: dict = {}
    setup = run_cleanframe if lib == "cleanframe" else run_datalab
    call, flags, info = setup(X, labels, P, per_check)
    # warm-up on 1,000 rows (imports, first-call costs), not measured
    Xw, lw, Pw = make_inputs(shape, 1000, seed + 7)
    warm_call, _, _ = setup(Xw, lw, Pw, {}) if lib == "datalab" else (None, None, None)
    if lib == "datalab":
        warm_call()
    else:
        import cleanframe

        cleanframe.audit(
            _frame(Xw, lw, Pw),
            label="y",
            pred_probs="p_*",
            features="emb_*",
            checks=CHECKS,
            progress=False,
        )
        # the neighbour search's compiled loops (loaded from numba's disk cache on first use;
        # the 1,000-row audit searches exactly, below the size that uses them)
        from cleanframe.scoring.neighbors import knn

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            knn.build_knn_graph(np.random.default_rng(seed).normal(size=(40_000, 8)))
    per_check.clear()
    import gc

    gc.collect()
    c0, t0 = cpu_seconds(), time.perf_counter()
    with PeakRSS() as mem:
        result = call()
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    os.makedirs(SCRATCH, exist_ok=True)
    np.savez(os.path.join(SCRATCH, f"{lib}_{shape}_{n}.npz"), **flags(result))
    return {
        "lib": lib,
        "shape": shape,
        "n": n,
        "seconds": seconds,
        "cpu": cpu,
        "extra_mb": mem.extra / 2**20,
        "per_check": per_check,
        **info(result),
    }


def jaccard(a, b) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def run_sub(args: list[str], timeout: float) -> dict | None:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(
            line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line
        )
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000])
    ap.add_argument("--shapes", nargs="+", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--worker", default=None)
    ap.add_argument("--shape", default="clusters")
    ap.add_argument("--n", type=int, default=10000)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.shape, a.n, a.seed)))
        return
    sys.path.insert(0, HERE)
    from embedding_shapes import SHAPES

    shapes = a.shapes or list(SHAPES)
    print(f"# bench_audit {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {machine()}")
    print(f"# load before: {os.getloadavg()}")
    print(f"# command: {' '.join(sys.argv)}")
    header = (
        "| shape | N | cleanframe s (cpu) | Datalab s (cpu) | speed-up | cleanframe MB | "
        "Datalab MB | memory ratio | graph | per-check s (cleanframe / Datalab) | "
        "Jaccard per check | load |"
    )
    print(header)
    print("|" + "---|" * 12)
    for n in a.sizes:
        for shape in shapes:
            runs = {}
            for lib in ("cleanframe", "datalab"):
                runs[lib] = run_sub(
                    ["--worker", lib, "--shape", shape, "--n", str(n), "--seed", str(a.seed)],
                    a.timeout,
                )
            cf, dl = runs["cleanframe"], runs["datalab"]
            if cf is None or dl is None:
                print(f"| {shape} | {n:,} | failed | | | | | | | | | |", flush=True)
                continue
            f_cf = np.load(os.path.join(SCRATCH, f"cleanframe_{shape}_{n}.npz"))
            f_dl = np.load(os.path.join(SCRATCH, f"datalab_{shape}_{n}.npz"))
            jac = {c: jaccard(f_cf[c], f_dl[c]) for c in CHECKS}
            counts = {c: (int(f_cf[c].sum()), int(f_dl[c].sum())) for c in CHECKS}
            per = ", ".join(
                f"{c} {cf['per_check'].get(c, 0):.2f}/{dl['per_check'].get(c, 0):.2f}"
                for c in CHECKS
            )
            per = f"graph {cf['per_check'].get('knn_graph', 0):.2f}; {per}"
            graph = (
                f"approx., est. recall {cf['estimated_recall']:.3f}"
                if cf["approximate"]
                else "exact"
            )
            jtext = ", ".join(f"{c} {jac[c]:.3f} ({counts[c][0]}/{counts[c][1]})" for c in CHECKS)
            jtext += f"; non-IID p {cf['p_value']:.3g}/{dl['p_value']:.3g}"
            print(
                f"| {shape} | {n:,} | {cf['seconds']:.2f} ({cf['cpu']:.1f}) | "
                f"{dl['seconds']:.1f} ({dl['cpu']:.1f}) | {dl['seconds'] / cf['seconds']:.1f}x | "
                f"{cf['extra_mb']:.0f} | {dl['extra_mb']:.0f} | "
                f"{cf['extra_mb'] / max(dl['extra_mb'], 1e-9):.3f} | {graph} | {per} | {jtext} | "
                f"{os.getloadavg()[0]:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
