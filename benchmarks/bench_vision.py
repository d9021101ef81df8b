"""cleanframe vs cleanlab 2.9: object detection and semantic segmentation, in the same run.

Object detection: 5,000 images x ~10 given boxes, 20 classes, a detector's ~12 boxes per image
(overlooked, shifted and swapped boxes injected). cleanframe is timed from the two DataFrames
(string image ids and class names; resolving, validating, scoring, flagging, the per-image
table): ``detection_issues``. cleanlab gets ready per-image dicts and per-class arrays and runs
``rank.get_label_quality_scores`` + ``filter.find_label_issues`` (the same two results).

Segmentation: 500 images x 256 x 256, 20 classes, float32 probabilities (2.6 GB). cleanframe is
timed from a polars frame with ``Array`` columns (``segmentation_issues``: softmin scores and the
flagged-pixel counts, read in batches); cleanlab gets the N x H x W / N x K x H x W arrays and runs
``segmentation.rank.get_label_quality_scores`` + ``segmentation.filter.find_label_issues`` with
``n_jobs=1`` (its multiprocessing default forks a pool per image here: far slower).

Every measurement runs in a fresh process; "extra peak" is the peak RSS above the level after the
inputs are built. Results go to benchmarks/RESULTS.md (by hand).

Usage:

    .venv/bin/python benchmarks/bench_vision.py                      # both, full size
    .venv/bin/python benchmarks/bench_vision.py --only detection --images 500
    .venv/bin/python benchmarks/bench_vision.py --only segmentation --seg-images 50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _harness import machine, measure, run_child  # noqa: E402

DATA_DIR = os.path.join(tempfile.gettempdir(), "cleanframe-bench")
BOX = ["x1", "y1", "x2", "y2"]


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def detection_data(n_images: int, k: int = 20, per_image: int = 10, seed: int = 0):
    """Given boxes (image, box, class) and predictions (image, box, class, confidence)."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(per_image, n_images).clip(1, None)
    img = np.repeat(np.arange(n_images), counts)
    n = len(img)
    xy = rng.uniform(0, 600, (n, 2))
    boxes = np.hstack([xy, xy + rng.uniform(10, 120, (n, 2))])
    cls = rng.integers(0, k, n)
    kind = rng.random(n)
    pbox = boxes + rng.normal(0, 2, (n, 4))
    pbox[:, 2:] = np.maximum(pbox[:, 2:], pbox[:, :2] + 1)
    prob = rng.uniform(0.6, 1.0, n)
    gbox, gcls = boxes.copy(), cls.copy()
    shifted = (kind >= 0.05) & (kind < 0.1)
    shift = rng.uniform(10, 30, (n, 2))
    gbox[shifted] += np.hstack([shift, shift])[shifted]
    swapped = (kind >= 0.1) & (kind < 0.15)
    gcls[swapped] = (cls[swapped] + rng.integers(1, k, swapped.sum())) % k
    prob[swapped | (kind < 0.05)] = rng.uniform(0.95, 1.0, (swapped | (kind < 0.05)).sum())
    keep = kind >= 0.05  # kind < 0.05: overlooked (no given box)
    extra = rng.random(n) < 0.2  # spurious low-confidence predictions
    exy = rng.uniform(0, 600, (extra.sum(), 2))
    p_img = np.r_[img, img[extra]]
    p_box = np.vstack([pbox, np.hstack([exy, exy + rng.uniform(10, 80, (extra.sum(), 2))])])
    p_cls = np.r_[cls, rng.integers(0, k, extra.sum())]
    p_prob = np.r_[prob, rng.uniform(0, 0.9, extra.sum())]
    return (img[keep], gbox[keep], gcls[keep], p_img, p_box, p_cls, p_prob)


def detection_frames(data, kind: str):
    import pandas as pd

    gi, gb, gc, pi, pb, pc, pp = data
    ids = np.array([f"img_{i:05d}" for i in range(max(gi.max(), pi.max()) + 1)], dtype=object)
    names = np.array([f"class_{c:02d}" for c in range(20)], dtype=object)
    given = pd.DataFrame({"image_id": ids[gi], "cls": names[gc]})
    given[BOX] = gb
    pred = pd.DataFrame({"image_id": ids[pi], "cls": names[pc]})
    pred[BOX] = pb
    pred["confidence"] = pp
    if kind == "polars":
        import polars as pl

        return pl.from_pandas(given), pl.from_pandas(pred)
    return given, pred


