"""Benchmark: embedding-space checks (outliers, near duplicates) — cleanframe vs cleanlab 2.9.

Run by hand (never by the tests), from the repository root:

    # 10k and 30k both libraries, 100k/1M cleanframe only
    .venv/bin/python benchmarks/bench_neighbors.py
    .venv/bin/python benchmarks/bench_neighbors.py --sizes 10000 100000 --cleanlab-max 100000
    # neighbour indexes side by side on every data shape of benchmarks/embedding_shapes.py
    # (recall@10 against exact search; faiss-cpu and hnswlib for those rows: the `ann` extra)
    .venv/bin/python benchmarks/bench_neighbors.py --ann 50000
    .venv/bin/python benchmarks/bench_neighbors.py --ann 100000 --shapes manifold \
        --ann-libs cleanframe_default faiss_flat

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
from embedding_shapes import SHAPES, make_shape  # noqa: E402  (the data shapes)

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


# the index before the calibrated cluster join (per-cell probing, fixed parameters), for the
# side-by-side comparison: loaded from this commit of cleanframe/scoring/neighbors/knn.py
PREVIOUS_INDEX_COMMIT = "99b952a"

ANN_LIBS = [
    "cleanframe_exact",
    "cleanframe_default",
    "cleanframe_previous",
    "cleanframe_previous_p16",
    "faiss_ivf",
    "faiss_ivf_p64",
    "faiss_hnsw",
    "faiss_hnsw_hi",
    "hnswlib",
    "hnswlib_hi",
    "faiss_flat",
]


def _previous_knn():
    """The previous cluster-join module (``PREVIOUS_INDEX_COMMIT``), imported beside the
    current one."""
    import importlib.util

    import cleanframe.scoring.neighbors  # noqa: F401  (the parent package of the module)

    src = subprocess.run(
        ["git", "show", f"{PREVIOUS_INDEX_COMMIT}:cleanframe/scoring/neighbors/knn.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.makedirs(SCRATCH, exist_ok=True)
    path = os.path.join(SCRATCH, "knn_previous.py")
    with open(path, "w") as fh:
        fh.write(src)
    name = "cleanframe.scoring.neighbors._knn_previous"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _first_non_self(neighbors: np.ndarray, k: int) -> np.ndarray:
    """Each row's first k entries that are neither the row itself nor -1 (ANN libraries return
    the row itself first); a row with fewer gets another row's index (a miss) in the gaps."""
    n = len(neighbors)
    valid = (neighbors != np.arange(n)[:, None]) & (neighbors >= 0)
    order = np.argsort(~valid, axis=1, kind="stable")[:, :k]
    out = np.take_along_axis(neighbors, order, axis=1).astype(np.int64)
    bad = ~np.take_along_axis(valid, order, axis=1)
    out[bad] = ((np.arange(n)[:, None] + 1 + np.arange(k)) % n)[bad]
    return out


