"""Label issues beyond memory: polars streaming, Dask (LocalCluster, 2 workers) and cleanlab's
``find_label_issues_batched`` on the same N x K float32 data.

The benchmark writes the data itself (the hard shape of the issue: per row logits ~ N(0, 1), the
true class's logit raised by U(0.5, 4), softmax in float32, then 10% of the labels replaced by a
uniformly random class), as Parquet files of 1M rows (for polars and Dask) and as ``.npy``
(for cleanlab, which reads only ``.npy``). Each method runs in its own process; the parent
samples the resident memory of that process and all its children (Dask's workers) every 0.1 s.

Results are compared with the in-memory kernels (one batch: ``passes.run`` on the memory-mapped
``.npy``), on every row: the flagged rows (``filter_by="prune_by_noise_rate"``) and the
``label_score``. cleanlab's batched path is approximate (one rule, approximate counts): its
flagged set is compared with cleanframe's exact ``low_self_confidence`` flags (the closest rule)
by Jaccard index.

Usage::

    .venv/bin/python benchmarks/bench_scale.py --rows 20000000 --classes 100 --dir /tmp/scale --keep
    .venv/bin/python benchmarks/bench_scale.py --rows 20000000 --classes 100 --dir /tmp/scale \
        --reuse --keep --only dask

Needs about 2.1 x rows x classes x 4 bytes of disk (checked first); deletes the data at the end
unless ``--keep`` or ``--reuse`` (data written before is never deleted). ``--reuse`` takes the
data (and the reference result, when a run with the same rows and classes saved it in
``DIR/out``) written before. ``--compression`` is the Parquet
codec (default snappy, pyarrow's; random probabilities barely compress: at 1M x 100 the files
take 401 MB uncompressed or with snappy / lz4 and 362 MB with zstd, and one streamed read
costs 0.16 / 0.17 / 0.17 / 0.54 CPU-s per 1M rows to decode).

Per method: wall time of the call (in the child), the child's CPU time over the same span
(all its threads; polars and cleanlab also split into user and system time, with the minor
page faults), the whole process tree's CPU time (imports included, Dask's workers too),
its peak resident memory, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROWS_PER_FILE = 1_000_000
BLOCK = 250_000


# -- data ----------------------------------------------------------------------------------
def write_data(root: Path, n: int, k: int, seed: int = 0, compression: str = "snappy") -> None:
    """Parquet files of ``ROWS_PER_FILE`` rows (``label``, ``p_0``..``p_{k-1}``) and the same
    data as ``labels.npy`` / ``pred_probs.npy``, written block by block."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "parquet").mkdir(parents=True, exist_ok=True)
    probs = np.lib.format.open_memmap(
        root / "pred_probs.npy", mode="w+", dtype=np.float32, shape=(n, k)
    )
    labels = np.lib.format.open_memmap(root / "labels.npy", mode="w+", dtype=np.int64, shape=(n,))
    rng = np.random.default_rng(seed)
    names = [f"p_{j}" for j in range(k)]
    writer = None
    for start in range(0, n, BLOCK):
        m = min(BLOCK, n - start)
        logits = rng.standard_normal(size=(m, k), dtype=np.float32)
        true = rng.integers(0, k, m)
        logits[np.arange(m), true] += rng.uniform(0.5, 4, m).astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        given = true.copy()
        flip = rng.random(m) < 0.1
        given[flip] = rng.integers(0, k, int(flip.sum()))
        probs[start : start + m] = logits
        labels[start : start + m] = given
        if start % ROWS_PER_FILE == 0:
            if writer is not None:
                writer.close()
            path = root / "parquet" / f"part-{start // ROWS_PER_FILE:05d}.parquet"
            columns = {"label": given, **{c: logits[:, j] for j, c in enumerate(names)}}
            # plain float pages (a dictionary only for the labels): random floats do not repeat
            writer = pq.ParquetWriter(
                path, pa.table(columns).schema, use_dictionary=["label"], compression=compression
            )
        table = pa.table({"label": given, **{c: logits[:, j] for j, c in enumerate(names)}})
        assert writer is not None
        writer.write_table(table, row_group_size=BLOCK)
    if writer is not None:
        writer.close()
    probs.flush()
    labels.flush()
    del probs, labels


