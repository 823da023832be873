import json

import numpy as np
import pytest
import torch

from eanet.analysis.capture import capture_fuseformer, extract_fuseformer
from eanet.analysis.figures import attention_figure, panel_figure, save_figure, tsne_figure
from eanet.analysis.report import analyze_capture, save_numbers
from eanet.errors import InvalidInputError

N = 6


def _analysis(net, img, **kwargs):
    module, hands = extract_fuseformer(net)
    with torch.no_grad(), capture_fuseformer(module) as cap:
        net.predict_parameters(img)
    return cap, analyze_capture(cap, 1, hands=hands, source="x/img.png", **kwargs)


def test_analysis_numbers_follow_the_capture(make_tiny_model, tiny_image, tmp_path):
    model = make_tiny_model()
    cap, an = _analysis(model, tiny_image, seed=5, model={"description": "tiny"})
    # Sample 1 of the batch, on the CPU, as NumPy.
    np.testing.assert_array_equal(an.tokens["features_right"], cap.tokens_a[1].numpy())
    np.testing.assert_array_equal(an.attention, cap.attention_weights()[:, 1].numpy())
    table = an.share_table()
    for block in table["per_block"]:
        assert sum(block.values()) == pytest.approx(1.0, abs=1e-5)
    lo, mid, hi = table["per_query_range"][0]["left"]
    assert lo <= mid <= hi
    hf, fused = an.token_set("hand_features"), an.token_set("fused_tokens")
    assert hf.embedding.shape == (2 * N, 2) and fused.embedding.shape == (3 * N + 1, 2)
    assert set(hf.scores) == {"silhouette_right_vs_left"}
    assert set(fused.scores) == {"silhouette_simtoken_vs_jointoken", "silhouette_simtoken_right_vs_left_part"}
    assert all(-1.0 <= v <= 1.0 for v in [*hf.scores.values(), *fused.scores.values()])

    files = save_numbers(an, tmp_path)
    doc = json.loads(open(files["analysis"]).read())
    assert doc["attention"]["shape"] == {"blocks": 2, "heads": 2, "queries": N, "keys": 2 * N + 1}
    assert doc["tsne"]["seed"] == 5 and doc["model"]["description"] == "tiny"
    assert doc["token_shapes"]["sim_token"] == [2 * N + 1, 16]


@pytest.mark.parametrize("query, key_value", [("join", "hand_features"), ("sim", "sim"), ("join", "none")])
def test_figures_for_ablation_variants(make_tiny_model, tiny_image, tmp_path, query, key_value):
    model = make_tiny_model(cross_attention_query=query, cross_attention_kv=key_value)
    _, an = _analysis(model, tiny_image, crop=np.zeros((96, 64, 3), np.uint8))
    save_figure(panel_figure(an), tmp_path / "panel.png")  # crop, t-SNEs and (when there is one) the mean map
    assert (tmp_path / "panel.png").stat().st_size > 1000
    if key_value == "none":
        assert an.attention is None
        with pytest.raises(ValueError):
            attention_figure(an)
    else:
        assert abs(sum(v.mean() for v in an.shares.values()) - 1.0) < 1e-5
    if key_value == "hand_features":  # keys without a cls token
        save_figure(attention_figure(an), tmp_path / "attention.png")
        save_figure(tsne_figure(an), tmp_path / "tsne.png")
        assert (tmp_path / "attention.png").stat().st_size > 1000


def test_empty_capture_is_refused(make_tiny_model):
    module, _ = extract_fuseformer(make_tiny_model())
    with capture_fuseformer(module) as cap:
        pass
    with pytest.raises(InvalidInputError, match="empty"):
        analyze_capture(cap)
