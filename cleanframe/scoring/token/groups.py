"""Group scores from token scores, and counts of flagged tokens by word."""

from __future__ import annotations

import numpy as np

__all__ = ["GROUP_METHODS", "common_issue_counts", "group_scores"]

GROUP_METHODS = ("min", "softmin")
#: Softmax temperatures below this are raised to it (the reference's EPSILON).
_MIN_TEMPERATURE = 1e-6


def group_scores(
    scores: np.ndarray, offsets: np.ndarray, *, method: str = "min", temperature: float = 0.05
) -> np.ndarray:
    """One score per group from the token scores in flattened order (``scores[offsets[g]:
    offsets[g + 1]]`` are group g's; every group has a token).

    ``min``: the lowest token score. ``softmin``: ``sum_t s_t * softmax((1 - s) / T)_t`` within
    the group (T = 0: the minimum; T = inf: the mean), vectorised over all groups at once.
    """
    starts = offsets[:-1]
    if method == "min" or (method == "softmin" and temperature == 0):
        return np.minimum.reduceat(scores, starts)
    if method != "softmin":
        raise ValueError(f"method must be one of {GROUP_METHODS}, not {method!r}")
    sizes = np.diff(offsets)
    if np.isinf(temperature):
        return np.add.reduceat(scores, starts) / sizes
    x = (1 - scores) / max(temperature, _MIN_TEMPERATURE)
    x = x - np.repeat(np.maximum.reduceat(x, starts), sizes)
    e = np.exp(x)
    w = e / np.repeat(np.add.reduceat(e, starts), sizes)
    return np.add.reduceat(scores * w, starts)


def common_issue_counts(
    words: np.ndarray, given: np.ndarray, predicted: np.ndarray, num_classes: int, exclude=()
) -> dict[str, np.ndarray]:
    """Counts of flagged tokens by (word, given class, predicted class), most frequent first.

    ``words`` are word codes of the flagged tokens listed worst first; ties in the count keep
    the order of each word's first flagged token, then given, then predicted class (the order
    cleanlab's ``common_label_issues`` lists them in). ``exclude``: (given, predicted) code
    pairs not counted.
    """
    words = np.asarray(words, dtype=np.int64)
    keep = np.ones(len(words), dtype=bool)
    for g, p in exclude:
        keep &= ~((given == g) & (predicted == p))
    # rank of each word by its first flagged token (before exclusion, as the reference)
    uniq, first = np.unique(words, return_index=True)
    rank = np.empty(uniq.max() + 1 if len(uniq) else 0, dtype=np.int64)
    rank[uniq] = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    k = num_classes
    key = (rank[words[keep]] * k + given[keep]) * k + predicted[keep]
    cells, counts = np.unique(key, return_counts=True)
    order = np.lexsort((cells, -counts))
    cells, counts = cells[order], counts[order]
    word_rank = cells // (k * k)
    return {
        "word": uniq[np.argsort(first, kind="stable")][word_rank] if len(cells) else cells,
        "given": (cells // k) % k,
        "predicted": cells % k,
        "count": counts,
    }
