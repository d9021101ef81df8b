"""Benchmark: embedding-space checks (outliers, near duplicates) — cleanframe vs cleanlab 2.9.

Run by hand (never by the tests), from the repository root:

    .venv/bin/python benchmarks/bench_neighbors.py                      # 10k and 30k both, 100k/1M cleanframe
    .venv/bin/python benchmarks/bench_neighbors.py --sizes 10000 100000 --cleanlab-max 100000
    .venv/bin/python benchmarks/bench_neighbors.py --ann 100000         # ANN library comparison

Every measurement runs in a fresh subprocess: the data is generated there (fixed seed), the
resident set size after generation is the baseline, and ``ru_maxrss`` at the end gives the peak;
"extra" memory = peak - baseline. Quality:

- outliers: AUROC of ``1 - outlier_score`` against the injected outliers (1% of rows, random
  directions far from the clusters);
- near duplicates: precision / recall of ``is_near_duplicate`` against the injected duplicate
  pairs (1% of rows copy another row plus tiny noise, 0.2% are exact copies) — both members of
  a pair count as true duplicates.

Data: N × 128 float32, 100 Gaussian clusters (cluster std 0.35 around unit-scale centres).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np

D = 128
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make_data(n: int, d: int = D, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_clusters = 100
    centers = rng.normal(size=(n_clusters, d)).astype(np.float32)
    X = centers[rng.integers(0, n_clusters, n)] + 0.35 * rng.normal(size=(n, d)).astype(np.float32)
    n_out = n // 100
    out_rows = rng.choice(n, n_out, replace=False)
    X[out_rows] = 1.2 * rng.normal(size=(n_out, d)).astype(np.float32)
    is_outlier = np.zeros(n, bool)
    is_outlier[out_rows] = True
    # duplicates: copies of non-outlier rows
    pool = np.flatnonzero(~is_outlier)
    n_dup = n // 100
    pairs = rng.choice(pool, size=(n_dup, 2), replace=False)
    src, dst = pairs[:, 0], pairs[:, 1]
    X[dst] = X[src] + 1e-4 * rng.normal(size=(n_dup, d)).astype(np.float32)
    n_exact = max(1, n_dup // 5)
    X[dst[:n_exact]] = X[src[:n_exact]]
    is_dup = np.zeros(n, bool)
    is_dup[src] = True
    is_dup[dst] = True
    return X.astype(np.float32), is_outlier, is_dup


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def auroc(scores_low_is_bad, truth) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, -np.asarray(scores_low_is_bad)))


def prec_rec(flags, truth):
    flags, truth = np.asarray(flags, bool), np.asarray(truth, bool)
    tp = (flags & truth).sum()
    return float(tp / max(flags.sum(), 1)), float(tp / max(truth.sum(), 1))


# ------------------------------------------------------------------------------------------
# workers (run in a fresh subprocess each)
# ------------------------------------------------------------------------------------------
def worker(method: str, n: int, seed: int) -> dict:
    X, is_out, is_dup = make_data(n, seed=seed)
    base = rss_mb()
    warnings.simplefilter("ignore")
    res: dict = {"method": method, "n": n}
    if method == "cleanframe":
        import polars as pl

        from cleanframe.neighbors import find_near_duplicates, find_outliers

        # the embeddings as one polars Array column (float32, converted to numpy without a copy)

        df = pl.DataFrame({"embedding": pl.Series("embedding", X, dtype=pl.Array(pl.Float32, X.shape[1]))})
        base = rss_mb()
        t0 = time.perf_counter()
        out, graph = find_outliers(df, features="embedding", progress=False, return_knn_graph=True)
        t1 = time.perf_counter()
        dup = find_near_duplicates(df, knn_graph=graph)
        t2 = time.perf_counter()
        res.update(
            time_outliers=t1 - t0, time_duplicates=t2 - t1, approximate=graph.approximate,
            auroc=auroc(out["outlier_score"].to_numpy(), is_out),
            flagged_outliers=int(out["is_outlier"].sum()),
        )
        p, r = prec_rec(dup["is_near_duplicate"].to_numpy(), is_dup)
        res.update(dup_precision=p, dup_recall=r)
    elif method == "cleanlab_ood":
        from cleanlab.outlier import OutOfDistribution

        t0 = time.perf_counter()
        scores = OutOfDistribution().fit_score(features=X, verbose=False)
        res.update(time_outliers=time.perf_counter() - t0, auroc=auroc(scores, is_out))
    elif method == "cleanlab_datalab":
        import pandas as pd
        from cleanlab import Datalab

        lab = Datalab(pd.DataFrame({"y": np.arange(n) % 2}), label_name="y", verbosity=0)
        base = rss_mb()
        t0 = time.perf_counter()
        lab.find_issues(features=X, issue_types={"outlier": {}, "near_duplicate": {}})
        t1 = time.perf_counter()
        iss = lab.get_issues()
        res.update(time_outliers_and_duplicates=t1 - t0,
                   auroc=auroc(iss["outlier_score"].to_numpy(), is_out),
                   flagged_outliers=int(iss["is_outlier_issue"].sum()))
        p, r = prec_rec(iss["is_near_duplicate_issue"].to_numpy(), is_dup)
        res.update(dup_precision=p, dup_recall=r)
    else:
        raise ValueError(method)
    res.update(peak_mb=peak_mb(), base_mb=base, extra_mb=peak_mb() - base)
    return res


def ann_worker(lib: str, n: int, seed: int) -> dict:
    """Build a k=10 self-graph with one ANN library; recall@10 against exact search on 2,000
    sampled rows."""
    X, _, _ = make_data(n, seed=seed)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    rng = np.random.default_rng(1)
    q = np.sort(rng.choice(n, 2000, replace=False))
    truth = []
    for s in range(0, len(q), 250):
        S = Xn[q[s:s + 250]] @ Xn.T
        S[np.arange(len(S)), q[s:s + 250]] = -np.inf
        truth.append(np.argpartition(S, -10, axis=1)[:, -10:])
        del S
    truth = np.vstack(truth)
    base = rss_mb()
    k = 11
    t0 = time.perf_counter()
    if lib == "cleanframe_exact":
        from cleanframe.scoring.knn import build_knn_graph

        I = build_knn_graph(X, k=10, metric="cosine", approximate=False, progress=False).indices
    elif lib in ("cleanframe_approx", "faiss_ivf"):
        from cleanframe.scoring.knn import build_knn_graph

        warnings.simplefilter("ignore")
        mode = True if lib == "cleanframe_approx" else "faiss"
        I = build_knn_graph(X, k=10, metric="cosine", approximate=mode, progress=False).indices
    elif lib == "faiss_hnsw":
        import faiss

        idx = faiss.IndexHNSWFlat(D, 16, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 40
        idx.add(Xn)
        idx.hnsw.efSearch = 64
        _, I = idx.search(Xn, k)
    elif lib == "usearch":
        from usearch.index import Index

        idx = Index(ndim=D, metric="cos", dtype="f32", connectivity=16, expansion_add=64, expansion_search=64)
        idx.add(np.arange(n), Xn, threads=os.cpu_count())
        I = idx.search(Xn, k, threads=os.cpu_count()).keys.astype(np.int64)
    elif lib == "hnswlib":
        import hnswlib

        idx = hnswlib.Index(space="ip", dim=D)
        idx.init_index(max_elements=n, ef_construction=64, M=16, random_seed=0)
        idx.set_num_threads(os.cpu_count())
        idx.add_items(Xn, np.arange(n))
        idx.set_ef(64)
        I, _ = idx.knn_query(Xn, k=k)
        I = I.astype(np.int64)
    elif lib == "pynndescent":
        import pynndescent

        nnd = pynndescent.NNDescent(Xn, metric="cosine", n_neighbors=k + 4, n_jobs=os.cpu_count(), random_state=0)
        I, _ = nnd.neighbor_graph
    else:
        raise ValueError(lib)
    elapsed = time.perf_counter() - t0
    # a self-graph row may contain the row itself (ANN libraries return it first): compare the
    # first 10 non-self entries
    hits = 0
    for i, row, t in zip(q, np.asarray(I)[q], truth):
        got = [j for j in row if j != i and j != -1][:10]
        hits += len(set(got) & set(t))
    return {"lib": lib, "n": n, "time": elapsed, "recall@10": hits / (10 * len(q)),
            "peak_mb": peak_mb(), "extra_mb": peak_mb() - base}


def run_sub(args: list[str], timeout: float) -> dict | None:
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": ROOT})
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except Exception:  # pragma: no cover
        pass
    return f"{os.cpu_count()} cores (nproc), {cpu}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 1_000_000])
    ap.add_argument("--cleanlab-max", type=int, default=30_000,
                    help="largest N to run cleanlab at (it is O(N^2): ~258 s at 100k)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ann", type=int, default=None, help="compare ANN libraries at this N")
    ap.add_argument("--ann-libs", nargs="+",
                    default=["cleanframe_exact", "cleanframe_approx", "faiss_ivf", "faiss_hnsw", "usearch", "hnswlib", "pynndescent"])
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--worker", default=None)
    ap.add_argument("--ann-worker", default=None)
    ap.add_argument("--n", type=int, default=None)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.n, a.seed)))
        return
    if a.ann_worker:
        print(json.dumps(ann_worker(a.ann_worker, a.n, a.seed)))
        return

    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}")
    print(f"# command: {' '.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}")
    if a.ann:
        print(f"\nANN libraries, self-graph k=10, N={a.ann:,} x {D} (cosine)\n")
        print("| library | time (s) | recall@10 | peak extra MB |\n|---|---|---|---|")
        for lib in a.ann_libs:
            r = run_sub(["--ann-worker", lib, "--n", str(a.ann), "--seed", str(a.seed)], a.timeout)
            if "error" in r:
                print(f"| {lib} | {r['error']} | | |", flush=True)
            else:
                print(f"| {lib} | {r['time']:.1f} | {r['recall@10']:.4f} | {r['extra_mb']:.0f} |", flush=True)
        return

    print("\n| N | method | outliers (s) | + near dups (s) | peak extra MB | outlier AUROC | outliers flagged | dup precision | dup recall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in a.sizes:
        runs = {"cleanframe": run_sub(["--worker", "cleanframe", "--n", str(n), "--seed", str(a.seed)], a.timeout)}
        if n <= a.cleanlab_max:
            runs["cleanlab_ood"] = run_sub(["--worker", "cleanlab_ood", "--n", str(n), "--seed", str(a.seed)], a.timeout)
            runs["cleanlab_datalab"] = run_sub(["--worker", "cleanlab_datalab", "--n", str(n), "--seed", str(a.seed)], a.timeout)
        for name, r in runs.items():
            if r is None or "error" in r:
                print(f"| {n:,} | {name} | {r and r.get('error')} | | | | | | |", flush=True)
                continue
            t_out = r.get("time_outliers")
            t_dup = r.get("time_duplicates")
            if name == "cleanlab_datalab":
                t_cell, d_cell = "—", f"{r['time_outliers_and_duplicates']:.2f} (both)"
            else:
                t_cell = f"{t_out:.2f}" + (" (approx)" if r.get("approximate") else "")
                d_cell = f"{t_dup:.2f}" if t_dup is not None else "—"
            print(
                f"| {n:,} | {name} | {t_cell} | {d_cell} | {r['extra_mb']:.0f} | {r['auroc']:.4f} | "
                f"{r.get('flagged_outliers', '—')} | {r.get('dup_precision', float('nan')):.3f} | "
                f"{r.get('dup_recall', float('nan')):.3f} |",
                flush=True,
            )
        cf, ood = runs.get("cleanframe"), runs.get("cleanlab_ood")
        if cf and ood and "error" not in cf and "error" not in ood:
            print(f"|  | **ratio** cleanlab OOD / cleanframe outliers | **{ood['time_outliers'] / cf['time_outliers']:.1f}x** | | | | | | |", flush=True)


if __name__ == "__main__":
    main()
