"""Real datasets bundled with cleanframe (Apache-2.0; see ``cleanframe/data/NOTICE``).

Out-of-sample predicted probabilities and given labels for four benchmark test sets — MNIST,
CIFAR-10, IMDB and 20 Newsgroups — from the "Pervasive Label Errors in Test Sets" study, with
the Mechanical Turk verdicts on the rows that confident learning flagged.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ._engines import new_frame

__all__ = ["NAMES", "load_label_errors", "load_arrays", "human_verdicts"]

NAMES = ("mnist", "cifar10", "imdb", "20news")


def load_arrays(name: str) -> dict:
    """The raw arrays of one dataset: ``pred_probs`` (N×K float64), ``labels`` (int codes),
    ``class_names``, and the Mechanical Turk columns ``mturk_*``."""
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {NAMES}")
    # one name per step: Python 3.10's Traversable.joinpath takes a single name
    with (resources.files("cleanframe") / "data" / f"{name}.npz").open("rb") as fh:
        with np.load(fh, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}


def load_label_errors(name: str = "cifar10", *, engine: str = "pandas", prefix: str = "p_"):
    """A dataset as a frame: ``label`` (class names) and one ``p_<class>`` column per class.

    Parameters
    ----------
    name : {"mnist", "cifar10", "imdb", "20news"}
    engine : {"pandas", "polars"}
    prefix : str
        Prefix of the probability columns.

    Examples
    --------
    >>> from cleanframe.datasets import load_label_errors
    >>> df = load_label_errors("cifar10")
    >>> df.shape, df["label"].iloc[0], list(df.columns[:3])
    ((10000, 11), 'cat', ['label', 'p_airplane', 'p_automobile'])
    """
    arrays = load_arrays(name)
    names = [str(c) for c in arrays["class_names"]]
    columns = {"label": np.array(names, dtype=object)[arrays["labels"]]}
    columns.update({f"{prefix}{c}": arrays["pred_probs"][:, i] for i, c in enumerate(names)})
    return new_frame(columns, engine=engine)


def human_verdicts(name: str = "cifar10") -> dict:
    """Row positions reviewed by Mechanical Turk workers and whether the label was judged wrong.

    Returns ``{"rows": int array, "confirmed_error": bool array}``; a label is a confirmed error
    when fewer than half of its reviewers chose the given label (fewer than 3 of 5). IMDB's
    reviewed items are identified by file name, not row position, so it is not available.
    """
    arrays = load_arrays(name)
    if arrays["mturk_id"].dtype.kind not in "iu":
        raise ValueError(f"{name}: the reviewed items are not identified by row position")
    confirmed = arrays["mturk_given_votes"] * 2 < arrays["mturk_total_votes"]
    return {"rows": arrays["mturk_id"].astype(np.int64), "confirmed_error": confirmed}
