import numpy as np
import pytest

from eanet.analysis.stats import TokenSet, adapted_perplexity, attention_shares, silhouette, tsne_embedding
from eanet.errors import InvalidInputError


def test_perplexity_adapts_to_the_token_count():
    assert adapted_perplexity(128) == 30.0  # full-size model: 64 + 64 raw tokens
    assert adapted_perplexity(193) == 30.0  # 129 SimToken + 64 JoinToken
    for n in (3, 8, 13, 50, 91):
        p = adapted_perplexity(n)
        assert 1.0 <= p < n
    assert adapted_perplexity(8) == pytest.approx(7 / 3)
    with pytest.raises(InvalidInputError):
        adapted_perplexity(2)


def test_tsne_is_deterministic_for_a_seed_and_keeps_clusters_apart():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (20, 6)), rng.normal(3, 0.1, (20, 6))])  # two far clusters
    emb, perplexity = tsne_embedding(points, seed=3)
    again, _ = tsne_embedding(points, seed=3)
    assert emb.shape == (40, 2) and perplexity == pytest.approx(13.0)
    np.testing.assert_array_equal(emb, again)
    centre_a, centre_b = emb[:20].mean(0), emb[20:].mean(0)
    spread = max(np.linalg.norm(emb[:20] - centre_a, axis=1).max(), np.linalg.norm(emb[20:] - centre_b, axis=1).max())
    assert np.linalg.norm(centre_a - centre_b) > spread
    with pytest.raises(InvalidInputError):
        tsne_embedding(points, perplexity=40)


def test_attention_shares_split_each_row():
    rng = np.random.default_rng(1)
    w = rng.random((2, 3, 4, 9))
    w /= w.sum(-1, keepdims=True)
    shares = attention_shares(w, [("cls", 0, 1), ("right", 1, 5), ("left", 5, 9)])
    assert set(shares) == {"cls", "right", "left"} and shares["right"].shape == (2, 3, 4)
    np.testing.assert_allclose(shares["cls"] + shares["right"] + shares["left"], 1.0, atol=1e-12)
    np.testing.assert_allclose(shares["left"], w[..., 5:].sum(-1))


def test_silhouette_tells_separated_from_mixed_groups():
    rng = np.random.default_rng(2)
    apart = np.concatenate([rng.normal(0, 0.1, (30, 4)), rng.normal(5, 0.1, (30, 4))])
    labels = np.repeat([0, 1], 30)
    assert silhouette(apart, labels) > 0.9
    mixed = rng.normal(0, 1, (60, 4))
    assert abs(silhouette(mixed, labels)) < 0.1
    assert silhouette(mixed, np.zeros(60, dtype=int)) is None


def test_token_set_groups_and_masks():
    ts = TokenSet.from_groups("x", [("a", np.zeros((2, 3))), ("b", np.ones((3, 3)))])
    assert ts.points.shape == (5, 3) and ts.labels.tolist() == [0, 0, 1, 1, 1]
    assert ts.mask("b").tolist() == [False, False, True, True, True]
