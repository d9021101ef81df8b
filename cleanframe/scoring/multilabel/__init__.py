"""Multi-label kernels: confident learning one-vs-rest, over all classes at once.

Labels are an (N, K) boolean matrix (row i carries class k); pred_probs an (N, K) matrix of
independent per-class probabilities. Each class k is the binary problem "carries k or not" with
probabilities ``[1 - p_k, p_k]`` (cleanlab's reduction); the kernels compute every class's
thresholds, confident joint, pruning and scores with matrix operations instead of one binary
call per class.
"""

from . import dataset, filter, rank

__all__ = ["dataset", "filter", "rank"]
