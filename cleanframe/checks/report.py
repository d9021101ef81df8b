"""The result of :func:`cleanframe.audit`: rows, a per-check summary table, a readable report.

The report comes as terminal text (``repr``), notebook HTML (``_repr_html_``) and a standalone
HTML file (:meth:`Audit.to_html`), both HTML forms with embedded PNG plots (matplotlib imported
on first use, drawn once per audit). Each
check that ran is explained in one sentence with what to do about it, followed by its worst rows
with the user's own columns beside the scores and reasons; every count is read from the per-row
columns. :meth:`Audit.save` writes the audit as Parquet + JSON and :meth:`Audit.load` reopens it
without recomputing.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from textwrap import fill
from typing import Any

import numpy as np

from .._engines import adapt, read_file, to_pandas
from ..scoring.neighbors.knn import RECALL_WARNING, KnnGraph

__all__ = ["REASON_SEPARATOR", "Audit"]

#: What joins the reasons of the checks that flagged a row in ``issue_reason``.
REASON_SEPARATOR = " | "

_SCORE_NOTE = "score: lower = more severe; for non_iid it is the p-value"

#: Per check: what a flag means and what to do about it (one sentence each, in the report).
DESCRIPTIONS = {
    "null": (
        "Rows whose feature values are all missing.",
        "Fill or drop them; a model cannot learn from an empty row.",
    ),
    "label": (
        "Rows whose given label the model's out-of-sample probabilities contradict "
        "(confident learning).",
        "Review the worst rows first and relabel or drop them; the suggested class is in the "
        "reason.",
    ),
    "outlier": (
        "Rows far from their nearest neighbours compared with typical rows.",
        "Check them for corrupted features or data from another source; keep the real rare "
        "cases, drop the broken ones.",
    ),
    "near_duplicate": (
        "Rows (almost) identical to another row.",
        "Keep one row of each set, or at least keep the copies out of different train/test splits.",
    ),
    "non_iid": (
        "Whether the row order carries information (neighbours sit near each other in the "
        "order); at most the one most telling row is flagged.",
        "Shuffle before splitting, or split by the variable that drives the order (time, source).",
    ),
    "class_imbalance": (
        "Rows of the rarest class, when it is far rarer than an even share.",
        "Collect more of it, or weight or resample classes when training.",
    ),
    "underperforming_group": (
        "Rows of a cluster (or group) where the model's confidence in the given labels is far "
        "below the rest.",
        "Look at what the group has in common; add data like it or check its labels.",
    ),
    "data_valuation": (
        "Rows whose labels disagree with their neighbours' more than farther rows do "
        "(KNN-Shapley value below 0.5): they likely hurt a model.",
        "Review them like label issues; drop the ones that are wrong.",
    ),
    "identifier_column": (
        "Integer feature columns of consecutive values (row ids).",
        "Drop them from the features.",
    ),
}

#: The worst rows shown per check in the report.
WORST_ROWS = 5
#: The user's columns shown beside the scores (the label first).
SHOWN_COLUMNS = 5


@dataclass
class Audit:
    """Result of :func:`audit`.

    Attributes
    ----------
    issues : frame (the caller's type)
        The input's rows plus ``is_<check>_issue`` / ``<check>_score`` per check and ``is_issue``.
    summary : frame
        One row per check: ``issue_type``, ``num_issues``, ``score`` (dataset-level, lower =
        worse: the mean row score, the label health score, or the non-IID p-value).
    checks : list of str
        The checks that ran, in order.
    details : dict
        Per-check extras (e.g. ``details["non_iid"]`` is the :class:`NonIIDResult`).
    rows_with_issues : int
        Rows flagged by at least one check (``is_issue``); a row flagged by two checks counts
        once here and once per check in ``summary.num_issues``.
    notes : dict
        Per check, what its numbers mean when that is not obvious (e.g. the label check's
        ``find_label_issues`` arguments, and that its score counts an estimate). The report
        also says when the neighbour graph is approximate, with its estimated recall
        (:attr:`estimated_recall`), and when that is below 0.99.
    skipped : dict
        Checks whose inputs were given but that could not run on this frame, and why (e.g. a
        one-row frame has no neighbours, or a classification check in a regression audit).
    task : str
        ``"classification"`` or ``"regression"``.
    available : list
        Checks that do not run by default but that the given columns allow (run them with
        ``checks=``); the report lists them.
    evidence : dict
        Per check, the per-row numbers it used (name -> array over the frame's rows); what
        :meth:`explain` shows and the ``issue_reason`` sentences are built from.
    columns : list
        The input frame's own columns (the report shows them beside the scores).
    label : str or None
        The ``label=`` column.
    input_columns : list
        The columns the audit read as features, pred_probs or predictions (the report shows
        the user's other columns beside the scores).
    """

    issues: Any
    summary: Any
    checks: list
    details: dict = field(default_factory=dict)
    rows_with_issues: int | None = None
    notes: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    task: str = "classification"
    available: list = field(default_factory=list)
    evidence: dict = field(default_factory=dict)
    columns: list = field(default_factory=list)
    label: str | None = None
    input_columns: list = field(default_factory=list)
    _figures: dict | None = field(default=None, init=False, repr=False, compare=False)
    _rows: Any = field(default=None, init=False, repr=False, compare=False)

    def _pandas_rows(self) -> Any:
        """:attr:`issues` as pandas, converted once (a polars frame) for the report."""
        if self._rows is None:
            self._rows = to_pandas(self.issues)
        return self._rows

    def explain(self, row: int) -> Any:
        """Every check's evidence for one row (its position, 0-based), as a small table.

        One row per check that ran: ``check``, ``flagged``, ``score``, ``reason`` (the sentence
        of ``issue_reason``, null when the check did not flag the row) and ``evidence`` (the
        numbers the check used for this row, as text ``name=value``). The table is of the
        caller's frame type.

        Examples
        --------
        >>> import cleanframe
        >>> df = cleanframe.datasets.load_label_errors("20news")
        >>> report = cleanframe.audit(df, label="label", pred_probs="p_*", checks=["label"])
        >>> row = int(report.issues["is_label_issue"].to_numpy().argmax())
        >>> table = report.explain(row)
        >>> table["reason"][0].startswith('label: given "')
        True
        """
        fr = adapt(self.issues)
        n = fr.height
        if isinstance(row, bool) or not isinstance(row, (int, np.integer)) or not -n <= row < n:
            raise IndexError(f"row must be a position in 0..{n - 1}, got {row!r}")
        row = int(row) % n
        flagged, scores, why, evidence = [], [], [], []
        reasons = self._reasons(fr, row)
        for name in self.checks:
            flag = bool(fr.column(f"is_{name}_issue")[row])
            flagged.append(flag)
            scores.append(float(fr.column(f"{name}_score")[row]))
            why.append(reasons.get(name) if flag else None)
            numbers = self.evidence.get(name, {})
            evidence.append(
                ", ".join(f"{key}={_number(values[row])}" for key, values in numbers.items())
            )
        return fr.table(
            {
                "check": np.asarray(self.checks, dtype=object),
                "flagged": np.asarray(flagged, dtype=bool),
                "score": np.asarray(scores, dtype=np.float64),
                "reason": np.asarray(why, dtype=object),
                "evidence": np.asarray(evidence, dtype=object),
            }
        )

    def _reasons(self, fr, row: int) -> dict:
        text = fr.column("issue_reason")[row] if "issue_reason" in fr.columns else None
        out: dict = {}
        if not isinstance(text, str):
            return out
        for part in text.split(REASON_SEPARATOR):
            out[part.partition(":")[0]] = part
        return out

    def _headline(self, table) -> str:
        rows = self.rows_with_issues
        if rows is None:
            rows = int(self._pandas_rows()["is_issue"].sum())
        issues, checks = int(table["num_issues"].sum()), len(self.checks)
        return (
            f"Audit: {_count(rows, 'row')} with issues "
            f"({_count(issues, 'issue')} over {_count(checks, 'check')})"
        )

    @property
    def estimated_recall(self) -> float | None:
        """recall@k of the audit's neighbour graph against exact search: 1.0 for an exact
        search, a sample estimate for an approximate one (:attr:`KnnGraph.estimated_recall`);
        None when no graph was used."""
        graph = self.details.get("knn_graph")
        return None if graph is None else graph.estimated_recall

    def _graph_note(self) -> list[str]:
        graph = self.details.get("knn_graph")
        if graph is None or not graph.approximate:
            return []
        recall = graph.estimated_recall
        if recall is None:
            return [f"kNN graph: approximate, recall@{graph.k} unknown"]
        sample = 0 if graph.recall_check is None else len(graph.recall_check[0])
        note = (
            f"kNN graph: approximate search, estimated recall@{graph.k} {recall:.3f} (exact "
            f"search of {sample} sampled rows)"
        )
        if recall < RECALL_WARNING:
            note += (
                f"; below {RECALL_WARNING}: the neighbour checks may differ from an exact search "
                "(pass an exact graph: knn_graph(..., approximate=False))"
            )
        return [note]

    def _notes(self) -> list[str]:
        return (
            self._graph_note()
            + [f"{name}: {note}" for name, note in self.notes.items()]
            + [f"{name}: skipped, {why}" for name, why in self.skipped.items()]
            + (
                [f"also possible with these columns, when asked (checks=): {self.available}"]
                if self.available
                else []
            )
        )

    # -------------------------------------------------------------------------------------
    # the report
    # -------------------------------------------------------------------------------------
    def shown_columns(self) -> list:
        """The user's columns the report shows beside the scores: the label, then the first
        of the others that the audit did not read as features, pred_probs or predictions."""
        skip = set(self.input_columns) | {self.label}
        others = [c for c in self.columns if c not in skip]
        first = [self.label] if self.label in self.columns else []
        return first + others[: SHOWN_COLUMNS - len(first)]

    def worst_rows(self, check: str, n: int = WORST_ROWS) -> Any:
        """The ``n`` flagged rows of ``check`` with the lowest score (ties by row order), with
        the user's columns (:meth:`shown_columns`), the score and ``reason`` (the check's
        sentence of ``issue_reason``); a pandas DataFrame indexed as the input."""
        if check not in self.checks:
            raise KeyError(f"{check!r} did not run; the checks that ran: {self.checks}")
        table = self._pandas_rows()
        flag, score = f"is_{check}_issue", f"{check}_score"
        flagged = table[table[flag].astype(bool)]
        worst = flagged.sort_values(score, kind="stable").head(n)
        out = worst[[*self.shown_columns(), score]].copy()
        if "issue_reason" in table.columns:  # this check's sentence of issue_reason
            prefix = f"{check}:"
            out["reason"] = [
                next((p for p in str(text).split(REASON_SEPARATOR) if p.startswith(prefix)), None)
                for text in worst["issue_reason"]
            ]
        return out

    def _counts(self) -> dict:
        """Flagged rows per check, read from the per-row columns."""
        table = self._pandas_rows()
        return {c: int(table[f"is_{c}_issue"].astype(bool).sum()) for c in self.checks}

    def _sections(self) -> list[tuple[str, str, str, int]]:
        """(check, what it finds, what to do, rows flagged) for each check that ran."""
        counts = self._counts()
        out = []
        for check in self.checks:
            what, todo = DESCRIPTIONS.get(check, ("A registered check.", ""))
            out.append((check, what, todo, counts[check]))
        return out

    def __repr__(self) -> str:
        table = to_pandas(self.summary)
        notes = [fill(note, 100, subsequent_indent="  ") for note in self._notes()]
        lines = [self._headline(table), table.to_string(index=False), f"({_SCORE_NOTE})", *notes]
        if self.task != "classification":
            lines.append(f"task: {self.task}")
        for check, what, todo, count in self._sections():
            lines += ["", f"-- {check}: {_count(count, 'row')} flagged --"]
            lines.append(fill(f"{what} {todo}", 100))
            if count:
                worst = self.worst_rows(check)
                lines.append(_text_table(worst))
        return "\n".join(lines)

    def _body_html(self, *, plots: bool) -> str:
        table = to_pandas(self.summary)
        notes = "".join(f"<li>{escape(note)}</li>" for note in self._notes())
        parts = [
            f"<h4>{self._headline(table)}</h4>",
            table.to_html(index=False),
            f"<p>{_SCORE_NOTE}</p>",
            f"<ul>{notes}</ul>" if notes else "",
        ]
        for check, what, todo, count in self._sections():
            parts.append(
                f'<h5 id="check-{check}">{escape(check)}: {_count(count, "row")} flagged</h5>'
                f"<p>{escape(what)} <i>{escape(todo)}</i></p>"
            )
            if count:
                parts.append(self.worst_rows(check).to_html(na_rep=""))
        if plots:
            figures = self.figures()
            if figures:
                parts.append("<h5>Plots</h5>")
            for title, png in figures.items():
                parts.append(
                    f'<figure><img alt="{escape(title)}" src="data:image/png;base64,{png}"/>'
                    f"<figcaption>{escape(title)}</figcaption></figure>"
                )
        return "".join(parts)

    def _repr_html_(self) -> str:
        return f"<div>{self._body_html(plots=True)}</div>"

    def figures(self) -> dict:
        """The report's plots as base64 PNG strings by title (matplotlib, imported here): the
        per-class label-issue rate and the confident joint (label check), the score histograms,
        and the outlier / near-duplicate overview (when both ran on a graph). Drawn once per
        audit and kept."""
        if self._figures is not None:
            return dict(self._figures)
        from matplotlib.figure import Figure

        from .. import plots

        out = {}

        def png(figure) -> str:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=80)
            return base64.b64encode(buffer.getvalue()).decode("ascii")

        if self.checks:
            out["Scores per check"] = png(plots.plot_audit_scores(self, figure=Figure()))
        if "label" in self.checks and self.task == "classification" and self.label:
            out["Label issues per class"] = png(
                plots.plot_audit_class_issue_rates(self, ax=Figure().subplots()).figure
            )
            if "confident_joint" in self.details.get("label", {}):
                out["Confident joint"] = png(
                    plots.plot_audit_confident_joint(self, ax=Figure().subplots()).figure
                )
        if "mean_distance" in self.evidence.get("outlier", {}) and "distance" in self.evidence.get(
            "near_duplicate", {}
        ):
            out["Outliers and near duplicates"] = png(
                plots.plot_audit_neighbours(self, ax=Figure().subplots()).figure
            )
        self._figures = out
        return dict(out)

    def to_html(self, path: str | Path | None = None) -> str:
        """The report as a standalone HTML page (plots embedded as PNG); written to ``path``
        when given. Returns the HTML.

        Examples
        --------
        >>> import cleanframe, tempfile, os
        >>> df = cleanframe.datasets.load_label_errors("20news")
        >>> report = cleanframe.audit(df, label="label", pred_probs="p_*", checks=["label"])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     html = report.to_html(os.path.join(tmp, "audit.html"))
        >>> "Confident joint" in html and '<h5 id="check-label">' in html
        True
        """
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>cleanframe audit</title>"
            f"<style>{_CSS}</style></head><body><h3>cleanframe audit</h3>"
            f"{self._body_html(plots=True)}</body></html>"
        )
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    # -------------------------------------------------------------------------------------
    # save / load
    # -------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the audit to ``directory`` (created): ``issues.parquet`` (the rows with the
        result columns), ``evidence.parquet`` (each check's per-row numbers, columns
        ``<check>.<name>``), ``knn_graph.parquet`` when a graph was used, and ``audit.json``
        (summary, notes, skipped checks, task, dataset-level details). :meth:`load` reopens it
        without recomputing. Returns the directory."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        to_pandas(self.issues).to_parquet(folder / "issues.parquet")
        evidence = {
            f"{check}.{name}": pa.array(_plain(values), from_pandas=True)
            for check, numbers in self.evidence.items()
            for name, values in numbers.items()
        }
        pq.write_table(
            pa.table(evidence) if evidence else pa.table({}), folder / "evidence.parquet"
        )
        graph = self.details.get("knn_graph")
        if graph is not None:
            pq.write_table(
                pa.table(
                    {
                        "indices": pa.array(list(graph.indices)),
                        "distances": pa.array(list(graph.distances)),
                    }
                ),
                folder / "knn_graph.parquet",
            )
        summary = to_pandas(self.summary)
        meta = {
            "format": 1,
            "summary": {c: summary[c].tolist() for c in summary.columns},
            "checks": self.checks,
            "rows_with_issues": self.rows_with_issues,
            "notes": self.notes,
            "skipped": self.skipped,
            "task": self.task,
            "available": self.available,
            "columns": [str(c) for c in self.columns],
            "label": self.label,
            "input_columns": [str(c) for c in self.input_columns],
            "details": {
                name: _json_details(value)
                for name, value in self.details.items()
                if name != "knn_graph"
            },
            "knn_graph": None
            if graph is None
            else {
                "metric": graph.metric,
                "approximate": graph.approximate,
                "exact_duplicates_corrected": graph.exact_duplicates_corrected,
                "recall_check": None
                if graph.recall_check is None
                else [graph.recall_check[0].tolist(), graph.recall_check[1].tolist()],
            },
        }
        (folder / "audit.json").write_text(json.dumps(meta, indent=1, default=_json_value))
        return folder

    @classmethod
    def load(cls, directory: str | Path) -> Audit:
        """An audit written by :meth:`save`, without recomputing: ``issues`` and ``summary`` as
        pandas DataFrames, the evidence, notes and the kNN graph as saved; dataset-level
        details as plain dicts (``details["non_iid"]`` holds the p-value and statistic, not a
        :class:`~cleanframe.NonIIDResult`).

        Examples
        --------
        >>> import cleanframe, tempfile
        >>> df = cleanframe.datasets.load_label_errors("20news")
        >>> report = cleanframe.audit(df, label="label", pred_probs="p_*", checks=["label"])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     again = cleanframe.Audit.load(report.save(tmp))
        >>> int(again.issues["is_label_issue"].sum()) == int(report.issues["is_label_issue"].sum())
        True
        """
        import pyarrow.parquet as pq

        folder = Path(directory)
        meta_path = folder / "audit.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{folder}: no audit.json; not a directory from Audit.save")
        meta = json.loads(meta_path.read_text())
        issues = read_file(folder / "issues.parquet", engine="pandas")
        fr = adapt(issues)
        summary = fr.table(
            {
                "issue_type": np.asarray(meta["summary"]["issue_type"], dtype=object),
                "num_issues": np.asarray(meta["summary"]["num_issues"], dtype=np.int64),
                "score": np.asarray(meta["summary"]["score"], dtype=np.float64),
            }
        )
        evidence: dict = {}
        table = pq.read_table(folder / "evidence.parquet")
        for name in table.column_names:
            check, _, key = name.partition(".")
            values = table.column(name).to_numpy(zero_copy_only=False)
            evidence.setdefault(check, {})[key] = values
        details: dict = dict(meta["details"])
        if "non_iid" in details:
            details["non_iid"] = dict(details["non_iid"])
        if "label" in details and "confident_joint" in details["label"]:
            details["label"]["confident_joint"] = np.asarray(details["label"]["confident_joint"])
        graph_meta = meta.get("knn_graph")
        if graph_meta is not None:
            graph_table = pq.read_table(folder / "knn_graph.parquet")
            check = graph_meta["recall_check"]
            details["knn_graph"] = KnnGraph(
                np.stack(graph_table.column("indices").to_numpy(zero_copy_only=False)),
                np.stack(graph_table.column("distances").to_numpy(zero_copy_only=False)),
                graph_meta["metric"],
                approximate=graph_meta["approximate"],
                exact_duplicates_corrected=graph_meta["exact_duplicates_corrected"],
                recall_check=None
                if check is None
                else (np.asarray(check[0], dtype=np.int64), np.asarray(check[1])),
            )
        return cls(
            issues=issues,
            summary=summary,
            checks=list(meta["checks"]),
            details=details,
            rows_with_issues=meta["rows_with_issues"],
            notes=dict(meta["notes"]),
            skipped=dict(meta["skipped"]),
            task=meta["task"],
            available=list(meta.get("available", [])),
            evidence=evidence,
            columns=list(meta["columns"]),
            label=meta["label"],
            input_columns=list(meta["input_columns"]),
        )


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse;font-size:.85em;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
    "figure{display:inline-block;margin:.5em}h5{margin-bottom:.2em}"
)


def _text_table(table) -> str:
    with_reason = table.copy()
    if "reason" in with_reason.columns:
        with_reason["reason"] = with_reason["reason"].map(
            lambda text: text if not isinstance(text, str) or len(text) <= 90 else text[:87] + "..."
        )
    return with_reason.to_string()


def _plain(values) -> list:
    """Evidence values as a list pyarrow can hold (object arrays of str/None, numbers)."""
    array = np.asarray(values)
    if array.dtype.kind == "O":
        return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in array]
    return array.tolist()


def _json_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _json_details(value: Any) -> Any:
    """A check's details as JSON: a NonIIDResult as its numbers, dicts and arrays as they are."""
    if hasattr(value, "p_value") and hasattr(value, "statistic"):
        return {
            "p_value": value.p_value,
            "statistic": value.statistic,
            "significance_threshold": value.significance_threshold,
            "note": value.note,
        }
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return value


def _number(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
