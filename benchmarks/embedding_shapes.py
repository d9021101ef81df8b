"""Embedding-like data shapes for the neighbour-search benchmark and tests (seeded, float32).

Each ``make_shape(kind, n, d, seed)`` returns an ``(n, d)`` float32 array:

- ``"clusters"``: 100 Gaussian clusters of equal expected size (std 0.35 around unit-scale
  centres) — the shape the approximate index was first tuned on;
- ``"manifold"``: points near a 16-dimensional manifold: 16 latent Gaussian coordinates through
  a fixed random smooth two-layer map (tanh) into ``d`` dimensions, plus small isotropic noise —
  as learned embeddings are;
- ``"zipf"``: 300 clusters (fewer below 48,000 rows: N / 160, at least 20) with heavy-tailed
  (Zipf, exponent 1.2) sizes, each cluster spread along its own random 8-dimensional subspace
  with a log-normal scale, plus a little isotropic noise;
- ``"near_duplicates"``: a manifold of ``n / 4`` distinct rows; the other rows are near copies
  (relative noise 1e-3) of them, in groups of heavy-tailed size (a few groups far larger than
  k), plus 2% exact copies;
- ``"digits"``: a real embedding set built from data a package ships: scikit-learn's bundled
  8×8 digit images (1,797), each augmented by random sub-pixel shifts, small rotations and
  contrast changes up to ``n`` images, then mapped to ``d`` dimensions by a fixed random
  two-layer ReLU network (64 → 256 → d).

The file is imported by ``benchmarks/bench_neighbors.py`` and by the tests
(``tests/scoring/test_neighbors_kernels.py``), so both use the same generators.
"""

from __future__ import annotations

import numpy as np

SHAPES = ("clusters", "manifold", "zipf", "near_duplicates", "digits")


def clusters(n: int, d: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(100, d)).astype(np.float32)
    X = centers[rng.integers(0, 100, n)] + 0.35 * rng.normal(size=(n, d)).astype(np.float32)
    return X.astype(np.float32)


def _smooth_map(Z: np.ndarray, d: int, rng: np.random.Generator, hidden: int = 64) -> np.ndarray:
    """A fixed random smooth map of the rows of Z into d dimensions (tanh hidden layer)."""
    m = Z.shape[1]
    W1 = rng.normal(size=(m, hidden)) / np.sqrt(m) * 1.5
    b1 = rng.normal(size=hidden) * 0.5
    W2 = rng.normal(size=(hidden, d)) / np.sqrt(hidden)
    return np.tanh(Z @ W1 + b1) @ W2


def manifold(n: int, d: int = 128, seed: int = 0, latent: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, latent))
    X = _smooth_map(Z, d, rng)
    X += 0.02 * rng.normal(size=X.shape)
    return X.astype(np.float32)


def zipf(n: int, d: int = 128, seed: int = 0, n_clusters: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if n_clusters is None:  # 300 from 48,000 rows on; fewer for small test sets
        n_clusters = min(300, max(20, n // 160))
    weights = 1.0 / np.arange(1, n_clusters + 1) ** 1.2
    label = rng.choice(n_clusters, size=n, p=weights / weights.sum())
    centers = rng.normal(size=(n_clusters, d))
    bases = rng.normal(size=(n_clusters, 8, d)) / np.sqrt(d)
    scales = np.exp(rng.normal(size=n_clusters) * 0.5) * 0.6
    coords = rng.normal(size=(n, 8)) * scales[label, None]
    X = centers[label] + np.einsum("ij,ijd->id", coords, bases[label])
    X += 0.05 * rng.normal(size=X.shape)
    return X.astype(np.float32)


def near_duplicates(n: int, d: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_base = max(2, n // 4)
    base = manifold(n_base, d, seed=seed + 1)
    rest = n - n_base
    # heavy-tailed group sizes: each extra row copies a base row drawn with Zipf-like weights
    weights = 1.0 / np.arange(1, n_base + 1) ** 1.1
    source = rng.choice(n_base, size=rest, p=weights / weights.sum())
    scale = np.linalg.norm(base, axis=1).mean()
    copies = base[source] + 1e-3 * scale / np.sqrt(d) * rng.normal(size=(rest, d))
    exact = rng.random(rest) < 0.02
    copies[exact] = base[source[exact]]
    X = np.concatenate([base, copies])[rng.permutation(n)]
    return X.astype(np.float32)


def digits(n: int, d: int = 128, seed: int = 0) -> np.ndarray:
    from scipy import ndimage
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    images = load_digits().images.astype(np.float64) / 16.0  # (1797, 8, 8), bundled with sklearn
    pick = np.concatenate([np.arange(len(images)), rng.integers(0, len(images), n)])[:n]
    out = np.empty((n, 64))
    shifts = rng.uniform(-0.7, 0.7, size=(n, 2))
    angles = rng.uniform(-12, 12, size=n)
    contrast = rng.uniform(0.8, 1.2, size=n)
    for i, (j, s, a, c) in enumerate(zip(pick, shifts, angles, contrast)):
        img = images[j]
        if i >= len(images):  # the originals first, then augmented copies
            img = ndimage.rotate(img, a, reshape=False, order=1, mode="constant")
            img = ndimage.shift(img, s, order=1, mode="constant") * c
        out[i] = img.ravel()
    net = np.random.default_rng(12345)  # the same network for every seed
    W1 = net.normal(size=(64, 256)) / np.sqrt(64)
    b1 = net.normal(size=256) * 0.1
    W2 = net.normal(size=(256, d)) / np.sqrt(256)
    X = np.maximum(out @ W1 + b1, 0.0) @ W2
    return X.astype(np.float32)


def make_shape(kind: str, n: int, d: int = 128, seed: int = 0) -> np.ndarray:
    """The ``(n, d)`` float32 rows of one shape (see the module docstring)."""
    makers = {
        "clusters": clusters,
        "manifold": manifold,
        "zipf": zipf,
        "near_duplicates": near_duplicates,
        "digits": digits,
    }
    if kind not in makers:
        raise ValueError(f"unknown shape {kind!r}; choose one of {SHAPES}")
    return makers[kind](n, d, seed)
