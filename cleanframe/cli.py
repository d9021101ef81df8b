"""Command line: ``cleanframe find-label-issues FILE --label y --pred-probs 'p_*'`` and
``cleanframe demo``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ._engines import read_file
from .datasets import human_verdicts, load_label_errors
from .errors import ValidationError
from .label_issues import find_label_issues
from .scoring.classification.filter import FILTER_BY

__all__ = ["main"]

SUFFIXES = (".csv", ".parquet", ".pq")


class _BadFile(Exception):
    """A file the command cannot read or write: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (exit code 2), pointing to --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _message(exc: ValidationError) -> str:
    """The input layer's message, in the command line's words: a result-column clash is undone
    with the ``--overwrite`` flag (the library's message names the ``overwrite=True`` argument)."""
    if exc.rule == "no_overwrite":
        return (
            f"column {exc.column!r}: this result column already exists in the input; rename it "
            f"or pass --overwrite to replace it [rule: {exc.rule}]"
        )
    return str(exc)


def _check_suffix(path: Path, what: str) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise _BadFile(f"{path}: {what} must be a .csv or .parquet file")


def _read(path: Path):
    _check_suffix(path, "the input")
    if not path.exists():
        raise _BadFile(f"{path}: no such file")
    try:
        return read_file(path, engine="pandas")
    except (OSError, ValueError) as exc:  # parser errors, ArrowInvalid, bad encodings
        raise _BadFile(f"{path}: cannot read it: {exc}") from None


def _write(df, path: Path) -> None:
    _check_suffix(path, "the output")
    if path.suffix.lower() == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)


def _report(out, label: str, *, top: int, title: str, seconds: float, extra_columns=()) -> str:
    flagged = out[out["is_issue"]].sort_values("label_score", kind="stable")
    lines = [
        title,
        f"{len(out):,} rows, {len(flagged):,} flagged as likely label issues "
        f"({100 * len(flagged) / max(len(out), 1):.2f}%) in {seconds:.2f} s.",
        "",
        "Flagged rows per given label:",
    ]
    counts = flagged[label].astype(str).value_counts().rename("flagged")
    totals = out[label].astype(str).value_counts().rename("rows")
    table = totals.to_frame().join(counts).fillna(0).astype(int)
    table["rate"] = (table["flagged"] / table["rows"]).map("{:.1%}".format)
    lines.append(table.sort_values("flagged", ascending=False, kind="stable").to_string())
    lines += ["", f"The {min(top, len(flagged))} most likely label issues (lowest label_score):"]
    cols = [label, "predicted_label", "label_score", *extra_columns]
    lines.append(flagged[cols].head(top).to_string(max_cols=10, line_width=120))
    return "\n".join(lines)


def _find(df, args, title):
    start = time.perf_counter()
    out = find_label_issues(
        df,
        label=args.label,
        pred_probs=args.pred_probs,
        filter_by=args.filter_by,
        overwrite=args.overwrite,
    )
    seconds = time.perf_counter() - start
    return out, seconds


class _Progress:
    """Rows done and rows/s of each pass over the input, on one self-rewriting stderr line."""

    def __init__(self, total: int, *, show: bool):
        self.total, self.show = total, show
        self.passes, self.last, self.shown = 0, -1, 0.0
        self.start = self.previous = time.perf_counter()

    def __call__(self, rows: int) -> None:
        now = time.perf_counter()
        if rows <= self.last or self.passes == 0:  # a new pass began when the last one ended
            self.passes += 1
            self.start = self.previous
        self.last, self.previous = rows, now
        if self.show and (now - self.shown > 0.2 or rows >= self.total):
            self.shown = now
            rate = rows / max(now - self.start, 1e-9)
            sys.stderr.write(
                f"\r  pass {self.passes}: {rows:,} of {self.total:,} rows ({rate:,.0f} rows/s)   "
            )
            sys.stderr.flush()

    def done(self) -> None:
        if self.show and self.passes:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _stream_report(table, worst, label: str, *, n: int, top: int, title: str, seconds: float):
    """The text of :func:`_report`, from the per-label counts and the worst flagged rows."""
    flagged = int(table["flagged"].sum())
    lines = [
        title,
        f"{n:,} rows, {flagged:,} flagged as likely label issues "
        f"({100 * flagged / max(n, 1):.2f}%) in {seconds:.2f} s "
        f"({n / max(seconds, 1e-9):,.0f} rows/s, streamed).",
        "",
        "Flagged rows per given label:",
    ]
    table = table[["rows", "flagged"]].astype(int)
    table["rate"] = (table["flagged"] / table["rows"]).map("{:.1%}".format)
    table = table.sort_index().sort_values("rows", ascending=False, kind="stable")
    lines.append(table.sort_values("flagged", ascending=False, kind="stable").to_string())
    lines += ["", f"The {min(top, flagged)} most likely label issues (lowest label_score):"]
    lines.append(worst.to_string(max_cols=10, line_width=120))
    return "\n".join(lines)


