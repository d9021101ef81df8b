"""The audit's checks as a registry: each check is one function registered with what it needs.

A check takes the audit's already-validated inputs (:class:`AuditInputs`) and returns arrays
(:class:`CheckResult`); it never reads the frame, validates or attaches. Registering one::

    @register("my_check", needs=["graph"])
    def my_check(inputs: AuditInputs) -> CheckResult:
        scores = ...                                   # float in [0, 1], lower = worse
        return CheckResult(flags=scores < 0.1, scores=scores)

adds the columns ``is_my_check_issue`` and ``my_check_score`` to every audit whose inputs
allow it (and ``audit(checks=["my_check"])`` runs it alone). Checks run in registration order.
A check registered with ``default=False`` runs only when ``checks=`` names it; ``tasks=`` lists
the tasks it applies to (``classification``, ``regression``, ``multilabel``; default all).
Keyword-only parameters of the function are the check's parameters, which callers pass with
``audit(checks={"my_check": {"param": value}})``.

Every check also says why it flagged each flagged row: ``CheckResult.reasons`` holds one short
sentence per flagged row, built from the numbers in ``CheckResult.evidence`` (per-row arrays of
what the check computed); the audit joins them into the ``issue_reason`` column and
``Audit.explain(row)`` shows the evidence. Reasons name other rows by position (0-based, as
``explain`` takes them), so that they read the same on every engine.

``needs`` lists alternatives, preferred first; each is one input name or a tuple of names that
are all needed (names: :data:`cleanframe._inputs.checks.INPUTS` — ``labels``, ``pred_probs``,
``classification`` (label and pred_probs together), ``features`` (separate columns),
``feature_columns`` (their values as stored), ``graph`` (from ``features=`` or ``knn_graph=``),
``groups`` (``group=``) and ``regression`` (label and ``predictions=``)). The audit resolves,
for each check that runs, the first alternative the caller's arguments provide, once for all
checks.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import Parameter, signature
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

from .._engines import Engine
from .._inputs.checks import INPUTS
from .._inputs.classes import ClassSet
from .._inputs.probabilities import Classification
from ..scoring.neighbors.knn import KnnGraph

__all__ = [
    "CHECKS",
    "AuditInputs",
    "Check",
    "CheckResult",
    "TASKS",
    "reasons",
    "register",
    "required",
    "unregister",
]

T = TypeVar("T")

#: The tasks of an audit: what the label is (a class, a number, a set of classes).
TASKS = ("classification", "regression", "multilabel")


@dataclass(frozen=True)
class AuditInputs:
    """What the audit resolved and validated, once, for the checks that run.

    An input no selected check needs is ``None``.

    Attributes
    ----------
    engine : Engine
        The caller's frame (for checks that need its height or row labels; not for reading).
    classification : Classification
        Labels and pred_probs resolved together (class order of the pred_probs).
    labels : ndarray of int
        Label codes resolved on their own (class order: ``classes=``, a categorical's order, or
        the sorted values), with :attr:`classes`.
    classes : ClassSet
    pred_probs : ndarray (N, K)
        Checked pred_probs, fit to be searched as an embedding.
    features : ndarray (N, D)
        Feature values (NaN where missing).
    graph : KnnGraph
        The one kNN graph of the audit. When some rows miss feature values, it holds only the
        rows without missing values (see :attr:`graph_rows`); the audit gives the other rows
        the neutral result (score 1, not flagged) of every check that used the graph.
    k : int or None
        The audit's ``k``, for a check that builds a graph of its own.
    progress : bool
    label_kwargs : dict
        The audit's ``label_kwargs=``: arguments of :func:`cleanframe.find_label_issues` for the
        label check.
    graph_rows : ndarray of bool or None
        The frame's rows that :attr:`graph` holds, in order, when it does not hold them all
        (rows with missing feature values are left out); None when it holds every row.
    task : str
        One of :data:`TASKS`.
    groups : ndarray of int or None
        ``group=``: a group id per row (``-1`` for a null group).
    regression : (ndarray, ndarray) or None
        The numeric label and the predictions (regression task).
    feature_columns : dict or None
        Each feature column's values as stored (name -> ndarray), for checks that look at the
        columns' types.
    missing : ndarray of bool or None
        The rows of :attr:`features` that miss a value, when the audit resolved the features
        (None: not resolved).
    """

    engine: Engine
    classification: Classification | None = None
    labels: np.ndarray | None = None
    classes: ClassSet | None = None
    pred_probs: np.ndarray | None = None
    features: np.ndarray | None = None
    graph: KnnGraph | None = None
    k: int | None = None
    progress: bool = True
    label_kwargs: Mapping[str, Any] = field(default_factory=dict)
    graph_rows: np.ndarray | None = None
    task: str = "classification"
    groups: np.ndarray | None = None
    regression: tuple[np.ndarray, np.ndarray] | None = None
    feature_columns: Mapping[str, np.ndarray] | None = None
    missing: np.ndarray | None = None

    def frame_positions(self, graph_positions: np.ndarray) -> np.ndarray:
        """Frame row positions of row positions in :attr:`graph` (they differ when rows with
        missing feature values were left out of the graph)."""
        positions = np.asarray(graph_positions, dtype=np.int64)
        if self.graph_rows is None:
            return positions
        return np.flatnonzero(self.graph_rows)[positions]


@dataclass(frozen=True)
class CheckResult:
    """What a check returns.

    Attributes
    ----------
    flags : ndarray of bool (N,)
        ``is_<check>_issue``.
    scores : ndarray of float (N,)
        ``<check>_score`` in [0, 1], lower = worse.
    score : float, optional
        The dataset-level score of the summary table (default: the mean of ``scores``).
    details : object, optional
        Kept in ``Audit.details[<check>]``. A callable is called with the audit's result rows
        (the caller's frame type) and its return value is kept instead.
    note : str, optional
        One line for the report (``Audit.notes[<check>]``): the parameters behind the flags, or
        what the summary score counts when it is not the flags.
    evidence : dict of str -> ndarray (N,), optional
        The per-row numbers the check used (e.g. the given and the suggested class with their
        probabilities), shown by ``Audit.explain(row)``; NaN / None where a row has none.
    reasons : ndarray of object (N,), optional
        One short sentence per flagged row (None for the others), built from :attr:`evidence`
        and the check's parameters; see :func:`reasons`.
    """

    flags: np.ndarray
    scores: np.ndarray
    score: float | None = None
    details: Any = None
    note: str | None = None
    evidence: Mapping[str, np.ndarray] | None = None
    reasons: np.ndarray | None = None


def reasons(flags: np.ndarray, sentence: Callable[[int], str]) -> np.ndarray:
    """``sentence(i)`` for each flagged row position ``i``, None for the others (object array).

    Examples
    --------
    >>> reasons(np.array([False, True]), lambda i: f"row {i}").tolist()
    [None, 'row 1']
    """
    out = np.full(len(flags), None, dtype=object)
    for i in np.flatnonzero(flags):
        out[i] = sentence(int(i))
    return out


def row_reasons(flags: np.ndarray, sentence: Callable[..., str], *columns: Any) -> np.ndarray:
    """:func:`reasons` from per-row values: ``sentence(*values)`` for each flagged row, where
    ``values`` are the ``columns``' entries at that row as Python scalars (read for the
    flagged rows only, once; formatting a Python float is faster than a numpy scalar).

    Examples
    --------
    >>> row_reasons(np.array([False, True]), lambda x: f"x={x:.2g}", np.array([1.0, 2.5])).tolist()
    [None, 'x=2.5']
    """
    out = np.full(len(flags), None, dtype=object)
    positions = np.flatnonzero(flags)
    values = zip(*(np.asarray(column)[positions].tolist() for column in columns))
    for i, row in zip(positions.tolist(), values):
        out[i] = sentence(*row)
    return out


@dataclass(frozen=True)
class Check:
    """A registered check: its ``name``, the inputs it ``needs`` (alternatives, preferred
    first), the function ``run(inputs, **params) -> CheckResult``, whether it runs by
    ``default`` and the ``tasks`` it applies to."""

    name: str
    needs: tuple[frozenset[str], ...]
    run: Callable[..., CheckResult]
    default: bool = True
    tasks: frozenset[str] = frozenset(TASKS)

    @property
    def params(self) -> list[str]:
        """The check's parameters: the keyword-only parameters of :attr:`run`."""
        return [
            name
            for name, p in signature(self.run).parameters.items()
            if p.kind is Parameter.KEYWORD_ONLY
        ]

    def choose(self, given: Collection[str]) -> frozenset[str] | None:
        """The first alternative of :attr:`needs` whose inputs are all ``given`` (or None)."""
        return next((need for need in self.needs if need <= set(given)), None)

    @property
    def columns(self) -> tuple[str, str]:
        """The result columns: ``is_<name>_issue``, ``<name>_score``."""
        return f"is_{self.name}_issue", f"{self.name}_score"


