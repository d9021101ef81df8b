"""Token classification kernels: sentence (group) scores and the most common token issues.

Token-level label issues and scores are the classification kernels run on the tokens in
flattened order (group after group), as cleanlab's ``token_classification`` flattens its nested
per-sentence lists; these kernels add what is specific to groups of tokens.
"""

from .groups import GROUP_METHODS, common_issue_counts, group_scores

__all__ = ["GROUP_METHODS", "common_issue_counts", "group_scores"]
