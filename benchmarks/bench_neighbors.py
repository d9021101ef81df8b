"""Benchmark: embedding-space checks (outliers, near duplicates) — cleanframe vs cleanlab 2.9.

Run by hand (never by the tests), from the repository root:

    # 10k and 30k both libraries, 100k/1M cleanframe only
    .venv/bin/python benchmarks/bench_neighbors.py
    .venv/bin/python benchmarks/bench_neighbors.py --sizes 10000 100000 --cleanlab-max 100000
    # ANN library comparison
    .venv/bin/python benchmarks/bench_neighbors.py --ann 100000

Every measurement runs in a fresh subprocess: the data is generated there (fixed seed), then the
measured call runs under ``_harness.PeakRSS`` (RSS sampled every 2 ms in a thread): "extra"
memory = peak RSS during the call - RSS before it. CPU time (user + system, all threads) is
reported beside wall time because the machine is shared. Quality:

- outliers: AUROC of ``1 - outlier_score`` against the injected outliers (1% of rows, random
  directions far from the clusters);
- near duplicates: precision / recall of ``is_near_duplicate`` against the injected duplicate
  pairs (1% of rows copy another row plus tiny noise, 0.2% are exact copies) — both members of
  a pair count as true duplicates.

Data: N × 128 float32, 100 Gaussian clusters (cluster std 0.35 around unit-scale centres).
``BENCH_DATA=hard`` puts the outliers halfway between two cluster centres instead;
``BENCH_DATA=subtle`` draws them around a cluster centre with twice the cluster's spread.
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

import numpy as np

D = 128
HERE = os.path.dirname(os.path.abspath(__file__))
SCRATCH = os.environ.get("BENCH_SCRATCH", "/tmp/bench_neighbors")
ROOT = os.path.dirname(HERE)


DATA = os.environ.get("BENCH_DATA", "easy")


def make_data(n: int, d: int = D, seed: int = 0, kind: str | None = None):
    """``kind="easy"``: outliers in random directions; ``"hard"``: outliers halfway between two
    cluster centres (plus the usual noise); ``"subtle"``: outliers drawn around a cluster centre
    with twice the cluster's spread (they overlap the cluster's edge)."""
    kind = kind or DATA
    rng = np.random.default_rng(seed)
    n_clusters = 100
    centers = rng.normal(size=(n_clusters, d)).astype(np.float32)
    X = centers[rng.integers(0, n_clusters, n)] + 0.35 * rng.normal(size=(n, d)).astype(np.float32)
    n_out = n // 100
    out_rows = rng.choice(n, n_out, replace=False)
    if (
        kind == "subtle"
    ):  # in a cluster, with twice the cluster's spread: overlaps the cluster's edge
        c = rng.integers(0, n_clusters, n_out)
        X[out_rows] = centers[c] + 0.7 * rng.normal(size=(n_out, d)).astype(np.float32)
    elif kind == "hard":
        a, b = rng.integers(0, n_clusters, (2, n_out))
        X[out_rows] = 0.5 * (centers[a] + centers[b]) + 0.35 * rng.normal(size=(n_out, d)).astype(
            np.float32
        )
    else:
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


sys.path.insert(0, HERE)
from _harness import PeakRSS, machine  # noqa: E402  (shared benchmark helpers)

MB = 2**20


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
def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _save(method: str, n: int, **arrays) -> None:
    """Scores and flags of a run, for the cross-method comparison in the parent process."""
    os.makedirs(SCRATCH, exist_ok=True)
    np.savez(os.path.join(SCRATCH, f"{method}_{n}.npz"), **arrays)


def worker(method: str, n: int, seed: int) -> dict:
    X, is_out, is_dup = make_data(n, seed=seed)
    warnings.simplefilter("ignore")
    res: dict = {"method": method, "n": n}
    mem = PeakRSS()
    if method == "cleanframe":
        import polars as pl

        from cleanframe.neighbors import find_near_duplicates, find_outliers

        # the embeddings as one polars Array column (float32, converted to numpy without a copy)

        df = pl.DataFrame(
            {"embedding": pl.Series("embedding", X, dtype=pl.Array(pl.Float32, X.shape[1]))}
        )
        c0 = cpu_seconds()
        with mem:
            t0 = time.perf_counter()
            out, graph = find_outliers(
                df, features="embedding", progress=False, return_knn_graph=True
            )
            t1 = time.perf_counter()
            dup = find_near_duplicates(df, knn_graph=graph)
            t2 = time.perf_counter()
        _save(
            method,
            n,
            outlier_score=out["outlier_score"].to_numpy(),
            is_outlier=out["is_outlier"].to_numpy(),
            is_dup=dup["is_near_duplicate"].to_numpy(),
            dup_score=dup["near_duplicate_score"].to_numpy(),
        )
        res.update(
            cpu=cpu_seconds() - c0,
            time_outliers=t1 - t0,
            time_duplicates=t2 - t1,
            approximate=graph.approximate,
            auroc=auroc(out["outlier_score"].to_numpy(), is_out),
            flagged_outliers=int(out["is_outlier"].sum()),
        )
        p, r = prec_rec(dup["is_near_duplicate"].to_numpy(), is_dup)
        res.update(dup_precision=p, dup_recall=r)
    elif method == "cleanlab_ood":
        from cleanlab.outlier import OutOfDistribution

        c0 = cpu_seconds()
        t0 = time.perf_counter()
        with mem:
            scores = OutOfDistribution().fit_score(features=X, verbose=False)
        res.update(
            time_outliers=time.perf_counter() - t0,
            auroc=auroc(scores, is_out),
            cpu=cpu_seconds() - c0,
        )
        _save(method, n, outlier_score=scores)
    elif method == "cleanlab_datalab":
        import pandas as pd
        from cleanlab import Datalab

        lab = Datalab(pd.DataFrame({"y": np.arange(n) % 2}), label_name="y", verbosity=0)
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        with mem:
            lab.find_issues(features=X, issue_types={"outlier": {}, "near_duplicate": {}})
        t1 = time.perf_counter()
        res["cpu"] = cpu_seconds() - c0
        iss = lab.get_issues()
        _save(
            method,
            n,
            outlier_score=iss["outlier_score"].to_numpy(),
            is_outlier=iss["is_outlier_issue"].to_numpy(),
            is_dup=iss["is_near_duplicate_issue"].to_numpy(),
            dup_score=iss["near_duplicate_score"].to_numpy(),
        )
        res.update(
            time_outliers_and_duplicates=t1 - t0,
            auroc=auroc(iss["outlier_score"].to_numpy(), is_out),
            flagged_outliers=int(iss["is_outlier_issue"].sum()),
        )
        p, r = prec_rec(iss["is_near_duplicate_issue"].to_numpy(), is_dup)
        res.update(dup_precision=p, dup_recall=r)
    else:
        raise ValueError(method)
    res.update(base_mb=mem.base / MB, extra_mb=mem.extra / MB)
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
        S = Xn[q[s : s + 250]] @ Xn.T
        S[np.arange(len(S)), q[s : s + 250]] = -np.inf
        truth.append(np.argpartition(S, -10, axis=1)[:, -10:])
        del S
    truth = np.vstack(truth)
    k = 11
    mem = PeakRSS().__enter__()
    t0 = time.perf_counter()
    if lib == "cleanframe_exact":
        from cleanframe.scoring.neighbors.knn import build_knn_graph

        neighbors = build_knn_graph(
            X, k=10, metric="cosine", approximate=False, progress=False
        ).indices
    elif lib in ("cleanframe_approx", "faiss_ivf"):
        from cleanframe.scoring.neighbors.knn import build_knn_graph

        warnings.simplefilter("ignore")
        mode = True if lib == "cleanframe_approx" else "faiss"
        neighbors = build_knn_graph(
            X, k=10, metric="cosine", approximate=mode, progress=False
        ).indices
    elif lib == "faiss_hnsw":
        import faiss

        idx = faiss.IndexHNSWFlat(D, 16, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 40
        idx.add(Xn)
        idx.hnsw.efSearch = 64
        _, neighbors = idx.search(Xn, k)
    elif lib == "usearch":
        from usearch.index import Index

        idx = Index(
            ndim=D,
            metric="cos",
            dtype="f32",
            connectivity=16,
            expansion_add=64,
            expansion_search=64,
        )
        idx.add(np.arange(n), Xn, threads=os.cpu_count())
        neighbors = idx.search(Xn, k, threads=os.cpu_count()).keys.astype(np.int64)
    elif lib == "hnswlib":
        import hnswlib

        idx = hnswlib.Index(space="ip", dim=D)
        idx.init_index(max_elements=n, ef_construction=64, M=16, random_seed=0)
        idx.set_num_threads(os.cpu_count())
        idx.add_items(Xn, np.arange(n))
        idx.set_ef(64)
        neighbors, _ = idx.knn_query(Xn, k=k)
        neighbors = neighbors.astype(np.int64)
    elif lib == "pynndescent":
        import pynndescent

        nnd = pynndescent.NNDescent(
            Xn, metric="cosine", n_neighbors=k + 4, n_jobs=os.cpu_count(), random_state=0
        )
        neighbors, _ = nnd.neighbor_graph
    else:
        raise ValueError(lib)
    elapsed = time.perf_counter() - t0
    mem.__exit__(None, None, None)
    # a self-graph row may contain the row itself (ANN libraries return it first): compare the
    # first 10 non-self entries
    hits = 0
    for i, row, t in zip(q, np.asarray(neighbors)[q], truth):
        got = [j for j in row if j != i and j != -1][:10]
        hits += len(set(got) & set(t))
    return {
        "lib": lib,
        "n": n,
        "time": elapsed,
        "recall@10": hits / (10 * len(q)),
        "extra_mb": mem.extra / MB,
    }


def agreement(n: int) -> None:
    """Spearman of scores and Jaccard of flags, cleanframe vs cleanlab Datalab, same data."""
    from scipy.stats import spearmanr

    try:
        a = np.load(os.path.join(SCRATCH, f"cleanframe_{n}.npz"))
        b = np.load(os.path.join(SCRATCH, f"cleanlab_datalab_{n}.npz"))
    except OSError:
        return

    def jac(x, y):
        return (x & y).sum() / max((x | y).sum(), 1)

    outlier_rho = spearmanr(a["outlier_score"], b["outlier_score"]).statistic
    dup_rho = spearmanr(a["dup_score"], b["dup_score"]).statistic
    print(
        f"|  | agreement with Datalab: outlier score Spearman {outlier_rho:.5f}, "
        f"is_outlier Jaccard {jac(a['is_outlier'], b['is_outlier']):.4f}, near-dup score Spearman "
        f"{dup_rho:.5f}, is_near_duplicate Jaccard {jac(a['is_dup'], b['is_dup']):.4f} "
        "| | | | | | | | |",
        flush=True,
    )


def run_sub(args: list[str], timeout: float) -> dict | None:
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    try:
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": ROOT, "BENCH_DATA": DATA},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 1_000_000])
    ap.add_argument(
        "--cleanlab-max",
        type=int,
        default=30_000,
        help="largest N to run cleanlab at (it is O(N^2): ~258 s at 100k)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ann", type=int, default=None, help="compare ANN libraries at this N")
    ap.add_argument(
        "--ann-libs",
        nargs="+",
        default=[
            "cleanframe_exact",
            "cleanframe_approx",
            "faiss_ivf",
            "faiss_hnsw",
            "usearch",
            "hnswlib",
            "pynndescent",
        ],
    )
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
    command = " ".join([os.path.relpath(sys.executable, ROOT), *sys.argv])
    print(f"# command: BENCH_DATA={DATA} {command}")
    if a.ann:
        print(f"\nANN libraries, self-graph k=10, N={a.ann:,} x {D} (cosine)\n")
        print("| library | time (s) | recall@10 | peak extra MB |\n|---|---|---|---|")
        for lib in a.ann_libs:
            r = run_sub(["--ann-worker", lib, "--n", str(a.ann), "--seed", str(a.seed)], a.timeout)
            if "error" in r:
                print(f"| {lib} | {r['error']} | | |", flush=True)
            else:
                print(
                    f"| {lib} | {r['time']:.1f} | {r['recall@10']:.4f} | {r['extra_mb']:.0f} |",
                    flush=True,
                )
        return

    os.makedirs(SCRATCH, exist_ok=True)
    print(
        "\n| N | method | outliers (s) | + near dups (s) | CPU (s) | peak extra MB | outlier AUROC "
        "| outliers flagged | dup precision | dup recall |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in a.sizes:
        runs = {
            "cleanframe": run_sub(
                ["--worker", "cleanframe", "--n", str(n), "--seed", str(a.seed)], a.timeout
            )
        }
        if n <= a.cleanlab_max:
            runs["cleanlab_ood"] = run_sub(
                ["--worker", "cleanlab_ood", "--n", str(n), "--seed", str(a.seed)], a.timeout
            )
            runs["cleanlab_datalab"] = run_sub(
                ["--worker", "cleanlab_datalab", "--n", str(n), "--seed", str(a.seed)], a.timeout
            )
        for name, r in runs.items():
            if r is None or "error" in r:
                print(f"| {n:,} | {name} | {r and r.get('error')} | | | | | | | |", flush=True)
                continue
            t_out = r.get("time_outliers")
            t_dup = r.get("time_duplicates")
            if name == "cleanlab_datalab":
                t_cell, d_cell = "—", f"{r['time_outliers_and_duplicates']:.2f} (both)"
            else:
                t_cell = f"{t_out:.2f}" + (" (approx)" if r.get("approximate") else "")
                d_cell = f"{t_dup:.2f}" if t_dup is not None else "—"
            print(
                f"| {n:,} | {name} | {t_cell} | {d_cell} | {r.get('cpu', float('nan')):.1f} | "
                f"{r['extra_mb']:.0f} | {r['auroc']:.4f} | "
                f"{r.get('flagged_outliers', '—')} | {r.get('dup_precision', float('nan')):.3f} | "
                f"{r.get('dup_recall', float('nan')):.3f} |",
                flush=True,
            )
        cf, ood = runs.get("cleanframe"), runs.get("cleanlab_ood")
        if cf and ood and "error" not in cf and "error" not in ood:
            speedup = ood["time_outliers"] / cf["time_outliers"]
            print(
                f"|  | **ratio** cleanlab OOD / cleanframe outliers | **{speedup:.1f}x** "
                "| | | | | | | |",
                flush=True,
            )
        agreement(n)


if __name__ == "__main__":
    main()