_REGISTRY: dict[str, Check] = {}

#: The registered checks by name, in the order they run (a read-only live view).
CHECKS: Mapping[str, Check] = MappingProxyType(_REGISTRY)


def _alternatives(needs: Sequence[str | Sequence[str]]) -> tuple[frozenset[str], ...]:
    if isinstance(needs, str):
        needs = [needs]
    out = tuple(frozenset([n] if isinstance(n, str) else n) for n in needs)
    unknown = sorted({n for need in out for n in need} - set(INPUTS))
    if not out or unknown or not all(out):
        raise ValueError(f"needs= takes names among {sorted(INPUTS)}, got {list(needs)!r}")
    return out


def register(
    name: str,
    *,
    needs: Sequence[str | Sequence[str]],
    default: bool = True,
    tasks: Sequence[str] | None = None,
) -> Callable[[Callable[..., CheckResult]], Callable[..., CheckResult]]:
    """Decorator: register ``function(inputs, **params) -> CheckResult`` as the audit check
    ``name`` (``default=False``: only when ``checks=`` names it; ``tasks``: those of
    :data:`TASKS` it applies to, default all)."""
    if not name.isidentifier():
        raise ValueError(f"a check name must be an identifier (it names columns), not {name!r}")
    alternatives = _alternatives(needs)
    applies = frozenset(TASKS if tasks is None else tasks)
    if not applies or not applies <= set(TASKS):
        raise ValueError(f"tasks= takes names among {list(TASKS)}, got {tasks!r}")

    def decorate(function):
        if name in _REGISTRY:
            raise ValueError(f"a check named {name!r} is already registered")
        _REGISTRY[name] = Check(name, alternatives, function, default, applies)
        return function

    return decorate


def required(value: T | None, name: str) -> T:
    """``value`` (an input of :class:`AuditInputs`), which the check declared in ``needs``."""
    if value is None:
        raise RuntimeError(f"the audit resolved no {name!r} for this check: add it to needs=")
    return value


def unregister(name: str) -> Check:
    """Remove the check ``name`` from the registry; returns it."""
    return _REGISTRY.pop(name)