def to_cleanlab_boxes(data, n_images: int, k: int = 20):
    gi, gb, gc, pi, pb, pc, pp = data
    g_order, p_order = np.argsort(gi, kind="stable"), np.lexsort((pc, pi))
    g_start = np.searchsorted(gi[g_order], np.arange(n_images + 1))
    p_sorted = p_order
    labels, predictions = [], []
    key = pi[p_sorted] * k + pc[p_sorted]
    p_start = np.searchsorted(key, np.arange(n_images * k + 1))
    pred5 = np.hstack([pb, pp[:, None]])[p_sorted]
    for i in range(n_images):
        rows = g_order[g_start[i] : g_start[i + 1]]
        labels.append({"bboxes": gb[rows], "labels": gc[rows]})
        predictions.append([pred5[p_start[i * k + c] : p_start[i * k + c + 1]] for c in range(k)])
    return labels, predictions


def segmentation_data(n: int, k: int = 20, size: int = 256, seed: int = 0):
    """Masks of a few rectangles (int32) and float32 softmax probabilities, cached on disk."""
    os.makedirs(DATA_DIR, exist_ok=True)
    path = os.path.join(DATA_DIR, f"seg_{n}_{k}_{size}_{seed}")
    if not os.path.exists(path + "_probs.npy"):
        rng = np.random.default_rng(seed)
        masks = np.empty((n, size, size), dtype=np.int32)
        probs = np.lib.format.open_memmap(
            path + "_probs.npy.tmp", mode="w+", dtype=np.float32, shape=(n, k, size, size)
        )
        for i in range(n):
            m = np.full((size, size), rng.integers(0, k), dtype=np.int32)
            for _ in range(4):
                y, x = rng.integers(0, size - 64, 2)
                h, w = rng.integers(16, 64, 2)
                m[y : y + h, x : x + w] = rng.integers(0, k)
            logits = rng.standard_normal((k, size, size), dtype=np.float32)
            logits += 3.0 * (np.arange(k)[:, None, None] == m[None])
            e = np.exp(logits)
            probs[i] = e / e.sum(axis=0, keepdims=True)
            if rng.random() < 0.3:  # a mislabeled region
                y, x = rng.integers(0, size - 32, 2)
                m[y : y + 32, x : x + 32] = (m[y : y + 32, x : x + 32] + 1) % k
            masks[i] = m
        probs.flush()
        del probs
        np.save(path + "_masks.npy", masks)
        os.replace(path + "_probs.npy.tmp", path + "_probs.npy")
    return np.load(path + "_masks.npy"), np.load(path + "_probs.npy")


def scan_file(n: int) -> str:
    """The segmentation data as a parquet file (4 images per row group), written once."""
    path = os.path.join(DATA_DIR, f"seg_{n}.parquet")
    if not os.path.exists(path):
        import polars as pl

        masks, probs = segmentation_data(n)
        frame = pl.DataFrame(
            [
                pl.Series("mask", masks, dtype=pl.Array(pl.Int32, masks.shape[1:])),
                pl.Series("probs", probs, dtype=pl.Array(pl.Float32, probs.shape[1:])),
            ]
        )
        frame.write_parquet(path + ".tmp", row_group_size=4)
        os.replace(path + ".tmp", path)
    return path