# -- the measured children -------------------------------------------------------------------
def child_reference(root: Path, out: Path) -> dict:
    """The in-memory kernels on the whole data (one batch, the memory-mapped .npy)."""
    from cleanframe.scoring.classification import passes

    labels = np.load(root / "labels.npy", mmap_mode="r")
    probs = np.load(root / "pred_probs.npy", mmap_mode="r")
    k = probs.shape[1]
    start, cpu = time.perf_counter(), time.process_time()
    mask, scores = passes.run(passes.array_batches(labels, probs), k)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    low, _ = passes.run(passes.array_batches(labels, probs), k, filter_by="low_self_confidence")
    np.save(out / "reference_mask.npy", mask)
    np.save(out / "reference_scores.npy", scores)
    np.save(out / "reference_low_mask.npy", low)
    result = {"seconds": seconds, "cpu_seconds": cpu, "flagged": int(mask.sum())}
    (out / "reference.json").write_text(
        json.dumps({**result, "rows": len(labels), "classes": k}) + "\n"
    )
    return result


def _usage() -> tuple:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def _split(before: tuple) -> dict:
    """User and system CPU seconds and minor page faults of this process since ``before``."""
    after = _usage()
    return {
        "user_seconds": after[0] - before[0],
        "system_seconds": after[1] - before[1],
        "minor_faults": after[2] - before[2],
    }


def child_polars(root: Path, out: Path) -> dict:
    import polars as pl

    import cleanframe  # noqa: F401  (registers .cl)

    lf = pl.scan_parquet(root / "parquet" / "*.parquet")
    start, cpu, usage = time.perf_counter(), time.process_time(), _usage()
    result = lf.cl.find_label_issues(label="label", pred_probs="p_*")
    result.select("is_issue", "label_score").sink_parquet(out / "polars.parquet")
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        **_split(usage),
    }


def child_dask(root: Path, out: Path, read_options: dict | None = None) -> dict:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import cleanframe  # noqa: F401  (registers .cl)

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        ddf = dd.read_parquet(root / "parquet", **(read_options or {}))
        start, cpu = time.perf_counter(), time.process_time()
        result = ddf.cl.find_label_issues(label="label", pred_probs="p_*")
        result[["is_issue", "label_score"]].to_parquet(out / "dask", write_index=False)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "client_cpu_seconds": cpu}


