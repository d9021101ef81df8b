"""Benchmark: multi-annotator consensus, annotator quality and ActiveLab, cleanframe vs cleanlab.

Synthetic crowd (default 100,000 items, 50 annotators of accuracy 0.3-0.95, 1-5 labels per item,
K=10 classes, a model that is right ~70% of the time). Each case runs in a fresh subprocess so
that its peak RSS (``ru_maxrss``) is its own; the time is the best of ``--repeats`` runs inside
that process (cleanlab: one run unless ``--cleanlab-repeats``). Quality: consensus accuracy vs the
true labels.

Run by hand (never by the tests)::

    .venv/bin/python benchmarks/bench_multiannotator.py            # full size, writes RESULTS
    .venv/bin/python benchmarks/bench_multiannotator.py --items 20000 --no-write
    .venv/bin/python benchmarks/bench_multiannotator.py --aggregators   # crowd-kit's aggregators

``--aggregators`` runs every crowd-kit classification aggregator (one-coin Dawid-Skene, GLAD,
MACE, Wawa, Zero-Based Skill, KOS, M-MSR, gold majority vote) through ``consensus(method=...)``
on a pandas long frame and through crowd-kit on the same annotations (KOS on a two-class crowd of
the same shape; gold labels on every 10th item), and replaces its own section of
RESULTS_multiannotator.md.
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
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

CASES = {
    # name: (library, description)
    "cf_crowdlab": (
        "cleanframe",
        "CROWDLAB consensus + quality + annotator stats + per-annotation quality (kernel)",
    ),
    "cf_consensus_pandas": (
        "cleanframe",
        "consensus() on a pandas wide frame (specs, validation, attach)",
    ),
    "cf_consensus_polars": ("cleanframe", "consensus() on a polars wide frame"),
    "cf_annotator_stats_long": (
        "cleanframe",
        "annotator_stats() on a pandas long frame + pred_probs frame",
    ),
    "cl_crowdlab": (
        "cleanlab",
        "get_label_quality_multiannotator (defaults: detailed quality + annotator stats)",
    ),
    "cf_majority_vote": ("cleanframe", "majority vote with pred_probs tie-break (kernel)"),
    "cl_majority_vote": ("cleanlab", "get_majority_vote_label with pred_probs"),
    "cf_activelab": ("cleanframe", "ActiveLab scores, 90% labelled + 10% unlabelled (kernel)"),
    "cl_activelab": ("cleanlab", "get_active_learning_scores, same split"),
    "cf_dawid_skene": ("cleanframe", "Dawid-Skene EM without pred_probs (kernel)"),
    "cf_dawid_skene_long": ("cleanframe", "consensus() without pred_probs on a pandas long frame"),
    "ck_dawid_skene": ("crowd-kit", "crowdkit.aggregation.DawidSkene(n_iter=100)"),
}


def make_data(n_items, n_annotators, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    accuracy = rng.uniform(0.3, 0.95, n_annotators)
    n_labels = rng.integers(1, 6, n_items)
    item = np.repeat(np.arange(n_items), n_labels)
    rank = np.arange(len(item)) - np.repeat(np.cumsum(n_labels) - n_labels, n_labels)
    who = np.argsort(rng.random((n_items, n_annotators)), axis=1)[item, rank]
    right = rng.random(len(item)) < accuracy[who]
    label = np.where(right, truth[item], rng.integers(0, n_classes, len(item)))
    logits = rng.normal(size=(n_items, n_classes))
    logits[np.arange(n_items), truth] += 1.8
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    wide = np.full((n_items, n_annotators), np.nan)
    wide[item, who] = label
    return dict(truth=truth, item=item, who=who, label=label, probs=probs, wide=wide)


AGGREGATOR_CASES = (
    "one_coin_dawid_skene",
    "glad",
    "mace",
    "wawa",
    "zero_based_skill",
    "kos",
    "m_msr",
    "gold_majority_vote",
)
CROWDKIT_NAMES = {
    "one_coin_dawid_skene": "OneCoinDawidSkene()",
    "glad": "GLAD(n_iter={glad_iter})",
    "mace": "MACE(n_restarts=1)",
    "wawa": "Wawa()",
    "zero_based_skill": "ZeroBasedSkill()",
    "kos": "KOS()",
    "m_msr": "MMSR()",
    "gold_majority_vote": "GoldMajorityVote()",
}
AGG_SECTION = "## crowd-kit's classification aggregators (consensus(method=...))"


def crowdkit():
    """crowd-kit's aggregation module (its NLP imports stubbed; check_is_fitted bypassed for the
    predict-after-fit aggregators, which scikit-learn >= 1.6 rejects)."""
    import importlib
    import sys as _sys
    import types

    for mod in ("nltk", "nltk.translate", "nltk.translate.gleu_score"):
        _sys.modules.setdefault(mod, types.ModuleType(mod))
    for mod in ("wawa", "zero_based_skill", "gold_majority_vote"):
        m = importlib.import_module(f"crowdkit.aggregation.classification.{mod}")
        m.check_is_fitted = lambda *a, **k: None
    return importlib.import_module("crowdkit.aggregation")


def run_aggregator(lib, method, args):
    """One aggregator, one library, in this process."""
    import pandas as pd

    warnings.filterwarnings("ignore")
    k = 2 if method == "kos" else args.classes
    d = make_data(args.items, args.annotators, k)
    truth = d["truth"]
    gold = np.where(np.arange(args.items) % 10 == 0, truth, -1)
    long = pd.DataFrame({"item_id": d["item"], "worker": d["who"], "label": d["label"]})
    long = long.sort_values(["item_id", "worker"], kind="stable").reset_index(drop=True)
    if lib == "cleanframe":
        import cleanframe.multiannotator as cfm

        frame = long
        if method == "gold_majority_vote":
            g = gold[long["item_id"].to_numpy()]
            frame = long.assign(gold=pd.array(np.where(g >= 0, g, None), dtype="Int64"))
        kw = dict(item="item_id", annotator="worker", label="label", method=method)
        if method == "gold_majority_vote":
            kw["gold"] = "gold"
        if method == "glad":
            import cleanframe.scoring.multiannotator.aggregators as agg

            glad = agg.glad
            agg.glad = lambda ann, **kw: glad(ann, n_iter=args.glad_iter)

        def once():
            out = cfm.consensus(frame, **kw)
            return out["consensus_label"].to_numpy()  # items in order 0..N-1

        repeats = args.repeats
    else:
        ck = crowdkit()
        data = long.rename(columns={"item_id": "task"})
        known = np.flatnonzero(gold >= 0)
        make = {
            "one_coin_dawid_skene": lambda: ck.OneCoinDawidSkene(n_iter=100).fit_predict(data),
            "glad": lambda: ck.GLAD(n_iter=args.glad_iter).fit_predict(data),
            "mace": lambda: ck.MACE(n_restarts=1).fit_predict(data),
            "wawa": lambda: ck.Wawa().fit_predict(data),
            "zero_based_skill": lambda: ck.ZeroBasedSkill().fit_predict(data),
            "kos": lambda: ck.KOS().fit_predict(data),
            "m_msr": lambda: ck.MMSR().fit_predict(data),
            "gold_majority_vote": lambda: ck.GoldMajorityVote().fit_predict(
                data, pd.Series(gold[known], index=known)
            ),
        }[method]

        def once():
            return make().sort_index().to_numpy()

        repeats = args.crowdkit_repeats
    times, cpu, labels = [], [], None
    load = os.getloadavg()[0]
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        labels = once()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    kernel_seconds = None
    if lib == "cleanframe":  # the kernel alone: codes -> Annotations -> what consensus() needs
        from cleanframe.scoring.multiannotator import aggregators as agg
        from cleanframe.scoring.multiannotator.crowdlab import Annotations

        kernel_times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ann = Annotations.from_coo(
                long["item_id"].to_numpy(), long["worker"].to_numpy(), long["label"].to_numpy(),
                num_items=args.items, num_annotators=args.annotators, num_classes=k,
            )  # fmt: skip
            try:
                agg.aggregate_items(ann, method, gold=gold, posterior=False)
            except TypeError:  # code before aggregate_items(posterior=...) (before/after runs)
                agg.aggregate_items(ann, method, gold=gold)
            kernel_times.append(time.perf_counter() - t0)
        kernel_seconds = min(kernel_times)
    mv = np.argmax(
        np.bincount(d["item"] * k + d["label"], minlength=args.items * k).reshape(-1, k), axis=1
    )
    return {
        "lib": lib,
        "method": method,
        "seconds": min(times),
        "cpu_seconds": min(cpu),
        "load": max(load, os.getloadavg()[0]),
        "kernel_seconds": kernel_seconds,
        "accuracy": float(np.mean(np.asarray(labels, dtype=np.int64) == truth)),
        "labels": np.asarray(labels, dtype=np.int64).tolist(),
        "mv_accuracy": float(np.mean(mv == truth)),
        "annotations": int(len(d["item"])),
    }


def aggregators_main(args):
    rows = {}
    if args.from_json:  # several partial runs (e.g. GLAD on its own) merged into one section
        for path in args.from_json:
            saved = json.loads(Path(path).read_text())
            rows.update({(r["lib"], r["method"]): r for r in saved["rows"]})
            args.command = saved.get("command")
        args.methods = [m for m in AGGREGATOR_CASES if ("cleanframe", m) in rows]
    for method in [] if args.from_json else args.methods:
        for lib in ("cleanframe", "crowd-kit"):
            cmd = [
                sys.executable, __file__, "--aggregator-case", f"{lib}:{method}",
                "--items", str(args.items), "--annotators", str(args.annotators),
                "--classes", str(args.classes), "--repeats", str(args.repeats),
                "--crowdkit-repeats", str(args.crowdkit_repeats),
                "--glad-iter", str(args.glad_iter),
            ]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"{lib} {method}: FAILED\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            rows[(lib, method)] = json.loads(proc.stdout.strip().splitlines()[-1])
            r = rows[(lib, method)]
            print(f"{method:22s} {lib:10s} {r['seconds']:9.3f} s  acc {r['accuracy']:.4f}")
    if args.save_json:
        Path(args.save_json).write_text(
            json.dumps({"rows": list(rows.values()), "command": " ".join(sys.argv[1:])})
        )
    report = render_aggregators(args, rows)
    print(report)
    if not args.no_write:
        path = HERE / "RESULTS_multiannotator.md"
        text = path.read_text() if path.exists() else ""
        head = text.split(AGG_SECTION)[0].rstrip()
        path.write_text((head + "\n\n" if head else "") + report + "\n")


def render_aggregators(args, rows):
    m = machine()
    load = subprocess.run("uptime", capture_output=True, text=True, check=False).stdout.strip()
    cmd = "python benchmarks/bench_multiannotator.py " + " ".join(sys.argv[1:])
    if getattr(args, "command", None):
        cmd += f"` (from `{args.command}`)"
    any_row = next(iter(rows.values()), {})
    lines = [
        AGG_SECTION,
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {m['nproc']} cores, {m['cpu']}; Python {m['python']}, numpy {m['numpy']}",
        f"- Load when the report was written (`uptime`): {load}",
        f"- Command: `{cmd.strip()}`",
        f"- Data: the crowd above ({args.items:,} items, {args.annotators} annotators of accuracy "
        f"0.3–0.95, 1–5 labels per item, {any_row.get('annotations', 0):,} annotations), "
        f"K={args.classes}; KOS (two classes only) on the same shape with K=2; gold labels on "
        "every 10th item. cleanframe: `consensus(long_frame, method=...)` on a pandas long frame "
        f"(validation and result frame included), best of {args.repeats}; crowd-kit 1.4: "
        f"`fit_predict` on the same frame (gold labels as the Series it takes), best of "
        f"{args.crowdkit_repeats}. Each library and method in a fresh process, cleanframe first, "
        "crowd-kit right after. Times are wall clock; CPU is the process CPU time (least over "
        "the runs); load is the 1-minute load average (`os.getloadavg`, the larger of the start "
        "and end of that process's runs). Kernel: integer codes → `Annotations.from_coo` → "
        "`aggregate_items` (the per-item results `consensus()` returns), no frame.",
        f"- GLAD: both libraries run n_iter={args.glad_iter} EM iterations (crowd-kit's default "
        "100 takes hours at this size); MACE: crowd-kit with n_restarts=1 (its 10 default "
        "restarts all start from the same seeded draw, so they return the same result 10 times "
        "slower).",
        "",
        "| method | crowd-kit call | cleanframe (s) | crowd-kit (s) | speed-up | CPU (s) "
        "cleanframe / crowd-kit | CPU speed-up | load | kernel (s) | kernel speed-up | "
        "accuracy cleanframe | accuracy crowd-kit | same labels |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in args.methods:
        cf, ck = rows.get(("cleanframe", method)), rows.get(("crowd-kit", method))
        if cf is None or ck is None:
            lines.append(f"| {method} | failed | | | | | | | | | | |")
            continue
        same = np.mean(np.asarray(cf["labels"]) == np.asarray(ck["labels"]))
        call = CROWDKIT_NAMES[method].format(glad_iter=args.glad_iter)
        kern = cf.get("kernel_seconds")
        kern_cells = f"{kern:.3f} | {ck['seconds'] / kern:.1f}×" if kern else " | "
        if "cpu_seconds" in cf and "cpu_seconds" in ck:  # rows saved before CPU was measured
            cpu_cells = (
                f"{cf['cpu_seconds']:.3f} / {ck['cpu_seconds']:.3f} | "
                f"{ck['cpu_seconds'] / cf['cpu_seconds']:.1f}× | "
                f"{cf['load']:.1f} / {ck['load']:.1f}"
            )
        else:
            cpu_cells = " | | "
        lines.append(
            f"| {method} | `{call}` | {cf['seconds']:.3f} | {ck['seconds']:.3f} | "
            f"**{ck['seconds'] / cf['seconds']:.1f}×** | {cpu_cells} | {kern_cells} | "
            f"{cf['accuracy']:.4f} | {ck['accuracy']:.4f} | {same:.4f} |"
        )
    mv = {r["method"]: r["mv_accuracy"] for r in rows.values()}
    if mv:
        k10 = next((v for key, v in mv.items() if key != "kos"), None)
        lines += ["", f"Plain majority vote accuracy: {k10:.4f} (K={args.classes})"]
        if "kos" in mv:
            lines[-1] += f", {mv['kos']:.4f} (K=2, the KOS crowd)."
    return "\n".join(lines)


def annotations(d, args):
    """The generated annotations as cleanframe's coordinate container."""
    from cleanframe.scoring.multiannotator import crowdlab as ma

    return ma.Annotations.from_coo(
        d["item"], d["who"], d["label"],
        num_items=args.items, num_annotators=args.annotators, num_classes=args.classes,
    )  # fmt: skip