# ------------------------------------------------------------------------------------------
# children
# ------------------------------------------------------------------------------------------
def child(args: dict) -> dict:
    warnings.simplefilter("ignore")
    task, who, repeat = args["task"], args["who"], args["repeat"]
    if task == "detection":
        data = detection_data(args["images"])
        n_images = args["images"]
        if who == "cleanlab":
            from cleanlab.object_detection.filter import find_label_issues
            from cleanlab.object_detection.rank import get_label_quality_scores

            labels, predictions = to_cleanlab_boxes(data, n_images)

            def fn():
                scores = get_label_quality_scores(labels, predictions, verbose=False)
                return scores, find_label_issues(labels, predictions)

            m = measure(fn, repeat)
            scores, flags = m["result"]
        else:
            import cleanframe  # noqa: F401

            given, pred = detection_frames(data, who)
            ids = [f"img_{i:05d}" for i in range(n_images)]

            def fn():
                return given.cl.detection_issues(
                    predictions=pred,
                    image="image_id",
                    box=BOX,
                    label="cls",
                    score="confidence",
                    images=ids,
                )

            m = measure(fn, repeat)
            out = m["result"]
            scores = np.asarray(out["label_score"])
            flags = np.asarray(out["is_issue"])
        return {
            "seconds": m["seconds"],
            "cpu": m["cpu"],
            "extra": m["extra"],
            "scores": np.asarray(scores, dtype=float).tolist(),
            "flags": np.asarray(flags, dtype=bool).tolist(),
            "boxes": [len(data[0]), len(data[3])],
        }
    if who == "scan":  # a LazyFrame over a parquet file: only a batch of rows in memory
        import polars as pl

        import cleanframe  # noqa: F401

        lazy = pl.scan_parquet(scan_file(args["images"]))

        def fn():
            out = lazy.cl.segmentation_issues(
                label="mask", pred_probs="probs", batch_size=args["batch"]
            )
            return out.select("label_score", "num_pixel_issues").collect()

        m = measure(fn, repeat)
        import psutil

        return {
            "seconds": m["seconds"],
            "cpu": m["cpu"],
            "extra": m["extra"],
            "rss": psutil.Process().memory_info().rss,
            "counts": m["result"]["num_pixel_issues"].to_list(),
            "scores": m["result"]["label_score"].to_list(),
        }
    masks, probs = segmentation_data(args["images"])
    if who.startswith("cleanlab"):
        import cleanlab.experimental.label_issues_batched as batched
        from cleanlab.segmentation.filter import find_label_issues
        from cleanlab.segmentation.rank import get_label_quality_scores

        def find_top_issues(quality_scores, top=None):  # ties by position, as cleanframe
            top = len(quality_scores) if top is None or top > len(quality_scores) else top
            return np.argsort(quality_scores, kind="stable")[:top]

        batched.find_top_issues = find_top_issues

        n_jobs = None if who == "cleanlab_default" else 1  # None: a process pool per batch

        def fn():
            scores, _ = get_label_quality_scores(masks, probs, n_jobs=n_jobs, verbose=False)
            issues = find_label_issues(masks, probs, n_jobs=n_jobs, verbose=False)
            return scores, issues.sum(axis=(1, 2))

        m = measure(fn, repeat)
        scores, counts = m["result"]
    else:
        import polars as pl

        import cleanframe  # noqa: F401

        frame = pl.DataFrame(
            [
                pl.Series("mask", masks, dtype=pl.Array(pl.Int32, masks.shape[1:])),
                pl.Series("probs", probs, dtype=pl.Array(pl.Float32, probs.shape[1:])),
            ]
        )
        del masks, probs
        import gc

        gc.collect()

        def fn():
            return frame.cl.segmentation_issues(
                label="mask", pred_probs="probs", batch_size=args.get("batch")
            )

        m = measure(fn, repeat)
        scores = m["result"]["label_score"].to_numpy()
        counts = m["result"]["num_pixel_issues"].to_numpy()
    return {
        "seconds": m["seconds"],
        "cpu": m["cpu"],
        "extra": m["extra"],
        "scores": np.asarray(scores, dtype=float).tolist(),
        "counts": np.asarray(counts).tolist(),
    }


