"""One compiled pass from a long frame's codes to :class:`~.crowdlab.Annotations` (large inputs).

A long annotation table is usually grouped by item (rows of an item together): its item codes,
numbered by first appearance, are then 0, 1, 2, ... in runs. :func:`grouped_annotations` checks
that in the same pass as the input rules that need every row — no annotator twice on an item,
every label a known class, the gold label the same on all rows of an item and a known class —
and sorts each item's rows by annotator code (insertion sort: an item has few annotations),
which is the stable (item, annotator) order of :func:`~.crowdlab.pair_order` without the
O(A log A) argsort of all rows. It answers ``None`` when any check fails or the rows are not
grouped; the caller then takes its general path, which names the rows at fault.

numba is imported (and the loop compiled, cached on disk) on first use only.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .crowdlab import Annotations

__all__ = ["FUSED_MIN_ROWS", "grouped_annotations"]

#: Rows from which the long layout takes this pass (below it the numpy path costs less than
#: loading numba).
FUSED_MIN_ROWS = 50_000
_INSERTION_MAX = 32  # larger items are sorted by a merge sort

OK = 0


def _grouped_pass_py(item, annotator, label, label_map, gold, gold_map, num_items):
    """(status, order, whether order is the identity, annotator codes and class codes in
    order, gold class per item)."""
    size = len(item)
    order = np.empty(size, dtype=np.int64)
    annotators = np.empty(size, dtype=np.int64)
    classes = np.empty(size, dtype=np.int64)
    has_gold = len(gold) == size
    item_gold = np.full(num_items if has_gold else 0, -1, dtype=np.int64)
    in_order = True
    a = 0
    for i in range(num_items):
        if a >= size or item[a] != i:
            return 1, order, in_order, annotators, classes, item_gold  # not grouped in order
        start = a
        while a < size and item[a] == i:
            a += 1
        if a - start > _INSERTION_MAX:
            local = np.argsort(annotator[start:a], kind="mergesort")
            for r in range(a - start):
                order[start + r] = start + local[r]
                annotators[start + r] = annotator[start + local[r]]
                if local[r] != r:
                    in_order = False
            for r in range(start + 1, a):
                if annotators[r] == annotators[r - 1]:
                    return 2, order, in_order, annotators, classes, item_gold  # twice
        else:  # stable insertion sort of the item's rows by annotator code
            for r in range(start, a):
                code = annotator[r]
                j = r
                while j > start and annotators[j - 1] > code:
                    annotators[j] = annotators[j - 1]
                    order[j] = order[j - 1]
                    j -= 1
                if j > start and annotators[j - 1] == code:
                    return 2, order, in_order, annotators, classes, item_gold  # twice
                annotators[j] = code
                order[j] = r
                if j != r:
                    in_order = False
        for r in range(start, a):
            c = label_map[label[order[r]]]
            if c < 0:
                return 3, order, in_order, annotators, classes, item_gold  # not a class
            classes[r] = c
        if has_gold:
            g = gold_map[gold[start]]
            for r in range(start, a):
                h = gold_map[gold[r]]
                if h < 0 and gold[r] >= 0:
                    return 4, order, in_order, annotators, classes, item_gold  # not a class
                if h != g:
                    return 5, order, in_order, annotators, classes, item_gold  # gold differs
            item_gold[i] = g
    if a != size:
        return 1, order, in_order, annotators, classes, item_gold
    return OK, order, in_order, annotators, classes, item_gold


@cache
def _kernel():
    import numba

    return numba.njit(cache=True, nogil=True)(_grouped_pass_py)


def grouped_annotations(
    item: np.ndarray,
    annotator: np.ndarray,
    label: np.ndarray,
    label_map: np.ndarray,
    *,
    num_items: int,
    num_annotators: int,
    num_classes: int,
    gold: np.ndarray | None = None,
    gold_map: np.ndarray | None = None,
) -> tuple[Annotations, np.ndarray | None] | None:
    """:class:`~.crowdlab.Annotations` of rows grouped by item, checked in one pass.

    ``item`` / ``annotator``: codes 0.. (items numbered by first appearance); ``label``: the
    label column's codes, ``label_map[label]`` their class codes (-1: not a class); ``gold`` /
    ``gold_map`` the same for a gold column (code -1 = null, ``gold_map[-1]`` must be -1).
    Returns ``(annotations, gold class per item or None)`` (``annotations.item`` is ``item``
    itself, not a copy), or ``None`` when the rows are not grouped by item in code order, an
    annotator labelled an item twice, a label or gold value is not a class, an item's gold
    labels differ or no gold label is known.

    Examples
    --------
    >>> import numpy as np
    >>> ann, _ = grouped_annotations(
    ...     np.array([0, 0, 1]), np.array([1, 0, 0]), np.array([0, 1, 1]), np.array([1, 0, -1]),
    ...     num_items=2, num_annotators=2, num_classes=2)
    >>> ann.annotator, ann.label, ann.source
    (array([0, 1, 0]), array([0, 1, 0]), array([1, 0, 2]))
    >>> grouped_annotations(np.array([0, 1, 0]), np.array([0, 0, 1]), np.array([0, 0, 0]),
    ...                     np.array([0, -1]), num_items=2, num_annotators=2, num_classes=2)
    """
    item = np.asarray(item, dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    status, order, in_order, annotators, classes, item_gold = _kernel()(
        item,
        np.asarray(annotator, dtype=np.int64),
        np.asarray(label, dtype=np.int64),
        np.asarray(label_map, dtype=np.int64),
        empty if gold is None else np.asarray(gold, dtype=np.int64),
        empty if gold_map is None else np.asarray(gold_map, dtype=np.int64),
        num_items,
    )
    if status != OK or (gold is not None and not (item_gold >= 0).any()):
        return None
    source = np.arange(len(item)) if in_order else order
    # the order permutes rows within items only: the item codes stay as they are
    ann = Annotations(item, annotators, classes, num_items, num_annotators, num_classes, source)
    return ann, None if gold is None else item_gold
