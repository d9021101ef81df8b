"""Same-run before/after benchmark of two cleanframe source trees (issue 9, item 9).

Times the calls of the label-issue, multi-annotator and neighbour benchmarks on two source trees
of cleanframe, alternately, in one run, and checks that both trees give the same results.

The "before" tree is a git worktree of the commit before the redesign (not committed, made once)::

    git worktree add /tmp/cleanframe-before 2320f7c

Usage (by hand, from the repository root; the tables go to the RESULTS files)::

    .venv/bin/python benchmarks/bench_redesign.py --before /tmp/cleanframe-before --after .
    .venv/bin/python benchmarks/bench_redesign.py --rounds 2 --n 20000 --items 20000 \\
        --n-outliers 25000 --n-exact 10000                                   # quick check

Method:

- Every measurement runs in a fresh process that puts its tree first on ``sys.path`` and checks
  (and reports) ``cleanframe.__file__``. Inputs are built before the timed region; a warm-up call
  gives the extra peak memory (``_harness.PeakRSS``: peak RSS during the call above the level
  before it) and is not timed; then ``--repeat`` timed calls, of which the fastest counts.
- Rounds: in each round every case runs once on each tree, back to back, the order alternating
  from round to round (before, after | after, before | ...) so that a drift of the machine's load
  does not favour one tree. The ratio after/before is the median over rounds of the ratios of the
  two measurements of the same round.
- cleanlab 2.9's ``find_label_issues`` runs once per round on the label-issue data (numpy int
  labels and a ready float32 array; the faster of ``n_jobs=1`` and its default), so the same run
  gives the ratio to cleanlab for both trees.
- Results: each run writes the columns the call adds; per case the parent compares before with
  after (same columns and dtypes, equal hashes of the non-float columns, max |Δ| of the float
  columns) in every round.

Cases (data from the other benchmark scripts' generators, same seeds):

- ``label_issues_pandas`` / ``label_issues_polars``: ``df.cl.find_label_issues(label="label",
  pred_probs="p_*")``, N × K float32 pred_probs columns and string labels (bench_label_issues).
- ``consensus``: ``multiannotator.consensus(wide, annotators="ann_*", pred_probs="p_*")``
  (CROWDLAB) on a pandas wide frame, Int64 annotator columns (bench_multiannotator).
- ``outliers``: ``neighbors.find_outliers(df, features="embedding")`` on a polars Array column,
  default path (approximate index above 20,000 rows) (bench_neighbors).
- ``outliers_exact``: the same with ``approximate=False``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _harness import machine, measure, run_child  # noqa: E402

SCRATCH = os.path.join(os.environ.get("TMPDIR", "/tmp"), "cleanframe-bench", "redesign")
MB = 2**20

CASES = {
    "label_issues_pandas": "find_label_issues, pandas, string labels",
    "label_issues_polars": "find_label_issues, polars, string labels",
    "consensus": "consensus() CROWDLAB, pandas wide + pred_probs",
    "outliers": "find_outliers, polars Array column, default (approximate)",
    "outliers_exact": "find_outliers, approximate=False",
}
LABEL_CASES = ("label_issues_pandas", "label_issues_polars")


# ------------------------------------------------------------------------------------------
# child: one measurement in a fresh process
# ------------------------------------------------------------------------------------------
def _size(case: str, a: dict) -> str:
    if case in LABEL_CASES or case == "cleanlab":
        return f"{a['n']:,} × {a['k']}"
    if case == "consensus":
        return f"{a['items']:,} items × {a['annotators']} annotators, K={a['classes']}"
    if case == "outliers":
        return f"{a['n_outliers']:,} × 128"
    return f"{a['n_exact']:,} × 128"


def _build(case: str, a: dict):
    """The call to time, and the input frame (its columns are left out of the result)."""
    if case in LABEL_CASES:
        import bench_label_issues as bli

        labels, p = bli.make_data(a["n"], a["k"])
        names = bli.class_names(a["k"])
        columns = {"label": np.array(names, dtype=object)[labels]}
        columns.update({f"p_{c}": p[:, i] for i, c in enumerate(names)})
        if case == "label_issues_pandas":
            import pandas as pd

            df = pd.DataFrame(columns)
        else:
            import polars as pl

            df = pl.DataFrame(columns)
        del columns
        return (lambda: df.cl.find_label_issues(label="label", pred_probs="p_*")), df
    if case == "consensus":
        import bench_multiannotator as bma
        import pandas as pd

        import cleanframe.multiannotator as cfm

        d = bma.make_data(a["items"], a["annotators"], a["classes"])
        w = d["wide"]
        df = pd.DataFrame(
            {
                f"ann_{j}": pd.array(np.where(np.isnan(w[:, j]), None, w[:, j]), dtype="Int64")
                for j in range(a["annotators"])
            }
        )
        for c in range(a["classes"]):
            df[f"p_{c}"] = d["probs"][:, c]
        return (lambda: cfm.consensus(df, annotators="ann_*", pred_probs="p_*")), df
    if case in ("outliers", "outliers_exact"):
        import bench_neighbors as bn
        import polars as pl

        from cleanframe.neighbors import find_outliers

        n = a["n_outliers"] if case == "outliers" else a["n_exact"]
        X, _, _ = bn.make_data(n, seed=0, kind="easy")
        emb = pl.Series("embedding", X, dtype=pl.Array(pl.Float32, X.shape[1]))
        df = pl.DataFrame({"embedding": emb})
        del X, emb
        kw = {} if case == "outliers" else {"approximate": False}
        return (lambda: find_outliers(df, features="embedding", progress=False, **kw)), df
    raise KeyError(case)


def _digest(values: np.ndarray) -> str:
    h = hashlib.sha256()
    if values.dtype.kind in "biufcMm":
        h.update(values.dtype.str.encode())
        h.update(np.ascontiguousarray(values).tobytes())
    else:
        h.update("\x1f".join(map(repr, values.tolist())).encode())
    return h.hexdigest()[:16]


def _columns(out, df, path: str) -> dict:
    """Hash and dtype of every column the call added; the float ones saved for the parent."""
    old = set(df.columns)
    info, floats = {}, {}
    for name in out.columns:
        if name in old:
            continue
        values = np.asarray(out[name].to_numpy())
        info[name] = {"dtype": str(out[name].dtype), "hash": _digest(values)}
        if values.dtype == bool:
            info[name]["true"] = int(values.sum())
        if values.dtype.kind == "f":
            floats[name] = values
    np.savez(path, **floats)
    return info


def child(a: dict) -> dict:
    warnings.simplefilter("ignore")
    case = a["case"]
    res: dict = {}
    if case == "cleanlab":
        import bench_label_issues as bli
        from cleanlab.filter import find_label_issues

        labels, p = bli.make_data(a["n"], a["k"])
        runs = {}
        for n_jobs, name in ((1, "n_jobs=1"), (None, "default")):
            r = measure(
                lambda n_jobs=n_jobs: find_label_issues(labels, p, n_jobs=n_jobs),
                a["cleanlab_repeat"],
            )
            runs[name] = r
        best = min(runs, key=lambda k: min(runs[k]["seconds"]))
        r = runs[best]
        res.update(
            config=best,
            flagged=int(np.sum(r["result"])),
            all={k: min(v["seconds"]) for k, v in runs.items()},
        )
    else:
        tree = os.path.realpath(a["tree"])
        sys.path.insert(0, tree)
        import cleanframe

        where = os.path.realpath(cleanframe.__file__)
        if not where.startswith(tree + os.sep):
            raise RuntimeError(f"cleanframe imported from {where}, not from the tree {tree}")
        res["cleanframe_file"] = where
        fn, df = _build(case, a)
        r = measure(fn, a["repeat"])
        res["columns"] = _columns(r["result"], df, a["out"])
    i = int(np.argmin(r["seconds"]))
    res.update(
        seconds=r["seconds"][i], cpu=r["cpu"][i], all_seconds=r["seconds"], extra_mb=r["extra"] / MB
    )
    return res


# ------------------------------------------------------------------------------------------
# parent
# ------------------------------------------------------------------------------------------
def _git(tree: str) -> str:
    def run(*cmd):
        out = subprocess.run(["git", "-C", tree, *cmd], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    head = run("rev-parse", "--short", "HEAD")
    if not head:
        return "not a git tree"
    dirty = [ln for ln in run("status", "--porcelain", "--", "cleanframe").splitlines() if ln]
    return f"{head}" + (f" + {len(dirty)} uncommitted file(s) under cleanframe/" if dirty else "")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _compare(pairs: list[tuple[dict, str, dict, str]]) -> str:
    """Before vs after, every round: columns, dtypes, hashes of non-float columns, max |Δ| of
    float columns (NaN equal to NaN)."""
    problems: list[str] = []
    max_diff: dict[str, float] = {}
    for before, b_path, after, a_path in pairs:
        cb, ca = before["columns"], after["columns"]
        if list(cb) != list(ca):
            problems.append(f"columns differ: {list(cb)} vs {list(ca)}")
            continue
        with np.load(b_path) as fb, np.load(a_path) as fa:
            for name in cb:
                if cb[name]["dtype"] != ca[name]["dtype"]:
                    problems.append(f"{name} dtype {cb[name]['dtype']} vs {ca[name]['dtype']}")
                if cb[name]["hash"] == ca[name]["hash"]:
                    continue
                if name in fb.files and name in fa.files:
                    x, y = fb[name].astype(np.float64), fa[name].astype(np.float64)
                    if x.shape != y.shape or not np.array_equal(np.isnan(x), np.isnan(y)):
                        problems.append(f"{name}: shapes or NaN positions differ")
                        continue
                    ok = ~np.isnan(x)
                    d = float(np.max(np.abs(x[ok] - y[ok]), initial=0.0))
                    max_diff[name] = max(max_diff.get(name, 0.0), d)
                else:
                    problems.append(
                        f"{name} differs (hash {cb[name]['hash']} vs {ca[name]['hash']})"
                    )
    if problems:
        return "**DIFFERENT**: " + "; ".join(sorted(set(problems)))
    exact = [n for n in pairs[0][0]["columns"] if n not in max_diff]
    parts = []
    if exact:
        parts.append("identical " + ", ".join(f"`{n}`" for n in exact))
    parts += [f"`{n}` max abs diff {d:.1e}" for n, d in max_diff.items()]
    return "; ".join(parts) + f" ({len(pairs)} of {len(pairs)} rounds checked)"


def _fmt_range(xs: list[float], digits: int = 3) -> str:
    return f"{np.median(xs):.{digits}f} ({min(xs):.{digits}f}–{max(xs):.{digits}f})"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--before", default="/tmp/cleanframe-before", help="source tree before")
    ap.add_argument("--after", default=ROOT, help="source tree after (default: this checkout)")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--repeat", type=int, default=3, help="timed calls per process (fastest counts)"
    )
    ap.add_argument(
        "--cleanlab-repeat",
        type=int,
        default=1,
        help="timed cleanlab calls per configuration and round",
    )
    ap.add_argument("--no-cleanlab", action="store_true")
    ap.add_argument("--n", type=int, default=1_000_000, help="label-issue rows")
    ap.add_argument("--k", type=int, default=100, help="label-issue classes")
    ap.add_argument("--items", type=int, default=100_000, help="multi-annotator items")
    ap.add_argument("--annotators", type=int, default=50)
    ap.add_argument("--classes", type=int, default=10, help="multi-annotator classes")
    ap.add_argument("--n-outliers", type=int, default=100_000, help="rows, outliers case")
    ap.add_argument("--n-exact", type=int, default=20_000, help="rows, outliers_exact case")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per process")
    ap.add_argument("--json", help="also write every measurement (raw, per round) to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ns = ap.parse_args()
    if ns.child:
        print(json.dumps(child(json.loads(ns.child))))
        return

    trees = {"before": os.path.realpath(ns.before), "after": os.path.realpath(ns.after)}
    for label, tree in trees.items():
        if not os.path.isfile(os.path.join(tree, "cleanframe", "__init__.py")):
            sys.exit(
                f"--{label} {tree}: no cleanframe/ package there "
                "(before: git worktree add /tmp/cleanframe-before 2320f7c)"
            )
    if trees["before"] == trees["after"]:
        sys.exit("--before and --after are the same tree")
    os.makedirs(SCRATCH, exist_ok=True)
    sizes = {
        k: getattr(ns, k)
        for k in ("n", "k", "items", "annotators", "classes", "n_outliers", "n_exact")
    }
    with_cleanlab = not ns.no_cleanlab and any(c in LABEL_CASES for c in ns.cases)
    command = " ".join(
        shlex.quote(x) for x in [os.path.relpath(sys.executable, os.getcwd()), *sys.argv]
    )
    load_start, t_start = _load(), time.perf_counter()
    started = datetime.now(timezone.utc)

    def log(msg: str) -> None:
        print(
            f"[{time.perf_counter() - t_start:7.1f} s, load {_load()}] {msg}",
            file=sys.stderr,
            flush=True,
        )

    runs: dict[str, dict[str, list]] = {c: {"before": [], "after": []} for c in ns.cases}
    cleanlab: list[dict] = []
    files: dict[str, str] = {}
    failures: list[str] = []
    for rnd in range(ns.rounds):
        order = ("before", "after") if rnd % 2 == 0 else ("after", "before")
        for case in ns.cases:
            for label in order:
                out = os.path.join(SCRATCH, f"{case}_{label}_{rnd}.npz")
                args = {
                    **sizes,
                    "case": case,
                    "tree": trees[label],
                    "repeat": ns.repeat,
                    "out": out,
                }
                t0 = time.perf_counter()
                try:
                    r = run_child(__file__, args, timeout=ns.timeout)
                except Exception as exc:  # noqa: BLE001 - reported in the table
                    failures.append(f"round {rnd + 1} {case} {label}: {str(exc).strip()[-800:]}")
                    log(f"round {rnd + 1} {case} {label}: FAILED")
                    runs[case][label].append(None)
                    continue
                r["out"] = out
                runs[case][label].append(r)
                prev = files.setdefault(label, r["cleanframe_file"])
                if prev != r["cleanframe_file"]:
                    sys.exit(f"{label}: cleanframe came from {prev} and {r['cleanframe_file']}")
                log(
                    f"round {rnd + 1} {case:20s} {label:6s} {r['seconds']:8.3f} s "
                    f"(process {time.perf_counter() - t0:.1f} s)"
                )
        if with_cleanlab:
            t0 = time.perf_counter()
            r = run_child(
                __file__,
                {**sizes, "case": "cleanlab", "cleanlab_repeat": ns.cleanlab_repeat},
                timeout=ns.timeout,
            )
            cleanlab.append(r)
            log(
                f"round {rnd + 1} cleanlab {r['config']:9s} {r['seconds']:8.3f} s "
                f"(process {time.perf_counter() - t0:.1f} s)"
            )
    load_end = _load()
    elapsed = time.perf_counter() - t_start

    lines = [
        f"## cleanframe before/after the redesign ({started:%Y-%m-%d %H:%M} UTC)",
        "",
        f"- Machine: {machine()}; load average (1/5/15 min) {load_start} at the start, "
        f"{load_end} at the end; {elapsed / 60:.1f} min in all.",
        f"- Command: `{command}`",
        f"- before: `{trees['before']}` ({_git(trees['before'])}), cleanframe from "
        f"`{files.get('before', '?')}`",
        f"- after: `{trees['after']}` ({_git(trees['after'])}), cleanframe from "
        f"`{files.get('after', '?')}`",
        f"- {ns.rounds} rounds, trees alternating (before, after | after, before | ...); each "
        f"measurement in a fresh process, inputs built outside the timed region, a warm-up call "
        f"(its extra peak RSS is the memory column), then the fastest of {ns.repeat} timed "
        "calls. Times: median over rounds (min–max); ratio: median over rounds of after/before "
        "from the same round (min–max).",
        "",
        "| case | size | before s | after s | after/before | CPU s before / after "
        "| extra peak MB before / after | results before vs after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in ns.cases:
        rb, ra = runs[case]["before"], runs[case]["after"]
        both = [(b, a) for b, a in zip(rb, ra) if b is not None and a is not None]
        if not both:
            lines.append(f"| {case} | {_size(case, sizes)} | failed | | | | | |")
            continue
        tb = [b["seconds"] for b, _ in both]
        ta = [a["seconds"] for _, a in both]
        ratios = [a / b for b, a in zip(tb, ta)]
        cpu = (
            f"{np.median([b['cpu'] for b, _ in both]):.2f} / "
            f"{np.median([a['cpu'] for _, a in both]):.2f}"
        )
        mem = (
            f"{np.median([b['extra_mb'] for b, _ in both]):.0f} / "
            f"{np.median([a['extra_mb'] for _, a in both]):.0f}"
        )
        agree = _compare([(b, b["out"], a, a["out"]) for b, a in both])
        lines.append(
            f"| {case} | {_size(case, sizes)} | {_fmt_range(tb)} | {_fmt_range(ta)} | "
            f"**{np.median(ratios):.3f}** ({min(ratios):.3f}–{max(ratios):.3f}) | {cpu} | {mem} "
            f"| {agree} |"
        )
    if cleanlab:
        tc = [r["seconds"] for r in cleanlab]
        configs = sorted({r["config"] for r in cleanlab})
        lines += [
            "",
            f"cleanlab 2.9 `find_label_issues` ({_size('cleanlab', sizes)}, numpy int labels, "
            f"ready float32 array; per round the faster of n_jobs=1 and default — chosen: "
            f"{', '.join(configs)}): {_fmt_range(tc)} s, extra peak "
            f"{np.median([r['extra_mb'] for r in cleanlab]):.0f} MB, "
            f"{cleanlab[0]['flagged']:,} flagged. Speed-up cleanlab / cleanframe, median over "
            "rounds of the same round's ratio:",
            "",
            "| case | cleanlab / before | cleanlab / after | flagged (before / after) |",
            "|---|---|---|---|",
        ]
        for case in ns.cases:
            if case not in LABEL_CASES:
                continue
            cells = []
            for label in ("before", "after"):
                rr = [
                    c["seconds"] / r["seconds"]
                    for c, r in zip(cleanlab, runs[case][label])
                    if r is not None
                ]
                cells.append(f"{np.median(rr):.2f}× ({min(rr):.2f}–{max(rr):.2f})" if rr else "—")
            flagged = []
            for label in ("before", "after"):
                r = next((r for r in runs[case][label] if r is not None), None)
                flagged.append("?" if r is None else _flagged(r))
            lines.append(f"| {case} | {cells[0]} | {cells[1]} | {' / '.join(flagged)} |")
    if failures:
        lines += ["", "Failures:", ""] + [f"- {f}" for f in failures]
    print("\n".join(lines))
    if ns.json:
        raw = {
            "command": command,
            "trees": trees,
            "sizes": sizes,
            "runs": runs,
            "cleanlab": cleanlab,
            "load": [load_start, load_end],
            "failures": failures,
        }
        with open(ns.json, "w") as fh:
            json.dump(raw, fh, indent=1)


def _flagged(r: dict) -> str:
    counts = [f"{c['true']:,}" for c in r["columns"].values() if "true" in c]
    return ", ".join(counts) or "—"


if __name__ == "__main__":
    main()