def _scan(path: Path):
    from ._engines import polars_stream

    if not path.is_dir():
        _check_suffix(path, "the input")
    if not path.exists():
        raise _BadFile(f"{path}: no such file")
    try:
        return polars_stream.scan(path)
    except (OSError, ValueError) as exc:
        raise _BadFile(f"{path}: cannot read it: {exc}") from None


def cmd_find(args) -> int:
    """Stream a file or a directory: statistics passes, then the result written while the
    input is read once more (polars' streaming engine; the probabilities are never held whole)."""
    from . import _batched
    from ._engines import adapt, polars_stream

    path = Path(args.file)
    if args.output:
        _check_suffix(Path(args.output), "the output")  # before the work, not after
    lf = _scan(path)
    total = polars_stream.height(lf)
    progress = _Progress(total, show=args.progress)
    start = time.perf_counter()
    try:
        out = _batched.find_label_issues(
            adapt(lf),
            label=args.label,
            pred_probs=args.pred_probs,
            filter_by=args.filter_by,
            overwrite=args.overwrite,
            progress=progress,
        )
        if args.output:
            polars_stream.sink(out, Path(args.output))
            out = _scan(Path(args.output))  # the report reads the written result
        table, worst = polars_stream.issue_summary(out, args.label, args.top)
    except ValidationError as exc:
        progress.done()
        print(f"cleanframe: {_message(exc)}", file=sys.stderr)
        return 2
    progress.done()
    seconds = time.perf_counter() - start
    title = f"Label issues in {path}"
    print(
        _stream_report(
            table, worst, args.label, n=total, top=args.top, title=title, seconds=seconds
        )
    )
    if args.output:
        print(f"\nWrote {total:,} annotated rows to {args.output}")
    return 0


def cmd_demo(args) -> int:
    if args.output:
        _check_suffix(Path(args.output), "the output")
    df = load_label_errors("cifar10")
    args.label, args.pred_probs, args.overwrite = "label", "p_*", False
    out, seconds = _find(df, args, "demo")
    verdicts = human_verdicts("cifar10")
    reviewed = out.iloc[verdicts["rows"]]
    confirmed = set(verdicts["rows"][verdicts["confirmed_error"]])
    out["human_verdict"] = ""
    out.iloc[verdicts["rows"], out.columns.get_loc("human_verdict")] = [
        "label wrong" if r in confirmed else "label ok" for r in verdicts["rows"]
    ]
    print(
        _report(
            out,
            "label",
            top=args.top,
            title="cleanframe demo: label errors in the CIFAR-10 test set "
            "(real out-of-sample predicted probabilities of a trained network)",
            seconds=seconds,
            extra_columns=("human_verdict",),
        )
    )
    hits = int(out["is_issue"].iloc[sorted(confirmed)].sum())
    flagged_reviewed = int(reviewed["is_issue"].sum())
    print(
        f"\nHuman check (Mechanical Turk, 'Pervasive Label Errors in Test Sets'): {len(confirmed)} "
        f"of the {len(reviewed)} reviewed rows were judged mislabeled; cleanframe flags "
        f"{hits} of those {len(confirmed)}, and {flagged_reviewed} reviewed rows in all."
    )
    summary = df.cl.health_summary(label="label", pred_probs="p_*")
    flagged = int(out["is_issue"].sum())
    print(
        f"\nOverall label health score: {summary.overall_label_health_score:.4f} "
        f"= 1 - {summary.num_label_issues:,}/{summary.num_examples:,}, where "
        f"{summary.num_label_issues:,} = num_label_issues(estimation_method='off_diagonal') is "
        f"cleanlab's estimate of how many labels are wrong.\nThe {flagged:,} flagged rows above "
        f"come from find_label_issues(filter_by={args.filter_by!r}), a different rule, so the "
        f"two counts need not agree."
    )
    if args.output:
        _write(out, Path(args.output))
        print(f"Wrote {len(out):,} annotated rows to {args.output}")
    return 0