def child_cleanlab(root: Path, out: Path, batch_size: int, n_jobs: int) -> dict:
    from cleanlab.experimental.label_issues_batched import find_label_issues_batched

    start, cpu, usage = time.perf_counter(), time.process_time(), _usage()
    mask = find_label_issues_batched(
        labels_file=str(root / "labels.npy"),
        pred_probs_file=str(root / "pred_probs.npy"),
        batch_size=batch_size,
        n_jobs=n_jobs,
        verbose=False,
        return_mask=True,
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    split = _split(usage)
    np.save(out / "cleanlab_mask.npy", mask)
    return {"seconds": seconds, "cpu_seconds": cpu, **split}


CHILDREN = {
    "reference": child_reference,
    "polars": child_polars,
    "dask": child_dask,
    "cleanlab": child_cleanlab,
}


# -- the parent: run a child, sample the memory of its process tree --------------------------
def tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def run(name: str, args: argparse.Namespace, extra: dict | None = None) -> dict:
    import resource

    import psutil

    payload = {"name": name, "root": str(args.dir), "out": str(args.dir / "out"), **(extra or {})}
    cmd = [sys.executable, __file__, "--child", json.dumps(payload)]
    load_before = os.getloadavg()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(child.pid)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(proc))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = child.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child and what it waited for
    tree_cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    if child.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{stderr[-4000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result.update(
        {
            "name": name,
            "peak_rss": peak,
            "process_seconds": wall,
            "tree_cpu_seconds": tree_cpu,
            "load_before": load_before,
            "load_after": os.getloadavg(),
        }
    )
    return result


def reference(args: argparse.Namespace) -> dict:
    """The in-memory result: run now, or with ``--reuse`` the one saved for the same data."""
    saved = args.dir / "out" / "reference.json"
    if args.reuse and saved.exists():
        ref = json.loads(saved.read_text())
        if (ref.get("rows"), ref.get("classes")) == (args.rows, args.classes):
            return {**ref, "reused": True}
    return run("reference", args)


def agreement(name: str, args: argparse.Namespace) -> dict:
    out = args.dir / "out"
    mask = np.load(out / "reference_mask.npy")
    scores = np.load(out / "reference_scores.npy")
    if name == "cleanlab":
        theirs = np.load(out / "cleanlab_mask.npy")
        low = np.load(out / "reference_low_mask.npy")
        inter = int((theirs & low).sum())
        union = int((theirs | low).sum())
        return {
            "flagged": int(theirs.sum()),
            "jaccard_vs_low_self_confidence": inter / max(union, 1),
            "jaccard_vs_prune_by_noise_rate": int((theirs & mask).sum())
            / max(int((theirs | mask).sum()), 1),
        }
    import polars as pl

    if name == "polars":
        got = pl.read_parquet(out / "polars.parquet")
    else:
        files = sorted((out / "dask").glob("*.parquet"), key=lambda p: int(p.stem.split(".")[-1]))
        got = pl.concat([pl.read_parquet(f) for f in files])
    flags = got["is_issue"].to_numpy()
    got_scores = got["label_score"].to_numpy()
    return {
        "flagged": int(flags.sum()),
        "rows_differing": int((flags != mask).sum()),
        "max_score_difference": float(np.abs(got_scores.astype(np.float64) - scores).max()),
    }


def machine() -> dict:
    cpu = platform.processor()
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(
            line.split(":", 1)[1].strip() for line in text.splitlines() if "Model name" in line
        )
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/cleanframe-bench-scale"))
    parser.add_argument("--only", default="polars,dask,cleanlab")
    parser.add_argument("--cleanlab-batch-size", type=int, default=100_000)
    parser.add_argument("--cleanlab-jobs", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse data written before")
    parser.add_argument(
        "--compression", default="snappy", help="Parquet codec: snappy, none, lz4, zstd"
    )
    parser.add_argument(
        "--dask-read-options",
        default="{}",
        help='JSON keywords for dd.read_parquet, e.g. \'{"filesystem": "arrow"}\'',
    )
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        payload = json.loads(args.child)
        name = payload.pop("name")
        root, out = Path(payload.pop("root")), Path(payload.pop("out"))
        print(json.dumps(CHILDREN[name](root, out, **payload)))
        return
    n, k = args.rows, args.classes
    need = int(2.1 * n * k * 4)
    args.dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(args.dir).free
    if not args.reuse and free < need:
        sys.exit(f"needs {need / 1e9:.1f} GB of disk in {args.dir}, {free / 1e9:.1f} GB free")
    print(f"machine: {machine()}", flush=True)
    if not args.reuse:
        start = time.perf_counter()
        write_data(args.dir, n, k, compression=args.compression)
        print(
            f"wrote {n:,} x {k} float32 ({n * k * 4 / 1e9:.1f} GB per copy) as Parquet and "
            f".npy in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
    (args.dir / "out").mkdir(exist_ok=True)
    results = []
    try:
        ref = reference(args)
        print(f"reference (in-memory kernels on the memory-mapped .npy): {ref}", flush=True)
        for name in [m for m in args.only.split(",") if m]:
            extra: dict = {}
            if name == "cleanlab":
                extra = {"batch_size": args.cleanlab_batch_size, "n_jobs": args.cleanlab_jobs}
            elif name == "dask":
                extra = {"read_options": json.loads(args.dask_read_options)}
            r = run(name, args, extra)
            r.update(agreement(name, args))
            r["rows_per_second"] = n / r["seconds"]
            results.append(r)
            with open(args.dir / "out" / "results.jsonl", "a") as log:
                log.write(json.dumps({"rows": n, "classes": k, **r}) + "\n")
            print(
                f"{name}: {r['seconds']:.1f} s, {r['rows_per_second']:,.0f} rows/s, peak RSS "
                f"{r['peak_rss'] / 2**30:.2f} GiB (process tree), {r}",
                flush=True,
            )
    finally:
        print(json.dumps({"rows": n, "classes": k, "machine": machine(), "results": results}))
        if not args.keep and not args.reuse:  # never delete data this run did not write
            shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