def rss_mb():
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover
        return float("nan")


def run_case(name, args):
    """Run one case in this process; return a dict of measurements."""
    warnings.filterwarnings("ignore")
    d = make_data(args.items, args.annotators, args.classes)
    k = args.classes
    truth = d["truth"]
    prepared = {}
    repeats = args.repeats

    if name.startswith("cf_"):
        import cleanframe.multiannotator as cfm
        from cleanframe.scoring.multiannotator import crowdlab as ma

        ann = annotations(d, args)
    if name in (
        "cf_consensus_pandas",
        "cf_consensus_polars",
        "cf_annotator_stats_long",
        "cf_dawid_skene_long",
    ):
        import pandas as pd

        wide = pd.DataFrame(
            {
                f"ann_{j}": pd.array(
                    np.where(np.isnan(d["wide"][:, j]), None, d["wide"][:, j]), dtype="Int64"
                )
                for j in range(args.annotators)
            }
        )
        for c in range(k):
            wide[f"p_{c}"] = d["probs"][:, c]
        long = pd.DataFrame(
            {"item_id": d["item"], "worker": [f"w{j}" for j in d["who"]], "label": d["label"]}
        )
        preds = pd.DataFrame({"item_id": np.arange(args.items)})
        for c in range(k):
            preds[f"p_{c}"] = d["probs"][:, c]
        if name == "cf_consensus_polars":
            import polars as pl

            wide = pl.from_pandas(wide)
        prepared = dict(wide=wide, long=long, preds=preds)
    if name.startswith("ck_"):
        import sys as _sys
        import types

        for mod in ("nltk", "nltk.translate", "nltk.translate.gleu_score"):
            _sys.modules.setdefault(mod, types.ModuleType(mod))
        import pandas as pd
        from crowdkit.aggregation import DawidSkene

        ck_data = pd.DataFrame({"task": d["item"], "worker": d["who"], "label": d["label"]})
    if name.startswith("cl_"):
        import cleanlab.multiannotator as clm

        repeats = args.cleanlab_repeats
    split = int(args.items * 0.9)

    def once():
        if name == "cf_crowdlab":
            r = ma.crowdlab(ann, d["probs"])
            return r.consensus_label
        if name == "cf_consensus_pandas" or name == "cf_consensus_polars":
            out = cfm.consensus(prepared["wide"], annotators="ann_*", pred_probs="p_*")
            return np.asarray(out["consensus_label"].to_numpy(), dtype=np.int64)
        if name == "cf_annotator_stats_long":
            cfm.annotator_stats(
                prepared["long"],
                item="item_id",
                annotator="worker",
                label="label",
                pred_probs=prepared["preds"],
            )
            return None
        if name == "cl_crowdlab":
            r = clm.get_label_quality_multiannotator(d["wide"], d["probs"], verbose=False)
            return r["label_quality"]["consensus_label"].to_numpy()
        if name == "cf_majority_vote":
            return ma.majority_vote(ann, d["probs"])[0]
        if name == "cl_majority_vote":
            return clm.get_majority_vote_label(d["wide"], d["probs"], verbose=False)
        if name == "cf_activelab":
            sub = ma.Annotations.from_coo(
                *(x[d["item"] < split] for x in (d["item"], d["who"], d["label"])),
                num_items=split,
                num_annotators=args.annotators,
                num_classes=k,
            )
            ma.active_learning_scores(sub, d["probs"][:split], d["probs"][split:])
            return None
        if name == "cl_activelab":
            clm.get_active_learning_scores(
                d["wide"][:split], d["probs"][:split], d["probs"][split:]
            )
            return None
        if name == "cf_dawid_skene":
            return ma.dawid_skene(ann).posterior.argmax(axis=1)
        if name == "cf_dawid_skene_long":
            out = cfm.consensus(prepared["long"], item="item_id", annotator="worker", label="label")
            return out["consensus_label"].to_numpy()  # items 0..N-1 appear in order
        if name == "ck_dawid_skene":
            return DawidSkene(n_iter=100).fit_predict(ck_data).sort_index().to_numpy()
        raise KeyError(name)

    base = rss_mb()
    times = []
    labels = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        labels = once()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"case": name, "seconds": min(times), "peak_rss_mb": peak, "base_rss_mb": base}
    if labels is not None:
        out["accuracy"] = float(np.mean(np.asarray(labels) == truth))
    if name == "cf_majority_vote":
        out["accuracy"] = float(np.mean(labels == truth))
    return out