def ann_worker(lib: str, n: int, seed: int, shape: str) -> dict:
    """Build a k=10 cosine self-graph with one index on one data shape. ``cleanframe_exact``
    computes the ground truth (exact search) and saves it; every other index is compared with
    it on all rows: recall@10 = share of the returned neighbours at most as far as the exact
    10th neighbour (ties count as found), plus the outlier flags and scores (Datalab's rule,
    exact-duplicate correction applied) against the exact graph's."""
    from scipy.stats import spearmanr

    from cleanframe.neighbors import outlier_arrays
    from cleanframe.scoring.neighbors import knn

    X = make_shape(shape, n, seed=seed)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    os.makedirs(SCRATCH, exist_ok=True)
    truth_path = os.path.join(SCRATCH, f"truth_{shape}_{n}_{seed}.npz")
    k = 10
    warnings.simplefilter("ignore")
    res: dict = {"lib": lib, "n": n, "shape": shape}
    mem = PeakRSS().__enter__()
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    neighbors = None
    graph = None
    if lib == "cleanframe_exact":
        graph = knn.build_knn_graph(
            X, k=k, metric="cosine", approximate=False, correct_exact_duplicates=False
        )
    elif lib == "cleanframe_default":
        graph = knn.build_knn_graph(
            X, k=k, metric="cosine", approximate=True, correct_exact_duplicates=False
        )
    elif lib in ("cleanframe_previous", "cleanframe_previous_p16"):
        previous = _previous_knn()
        if lib.endswith("p16"):
            previous.CLUSTER_JOIN_PROBES = 16
        neighbors = previous.build_knn_graph(
            X, k=k, metric="cosine", approximate=True, correct_exact_duplicates=False
        ).indices
    elif lib == "faiss_ivf":  # cleanframe's approximate="faiss": nlist 4·sqrt(N), nprobe 16
        graph = knn.build_knn_graph(
            X, k=k, metric="cosine", approximate="faiss", correct_exact_duplicates=False
        )
    elif lib == "faiss_ivf_p64":
        import faiss

        nlist = int(4 * np.sqrt(n))
        quantizer = faiss.IndexFlatIP(D)
        index = faiss.IndexIVFFlat(quantizer, D, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(Xn[np.random.default_rng(seed).choice(n, min(n, 40 * nlist), replace=False)])
        index.add(Xn)
        index.nprobe = 64
        _, neighbors = index.search(Xn, k + 1)
    elif lib in ("faiss_hnsw", "faiss_hnsw_hi"):
        import faiss

        hi = lib.endswith("hi")
        index = faiss.IndexHNSWFlat(D, 32 if hi else 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200 if hi else 40
        index.add(Xn)
        index.hnsw.efSearch = 256 if hi else 64
        _, neighbors = index.search(Xn, k + 1)
    elif lib in ("hnswlib", "hnswlib_hi"):
        import hnswlib

        hi = lib.endswith("hi")
        index = hnswlib.Index(space="ip", dim=D)
        index.init_index(
            max_elements=n, ef_construction=200 if hi else 64, M=32 if hi else 16, random_seed=seed
        )
        index.set_num_threads(os.cpu_count() or 1)
        index.add_items(Xn, np.arange(n))
        index.set_ef(256 if hi else 64)
        neighbors, _ = index.knn_query(Xn, k=k + 1)
    elif lib == "faiss_flat":  # exact search with faiss' brute-force kernel
        import faiss

        index = faiss.IndexFlatIP(D)
        index.add(Xn)
        _, neighbors = index.search(Xn, k + 1)
    else:
        raise ValueError(lib)
    res.update(time=time.perf_counter() - t0, cpu=cpu_seconds() - c0)
    mem.__exit__(None, None, None)
    res["extra_mb"] = mem.extra / MB
    if graph is None:
        idx, dist = knn._refine(X, X, _first_non_self(np.asarray(neighbors), k), "cosine")
        graph = knn.KnnGraph(idx, dist, "cosine", approximate=True)
    else:
        res["estimated_recall"] = graph.estimated_recall
        res["approximate"] = graph.approximate
    if lib == "cleanframe_exact":
        np.savez(truth_path, indices=graph.indices, distances=graph.distances)
    truth = np.load(truth_path)
    kth = truth["distances"][:, -1:]
    res["recall"] = float((graph.distances <= kth * (1 + 1e-12)).mean())
    same = (graph.indices[:, :, None] == truth["indices"][:, None, :]).any(axis=2)
    res["index_recall"] = float(same.mean())
    exact_graph = knn.KnnGraph(truth["indices"], truth["distances"], "cosine")
    s_exact, f_exact = outlier_arrays(knn.correct_exact_duplicates(X, exact_graph))
    s, f = outlier_arrays(knn.correct_exact_duplicates(X, graph))
    res.update(
        flagged=int(f.sum()),
        flagged_exact=int(f_exact.sum()),
        flags_jaccard=float((f & f_exact).sum() / (f | f_exact).sum())
        if (f | f_exact).any()
        else 1.0,
        score_spearman=float(spearmanr(s, s_exact).statistic),
    )
    return res


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
    ap.add_argument("--ann", type=int, default=None, help="compare ANN indexes at this N")
    ap.add_argument("--ann-libs", nargs="+", default=ANN_LIBS)
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), help="data shapes for --ann")
    ap.add_argument(
        "--reuse-truth",
        action="store_true",
        help="--ann: reuse the exact graphs an earlier run left in BENCH_SCRATCH",
    )
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--worker", default=None)
    ap.add_argument("--ann-worker", default=None)
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--shape", default="clusters")
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.n, a.seed)))
        return
    if a.ann_worker:
        print(json.dumps(ann_worker(a.ann_worker, a.n, a.seed, a.shape)))
        return

    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}")
    command = " ".join([os.path.relpath(sys.executable, ROOT), *sys.argv])
    print(f"# command: BENCH_DATA={DATA} {command}")
    if a.ann:
        print(f"\nNeighbour indexes, self-graph k=10, N={a.ann:,} x {D} (cosine)\n")
        print(
            "| shape | index | time (s) | CPU (s) | recall@10 | estimated recall | "
            "outliers flagged (exact) | flags Jaccard | score Spearman | peak extra MB |\n"
            "|---|---|---|---|---|---|---|---|---|---|"
        )
        for shape in a.shapes:
            libs = ["cleanframe_exact"] + [x for x in a.ann_libs if x != "cleanframe_exact"]
            truth = os.path.join(SCRATCH, f"truth_{shape}_{a.ann}_{a.seed}.npz")
            if a.reuse_truth and os.path.exists(truth):
                libs = libs[1:]  # the exact graph of an earlier run (same data, same seed)
            for lib in libs:  # the exact search first: it writes the ground truth
                r = run_sub(
                    ["--ann-worker", lib, "--n", str(a.ann), "--seed", str(a.seed)]
                    + ["--shape", shape],
                    a.timeout,
                )
                if r is None or "error" in r:
                    print(f"| {shape} | {lib} | {r and r.get('error')} | | | | | | | |", flush=True)
                    continue
                est = r.get("estimated_recall")
                kind = "" if r.get("approximate", True) else " (exact)"
                print(
                    f"| {shape} | {lib}{kind} | {r['time']:.1f} | {r['cpu']:.1f} | "
                    f"{r['recall']:.4f} | {'—' if est is None else f'{est:.4f}'} | "
                    f"{r['flagged']} ({r['flagged_exact']}) | {r['flags_jaccard']:.4f} | "
                    f"{r['score_spearman']:.5f} | {r['extra_mb']:.0f} |",
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
