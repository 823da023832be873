"""Numbers behind the figures: attention shares per hand, t-SNE embeddings of the input tokens, token separation.

Everything here works on NumPy arrays of one image (no batch axis) and is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from eanet.errors import InvalidInputError

__all__ = [
    "TSNE_MAX_PERPLEXITY",
    "TokenSet",
    "attention_shares",
    "adapted_perplexity",
    "silhouette",
    "tsne_embedding",
]

#: sklearn's default perplexity; used when there are enough tokens (128 raw / 193 new tokens at 8x8).
TSNE_MAX_PERPLEXITY = 30.0


@dataclass
class TokenSet:
    """Tokens of one t-SNE panel: ``points`` ``(n, C)`` with a group label per point (``labels`` ``(n,)`` indexes
    ``groups``)."""

    name: str
    points: np.ndarray
    labels: np.ndarray
    groups: list[str]
    embedding: np.ndarray | None = None
    perplexity: float | None = None
    scores: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_groups(cls, name: str, parts: Sequence[tuple[str, np.ndarray]]) -> TokenSet:
        """Stack ``(group, (n_i, C))`` parts in order."""
        points = np.concatenate([p for _, p in parts], axis=0)  # (n, C)
        labels = np.concatenate([np.full(len(p), i) for i, (_, p) in enumerate(parts)])  # (n,)
        return cls(name, points.astype(np.float32), labels.astype(np.int64), [g for g, _ in parts])

    def mask(self, *groups: str) -> np.ndarray:
        """Boolean ``(n,)``: points of any of ``groups`` (groups not in the set match nothing)."""
        ids = [self.groups.index(g) for g in groups if g in self.groups]
        return np.isin(self.labels, ids)


def attention_shares(weights: np.ndarray, segments: Sequence[tuple[str, int, int]]) -> dict[str, np.ndarray]:
    """Share of each query's attention that goes to each part of the keys.

    Args:
        weights: ``(..., Nq, Nk)`` attention weights (rows sum to 1).
        segments: ``(label, start, stop)`` key ranges (e.g. ``FuseFormerCapture.key_segments()``).

    Returns:
        label -> ``(..., Nq)`` summed weight of that key range per query. Averaging over the query axis gives the
        share of the whole map.
    """
    return {label: weights[..., start:stop].sum(-1) for label, start, stop in segments}


def adapted_perplexity(n_points: int, max_perplexity: float = TSNE_MAX_PERPLEXITY) -> float:
    """t-SNE perplexity for ``n_points``: sklearn's 30 when there are over 90 points, else ``(n - 1) / 3`` (at least 1).

    t-SNE needs a perplexity below the number of points; a third of them keeps each point's neighbourhood a
    minority of the set, as 30 of 128 does for the full-size model.
    """
    if n_points < 3:
        raise InvalidInputError(f"t-SNE needs at least 3 tokens, got {n_points}")
    return float(min(max_perplexity, max(1.0, (n_points - 1) / 3.0)))


def tsne_embedding(points: np.ndarray, *, seed: int = 0, perplexity: float | None = None) -> tuple[np.ndarray, float]:
    """2D t-SNE of ``points`` ``(n, C)``: deterministic (PCA init, exact gradient, fixed ``seed``).

    Returns:
        ``(embedding (n, 2), perplexity used)``.
    """
    from sklearn.manifold import TSNE

    points = np.asarray(points, dtype=np.float64)
    if perplexity is None:
        perplexity = adapted_perplexity(len(points))
    elif not 0 < perplexity < len(points):
        raise InvalidInputError(f"perplexity must be in (0, {len(points)}) for {len(points)} tokens, got {perplexity}")
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", method="exact",
                random_state=seed, max_iter=1000)  # fmt: skip
    return tsne.fit_transform(points).astype(np.float32), float(perplexity)  # (n, 2)


def silhouette(points: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean silhouette of the labelled groups in the tokens' own space (Euclidean, the distance the t-SNE uses):
    near 1 for far-apart, tight groups (the paper's "distant token problem"), near 0 for mixed ones, negative when
    points sit closer to another group. None for fewer than 2 groups or fewer than 3 points."""
    from sklearn.metrics import silhouette_score

    n_groups = len(np.unique(labels))
    if n_groups < 2 or n_groups >= len(points) or len(points) < 3:
        return None
    return float(silhouette_score(np.asarray(points, dtype=np.float64), labels, metric="euclidean"))
