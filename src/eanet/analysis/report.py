"""One image's analysis: the captured tokens and attention turned into arrays, shares, t-SNEs and scores, and
written as ``analysis.json`` (numbers) and ``tokens.npz`` (arrays)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eanet.analysis.capture import EXTRACT_INPUT_HANDS, FuseFormerCapture
from eanet.analysis.stats import TokenSet, attention_shares, silhouette, tsne_embedding
from eanet.errors import InvalidInputError

__all__ = ["ImageAnalysis", "analyze_capture", "save_numbers", "GROUP_LABELS", "SEGMENT_LABELS"]

#: Legend text of every token group (t-SNE panels).
GROUP_LABELS = {
    "right": "F_R tokens (right-hand feature)",
    "left": "F_L tokens (left-hand feature)",
    "sim_cls": "SimToken: cls",
    "sim_right": "SimToken: F_R part",
    "sim_left": "SimToken: F_L part",
    "join": "JoinToken",
}
#: What each key segment of the cross-attention is, per ``key_value`` kind.
SEGMENT_LABELS = {
    ("sim", "cls"): "SimToken cls token",
    ("sim", "right"): "SimToken part from F_R (right hand)",
    ("sim", "left"): "SimToken part from F_L (left hand)",
    ("hand_features", "right"): "F_R tokens (right hand)",
    ("hand_features", "left"): "F_L tokens (left hand)",
    ("join", "join"): "JoinToken",
}
_QUERY_LABELS = {"join": "JoinToken", "sim": "SimToken"}


@dataclass
class ImageAnalysis:
    """Everything the figures of one image show.

    Attributes:
        source: the image (path or label).
        grid: ``(h, w)`` token grid; token ``i`` is grid cell ``(i // w, i % w)``.
        query_kind / key_value_kind: the FuseFormer's settings (paper: ``join`` / ``sim``).
        segments: ``(label, start, stop)`` ranges of the key axis (paper: cls, right, left).
        tokens: ``features_right``, ``features_left`` ``(hw, C)``; ``sim_token`` ``(2hw + 1, C)``; ``join_token``
            ``(hw, C)`` (the last two absent in variants without them).
        attention: ``(blocks, heads, Nq, Nk)`` weights of the extract-stage cross-attention.
        shares: segment label -> ``(blocks, heads, Nq)`` attention share per query.
        token_sets: the t-SNE panels (``hand_features``: Fig. 2b; ``fused_tokens``: Fig. 2c).
        model: provenance of the weights (recorded in the JSON and shown on the figures).
        crop: ``(H, W, 3)`` uint8 network input, when known.
    """

    source: str
    grid: tuple[int, int]
    query_kind: str
    key_value_kind: str
    segments: list[tuple[str, int, int]]
    tokens: dict[str, np.ndarray]
    attention: np.ndarray | None
    shares: dict[str, np.ndarray]
    token_sets: list[TokenSet]
    model: dict[str, Any] = field(default_factory=dict)
    crop: np.ndarray | None = None
    seed: int = 0

    @property
    def query_label(self) -> str:
        return _QUERY_LABELS.get(self.query_kind, self.query_kind)

    def token_set(self, name: str) -> TokenSet | None:
        return next((t for t in self.token_sets if t.name == name), None)

    def share_table(self) -> dict[str, Any]:
        """Attention shares as plain numbers: per block and head, per block (head mean), over all blocks."""
        if self.attention is None:
            return {}
        blocks, heads = self.attention.shape[:2]
        return {
            "per_block_head": [
                [{k: float(v[b, h].mean()) for k, v in self.shares.items()} for h in range(heads)] for b in range(blocks)
            ],
            "per_block": [{k: float(v[b].mean()) for k, v in self.shares.items()} for b in range(blocks)],
            "mean": {k: float(v.mean()) for k, v in self.shares.items()},
            # How evenly the queries use the two hands: the spread over queries of the head-mean share per block.
            "per_query_range": [
                {k: [float(v[b].mean(0).min()), float(np.median(v[b].mean(0))), float(v[b].mean(0).max())]
                 for k, v in self.shares.items()}  # fmt: skip
                for b in range(blocks)
            ],
        }


def analyze_capture(
    capture: FuseFormerCapture,
    index: int = 0,
    *,
    hands: tuple[str, str] = EXTRACT_INPUT_HANDS,
    source: str = "",
    seed: int = 0,
    crop: np.ndarray | None = None,
    model: dict[str, Any] | None = None,
    tsne: bool = True,
) -> ImageAnalysis:
    """Turn sample ``index`` of a capture into an :class:`ImageAnalysis` (shares, t-SNEs, separation scores).

    Args:
        capture: a filled :class:`FuseFormerCapture` (e.g. of the extract stage).
        index: which batch element.
        hands: the hands of the FuseFormer's two inputs (extract stage: right, left).
        source: image label.
        seed: t-SNE seed.
        crop: the network's input image, for the combined figure.
        model: provenance of the weights.
        tsne: False skips the t-SNE embeddings (scores are still computed).
    """
    if not capture.captured:
        raise InvalidInputError("the capture is empty: run the model inside capture_fuseformer(...) first")

    def np_(t):
        return None if t is None else t[index].detach().float().cpu().numpy()

    a, b = hands
    tokens = {f"features_{a}": np_(capture.tokens_a), f"features_{b}": np_(capture.tokens_b)}
    if capture.sim_token is not None:
        tokens["sim_token"] = np_(capture.sim_token)
    if capture.join_token is not None:
        tokens["join_token"] = np_(capture.join_token)
    n = tokens[f"features_{a}"].shape[0]

    segments = capture.key_segments(hands)
    attention = None
    shares: dict[str, np.ndarray] = {}
    if capture.attention:
        attention = capture.attention_weights()[:, index].cpu().numpy()  # (blocks, heads, Nq, Nk)
        shares = attention_shares(attention, segments)

    sets = [TokenSet.from_groups("hand_features", [(a, tokens[f"features_{a}"]), (b, tokens[f"features_{b}"])])]
    fused = []
    if "sim_token" in tokens:
        sim = tokens["sim_token"]
        fused += [("sim_cls", sim[:1]), (f"sim_{a}", sim[1 : 1 + n]), (f"sim_{b}", sim[1 + n : 1 + 2 * n])]
    if "join_token" in tokens:
        fused.append(("join", tokens["join_token"]))
    if fused:
        sets.append(TokenSet.from_groups("fused_tokens", fused))

    for ts in sets:
        if ts.name == "hand_features":
            ts.scores[f"silhouette_{a}_vs_{b}"] = silhouette(ts.points, ts.labels)
        else:
            is_sim = ts.mask(*(g for g in ts.groups if g.startswith("sim_")))
            if is_sim.any() and (~is_sim).any():
                ts.scores["silhouette_simtoken_vs_jointoken"] = silhouette(ts.points, is_sim.astype(np.int64))
            halves = ts.mask(f"sim_{a}", f"sim_{b}")
            if halves.any():
                ts.scores[f"silhouette_simtoken_{a}_vs_{b}_part"] = silhouette(ts.points[halves], ts.labels[halves])
        if tsne:
            ts.embedding, ts.perplexity = tsne_embedding(ts.points, seed=seed)
    return ImageAnalysis(
        source=source,
        grid=capture.grid,
        query_kind=capture.query_kind,
        key_value_kind=capture.key_value_kind,
        segments=segments,
        tokens=tokens,
        attention=attention,
        shares=shares,
        token_sets=sets,
        model=dict(model or {}),
        crop=crop,
        seed=seed,
    )


def save_numbers(analysis: ImageAnalysis, out_dir: str | Path) -> dict[str, str]:
    """Write ``analysis.json`` (shapes, key layout, shares, t-SNE settings, scores, provenance) and ``tokens.npz``
    (tokens, attention weights, per-query shares, t-SNE coordinates) into ``out_dir``; returns name -> path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = dict(analysis.tokens)
    if analysis.attention is not None:
        arrays["attention"] = analysis.attention.astype(np.float32)  # (blocks, heads, Nq, Nk)
        for label, share in analysis.shares.items():
            arrays[f"share_{label}"] = share.astype(np.float32)  # (blocks, heads, Nq)
    tsne_info = {}
    for ts in analysis.token_sets:
        if ts.embedding is not None:
            arrays[f"tsne_{ts.name}"] = ts.embedding  # (n, 2)
        arrays[f"tsne_{ts.name}_labels"] = ts.labels  # (n,)
        tsne_info[ts.name] = {
            "groups": ts.groups,
            "group_sizes": [int((ts.labels == i).sum()) for i in range(len(ts.groups))],
            "perplexity": ts.perplexity,
            "scores": ts.scores,
        }
    np.savez_compressed(out_dir / "tokens.npz", **arrays)

    h, w = analysis.grid
    attention_info: dict[str, Any] = {}
    if analysis.attention is not None:
        blocks, heads, nq, nk = analysis.attention.shape
        attention_info = {
            "module": "extract-stage FuseFormer cross-attention (interaction.extract.cross_attn.blocks[*].attn)",
            "shape": {"blocks": blocks, "heads": heads, "queries": nq, "keys": nk},
            "queries": f"{analysis.query_label} tokens, row-major over the {h}x{w} feature grid"
            + (" (cls first)" if analysis.query_kind == "sim" else ""),
            "keys": [
                {"label": label, "start": start, "stop": stop,
                 "source": SEGMENT_LABELS.get((analysis.key_value_kind, label), label)}  # fmt: skip
                for label, start, stop in analysis.segments
            ],
            "weights": "softmax(q k^T / sqrt(d_head)) recomputed from the module's inputs (rows sum to 1)",
            "share": analysis.share_table(),
        }
    doc = {
        "source": analysis.source,
        "model": analysis.model,
        "grid_hw": [h, w],
        "token_shapes": {k: list(v.shape) for k, v in analysis.tokens.items()},
        "fuseformer": {"query": analysis.query_kind, "key_value": analysis.key_value_kind},
        "attention": attention_info,
        "tsne": {
            "seed": analysis.seed,
            "method": "sklearn TSNE, exact, PCA init, Euclidean, 1000 iterations; each panel embedded on its own",
            "silhouette": "Euclidean, in the tokens' own space (not the t-SNE plane)",
            "sets": tsne_info,
        },
        "files": {"tokens": "tokens.npz"},
    }
    (out_dir / "analysis.json").write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    return {"analysis": str(out_dir / "analysis.json"), "tokens": str(out_dir / "tokens.npz")}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
