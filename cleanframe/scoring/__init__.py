"""Scoring kernels: pure numpy functions on arrays (no pandas, no polars).

``labels`` are integer class codes ``0..K-1`` (shape ``(N,)``) and ``pred_probs`` a float array of
shape ``(N, K)``. Kernels never modify their inputs, which may be read-only views of a DataFrame's
memory. Names and defaults follow cleanlab 2.9 where the meaning is the same.
"""