# ------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------
def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--only", choices=["detection", "segmentation"])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--seg-images", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--scan",
        type=int,
        default=0,
        help="only: segmentation from a parquet scan of this many images, two batch sizes (memory)",
    )
    ap.add_argument(
        "--default-images",
        type=int,
        default=0,
        help="also time cleanlab's default segmentation (n_jobs=None) on this many images",
    )
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(json.loads(a.child))))
        return
    print(f"# {machine()}")
    if a.scan:
        scan_file(a.scan)
        for batch in (4, 16):
            args = {
                "task": "segmentation",
                "who": "scan",
                "images": a.scan,
                "repeat": 1,
                "batch": batch,
            }
            r = run_child(__file__, args, timeout=7200)
            print(
                f"segmentation from a parquet scan, {a.scan} images, batch_size={batch:3d}: "
                f"best {min(r['seconds']):7.2f} s  cpu {min(r['cpu']):7.2f} s  extra peak "
                f"{r['extra'] / 2**20:6.0f} MiB  process RSS after {r['rss'] / 2**20:6.0f} MiB  "
                f"load {load()}",
                flush=True,
            )
        return
    print(f"# started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load {load()}")
    if a.only in (None, "detection"):
        res = {}
        for who, repeat in (("pandas", a.repeat), ("polars", a.repeat), ("cleanlab", 1)):
            args = {"task": "detection", "who": who, "images": a.images, "repeat": repeat}
            res[who] = run_child(__file__, args, timeout=7200)
            r = res[who]
            print(
                f"detection {a.images} images ({r['boxes'][0]} given, {r['boxes'][1]} predicted "
                f"boxes) {who:9s} best {min(r['seconds']):8.3f} s  cpu {min(r['cpu']):8.3f} s  "
                f"extra peak {r['extra'] / 2**20:7.0f} MiB  load {load()}",
                flush=True,
            )
        ref = res["cleanlab"]
        for who in ("pandas", "polars"):
            r = res[who]
            diff = np.abs(np.array(r["scores"]) - np.array(ref["scores"])).max()
            same = r["flags"] == ref["flags"]
            print(
                f"  {who}: {min(ref['seconds']) / min(r['seconds']):.1f}x faster (wall), "
                f"{min(ref['cpu']) / min(r['cpu']):.1f}x (cpu); max |score diff| {diff:.2e}; "
                f"flags equal: {same} ({sum(r['flags'])} images flagged)"
            )
    if a.only in (None, "segmentation"):
        res = {}
        runs = (("polars", None, a.repeat), ("polars", 8, a.repeat), ("cleanlab", None, 1))
        for who, batch, repeat in runs:
            args = {
                "task": "segmentation",
                "who": who,
                "images": a.seg_images,
                "repeat": repeat,
                "batch": batch,
            }
            key = f"{who}/{batch}"
            res[key] = r = run_child(__file__, args, timeout=7200)
            print(
                f"segmentation {a.seg_images} x 256 x 256 x 20 {key:14s} best "
                f"{min(r['seconds']):8.3f} s  cpu {min(r['cpu']):8.3f} s  extra peak "
                f"{r['extra'] / 2**20:7.0f} MiB  load {load()}",
                flush=True,
            )
        if a.default_images:
            for who in ("polars", "cleanlab_default"):
                args = {
                    "task": "segmentation",
                    "who": who,
                    "images": a.default_images,
                    "repeat": 1,
                    "batch": None,
                }
                r = run_child(__file__, args, timeout=7200)
                res[f"{who}@{a.default_images}"] = r
                print(
                    f"segmentation {a.default_images} x 256 x 256 x 20 {who:16s} best "
                    f"{min(r['seconds']):8.3f} s  cpu {min(r['cpu']):8.3f} s  load {load()}",
                    flush=True,
                )
            mine = res[f"polars@{a.default_images}"]
            theirs = res[f"cleanlab_default@{a.default_images}"]
            print(
                f"  vs cleanlab's default: {min(theirs['seconds']) / min(mine['seconds']):.1f}x "
                f"faster (wall); counts equal: {mine['counts'] == theirs['counts']}"
            )
        ref = res["cleanlab/None"]
        for key in ("polars/None", "polars/8"):
            r = res[key]
            diff = np.abs(np.array(r["scores"]) - np.array(ref["scores"])).max()
            print(
                f"  {key}: {min(ref['seconds']) / min(r['seconds']):.1f}x faster (wall), "
                f"{min(ref['cpu']) / min(r['cpu']):.1f}x (cpu); max |score diff| {diff:.2e}; "
                f"pixel-issue counts equal: {r['counts'] == ref['counts']} "
                f"({sum(r['counts'])} pixels)"
            )


if __name__ == "__main__":
    main()