def machine():
    def sh(cmd):
        try:
            return subprocess.run(
                cmd, shell=True, capture_output=True, text=True, check=False
            ).stdout.strip()
        except Exception:  # pragma: no cover
            return "?"

    return {
        "nproc": sh("nproc"),
        "cpu": sh("lscpu | grep 'Model name'").split(":", 1)[-1].strip(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--annotators", type=int, default=50)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cleanlab-repeats", type=int, default=1)
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--case", help=argparse.SUPPRESS)  # child mode
    ap.add_argument("--aggregators", action="store_true", help="crowd-kit's aggregators")
    ap.add_argument("--methods", nargs="*", default=list(AGGREGATOR_CASES))
    ap.add_argument("--crowdkit-repeats", type=int, default=1)
    ap.add_argument("--glad-iter", type=int, default=5)
    ap.add_argument("--aggregator-case", help=argparse.SUPPRESS)  # child mode
    ap.add_argument("--save-json", help="aggregators: also save the measured rows here")
    ap.add_argument(
        "--from-json", nargs="*", help="aggregators: render (and write) rows saved by --save-json"
    )
    ap.add_argument(
        "--no-write", action="store_true", help="do not write RESULTS_multiannotator.md"
    )
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args)))
        return
    if args.aggregator_case:
        lib, method = args.aggregator_case.split(":")
        print(json.dumps(run_aggregator(lib, method, args)))
        return
    if args.aggregators:
        aggregators_main(args)
        return

    results = {}
    for name in args.cases:
        cmd = [
            sys.executable,
            __file__,
            "--case",
            name,
            "--items",
            str(args.items),
            "--annotators",
            str(args.annotators),
            "--classes",
            str(args.classes),
            "--repeats",
            str(args.repeats),
            "--cleanlab-repeats",
            str(args.cleanlab_repeats),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{name}: FAILED\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[name]
        print(
            f"{name:26s} {r['seconds']:8.3f} s  peak RSS {r['peak_rss_mb']:7.0f} MB "
            f"(+{r['peak_rss_mb'] - r['base_rss_mb']:.0f})  "
            f"acc {r.get('accuracy', float('nan')):.4f}",
            flush=True,
        )

    d = make_data(args.items, args.annotators, args.classes)
    from cleanframe.scoring.multiannotator import crowdlab as ma

    ann = annotations(d, args)
    mv_plain = ma.majority_vote(ann)[0]
    model_only = d["probs"].argmax(axis=1)
    extra = {
        "majority vote without pred_probs": float(np.mean(mv_plain == d["truth"])),
        "model argmax alone": float(np.mean(model_only == d["truth"])),
        "annotations": int(len(d["item"])),
    }
    report = render(args, results, extra)
    print(report)
    if not args.no_write:
        (HERE / "RESULTS_multiannotator.md").write_text(report)


NOTES = """Notes:

- Parity (tests/test_multiannotator_kernels.py, tests/test_multiannotator.py): consensus labels
  equal to cleanlab's on every row except majority-vote ties that survive every rung (cleanlab draws
  at random, cleanframe takes the lowest class); consensus quality, annotator agreement,
  per-annotation quality, annotator quality / agreement / worst class, model and annotator weights
  and ActiveLab scores equal to atol 1e-9 (in practice 0 or 1 ulp).
- cleanlab 2.9 bug: `cleanlab.internal.util.value_counts` places the counts of float labels (the
  multi-annotator matrix is float because of NaN) by rank instead of by class code when some class
  is missing from a row. That shuffles the empirical vote distribution used by `calibrate_probs`,
  ActiveLab's temperature search and `quality_method="agreement"`. cleanframe counts by class code;
  the parity tests patch cleanlab's function to compare like with like (a test pins the bug).
- The frame-level rows include column-spec resolution, validation and attaching results; the
  Dawid-Skene rows use no pred_probs, so their accuracy is compared with majority vote's.
"""


def ratio(results, slow, fast):
    if slow in results and fast in results:
        return f"{results[slow]['seconds'] / results[fast]['seconds']:.1f}×"
    return "n/a"


def render(args, results, extra):
    m = machine()
    cmd = "python benchmarks/bench_multiannotator.py " + " ".join(a for a in sys.argv[1:])
    lines = [
        "## Multi-annotator: CROWDLAB, majority vote, ActiveLab, Dawid-Skene",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {m['nproc']} cores, {m['cpu']}; Python {m['python']}, numpy {m['numpy']} "
        "(shared with other jobs: timings are noisy, compare the ratios from the same run)",
        f"- Command: `{cmd.strip()}`",
        f"- Data: {args.items:,} items, {args.annotators} annotators (accuracy 0.3–0.95), 1–5 "
        f"labels per item ({extra['annotations']:,} annotations), K={args.classes}; model argmax "
        f"accuracy {extra['model argmax alone']:.4f}. Each case in a fresh process; time = best of "
        f"{args.repeats} (cleanlab: {args.cleanlab_repeats}); peak RSS = `ru_maxrss` of that "
        "process (+ = above the RSS after generating the data).",
        "",
        "| case | library | what | time (s) | peak RSS (MB) | consensus accuracy |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name, r in results.items():
        lib, what = CASES[name]
        acc = f"{r['accuracy']:.4f}" if "accuracy" in r else ""
        lines.append(
            f"| {name} | {lib} | {what} | {r['seconds']:.3f} | {r['peak_rss_mb']:.0f} "
            f"(+{r['peak_rss_mb'] - r['base_rss_mb']:.0f}) | {acc} |"
        )
    lines += [
        "",
        "Majority vote without pred_probs: accuracy "
        f"{extra['majority vote without pred_probs']:.4f}.",
        "",
        "Speed-ups (cleanlab time / cleanframe time, same run):",
        "",
        "- CROWDLAB consensus + quality (kernel): "
        f"**{ratio(results, 'cl_crowdlab', 'cf_crowdlab')}**; "
        f"through `consensus()` on pandas: {ratio(results, 'cl_crowdlab', 'cf_consensus_pandas')}, "
        f"polars: {ratio(results, 'cl_crowdlab', 'cf_consensus_polars')}",
        f"- majority vote: {ratio(results, 'cl_majority_vote', 'cf_majority_vote')}",
        f"- ActiveLab: {ratio(results, 'cl_activelab', 'cf_activelab')} (cleanlab's temperature "
        "search uses its float-label `value_counts` bug, so its scores differ; the work done is "
        "the same)",
        f"- Dawid-Skene vs crowd-kit: {ratio(results, 'ck_dawid_skene', 'cf_dawid_skene')}",
        "",
        NOTES,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