def _step(message: str) -> None:
    """One line of progress on stderr (stdout keeps the report)."""
    print(f"[cleanframe audit] {message}", file=sys.stderr, flush=True)


def cmd_audit(args) -> int:
    from .checks import audit

    path = Path(args.file)
    if args.output:
        _check_suffix(Path(args.output), "the output")  # before the work, not after
    if args.html and Path(args.html).suffix.lower() not in (".html", ".htm"):
        raise _BadFile(f"{args.html}: the report must be an .html file")
    start = time.perf_counter()
    _step(f"reading {path}")
    df = _read(path)
    _step(f"{len(df):,} rows x {len(df.columns):,} columns read; running the checks")
    checks = None if args.checks is None else [c.strip() for c in args.checks.split(",") if c]
    try:
        report = audit(
            df,
            label=args.label,
            pred_probs=args.pred_probs,
            features=args.features,
            predictions=args.predictions,
            group=args.group,
            checks=checks,
            k=args.k,
            standardize=args.standardize,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except ValidationError as exc:
        print(f"cleanframe: {_message(exc)}", file=sys.stderr)
        return 2
    _step(f"checks done in {time.perf_counter() - start:.1f} s: {', '.join(report.checks)}")
    if args.output:  # the files first: a reader of stdout that leaves early (| head) stops us
        _write(report.issues, Path(args.output))
        _step(f"wrote {len(report.issues):,} annotated rows to {args.output}")
    if args.html:
        _step("drawing the plots")
        report.to_html(args.html)
        _step(f"wrote the report to {args.html}")
    print(repr(report))
    return 0


def _filter_by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--filter-by",
        default="prune_by_noise_rate",
        choices=FILTER_BY,
        metavar="RULE",
        help=f"confident-learning rule, one of: {', '.join(FILTER_BY)} (default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cleanframe",
        description="Find label issues in a table of labels and predicted probabilities.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    find = sub.add_parser(
        "find-label-issues", help="flag likely label errors in a CSV/Parquet file"
    )
    find.add_argument(
        "file", help="a .csv or .parquet file, or a directory of them (streamed, not loaded)"
    )
    find.add_argument("--label", required=True, help="the label column")
    find.add_argument(
        "--pred-probs", required=True, help="pred_probs columns: a glob such as 'p_*'"
    )
    find.add_argument("-o", "--output", help="write the annotated table here (.csv or .parquet)")
    _filter_by(find)
    find.add_argument("--top", type=int, default=15, help="how many flagged rows to print")
    find.add_argument("--overwrite", action="store_true", help="replace existing result columns")
    find.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=sys.stderr.isatty(),
        help="show rows done and rows/s of each pass on stderr (default: on a terminal)",
    )
    find.set_defaults(func=cmd_find)
    demo = sub.add_parser("demo", help="run on the bundled CIFAR-10 test set")
    demo.add_argument("-o", "--output", help="write the annotated table here (.csv or .parquet)")
    _filter_by(demo)
    demo.add_argument("--top", type=int, default=15, help="how many flagged rows to print")
    demo.set_defaults(func=cmd_demo)
    audit = sub.add_parser(
        "audit",
        help="run every check the columns allow (label, outlier, near-duplicate, ...) on a "
        "CSV/Parquet file",
    )
    audit.add_argument("file", help="a .csv or .parquet file")
    audit.add_argument("--label", help="the label column")
    audit.add_argument("--pred-probs", help="pred_probs columns: a glob such as 'p_*'")
    audit.add_argument("--features", help="feature columns: a glob such as 'emb_*'")
    audit.add_argument(
        "--predictions", help="a numeric label's out-of-sample predictions (regression)"
    )
    audit.add_argument("--group", help="group ids for the underperforming_group check")
    audit.add_argument(
        "--checks",
        help="comma-separated checks to run (default: every default check the columns allow), "
        "e.g. 'label,outlier,underperforming_group,data_valuation'",
    )
    audit.add_argument("--k", type=int, help="neighbours for the kNN checks (default 10)")
    audit.add_argument(
        "--standardize", action="store_true", help="z-score the feature columns first"
    )
    audit.add_argument("-o", "--output", help="write the annotated table here (.csv or .parquet)")
    audit.add_argument("--html", help="write the report here (.html, plots embedded)")
    audit.add_argument("--overwrite", action="store_true", help="replace existing result columns")
    audit.add_argument("--quiet", action="store_true", help="no progress bars")
    audit.set_defaults(func=cmd_audit)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except _BadFile as exc:
        print(f"cleanframe: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cleanframe ... | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
