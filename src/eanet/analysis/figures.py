"""Figures of one image's analysis (matplotlib ``Figure`` objects, no pyplot state, no display needed).

* :func:`attention_figure`: Figure-8 style maps of the extract-stage cross-attention, one row per block, averaged
  over heads, queries (JoinToken) down, keys (SimToken without its cls token) across with the two hands' halves
  marked, and the share of attention each part of the keys receives.
* :func:`attention_heads_figure`: the same maps per block and head.
* :func:`tsne_figure`: Figure-2 style t-SNEs: the raw hand features F_R, F_L (what previous methods feed their
  transformers) next to SimToken and JoinToken (what EANet's cross-attention reads).
* :func:`panel_figure`: the network input, both t-SNEs and the block- and head-averaged attention map side by side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eanet.analysis.report import GROUP_LABELS, SEGMENT_LABELS, ImageAnalysis

__all__ = ["attention_figure", "attention_heads_figure", "tsne_figure", "panel_figure", "save_figure"]

#: Colours and markers per token group: right hand red, left hand blue (the same in every figure).
_STYLE = {
    "right": dict(color="#d62728", marker="o"),
    "left": dict(color="#1f77b4", marker="o"),
    "sim_right": dict(color="#f4a3a3", marker="o", edgecolors="#d62728", linewidths=0.6),
    "sim_left": dict(color="#a6c8e8", marker="o", edgecolors="#1f77b4", linewidths=0.6),
    "sim_cls": dict(color="black", marker="*", s=140),
    "join": dict(color="#2ca02c", marker="^"),
}
_SEGMENT_COLOURS = {"cls": "#7f7f7f", "right": "#d62728", "left": "#1f77b4", "join": "#2ca02c"}
_SET_TITLES = {
    "hand_features": "hand features F_R, F_L\n(input tokens of previous methods, Fig. 2b)",
    "fused_tokens": "SimToken and JoinToken\n(EANet's input tokens, Fig. 2c)",
}
_DPI = 110


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def save_figure(fig, path: str | Path) -> str:
    """Write ``fig`` as a PNG; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, facecolor="white")
    return str(path)


def _map_segments(analysis: ImageAnalysis) -> list[tuple[str, int, int]]:
    """Key segments drawn in the maps: all but the cls token (shown as a share only)."""
    return [s for s in analysis.segments if s[0] != "cls"]


def _draw_map(ax, weights: np.ndarray, analysis: ImageAnalysis, *, colorbar: bool = True, small: bool = False) -> None:
    """One ``(Nq, Nk)`` map without the cls column, halves marked."""
    segments = _map_segments(analysis)
    if not segments:
        return
    start, stop = segments[0][1], segments[-1][2]
    shown = weights[:, start:stop]  # (Nq, Nk without cls)
    # Each map spans its own min..max (as the paper's maps show contrast); the colour bar gives the values and marks
    # the uniform weight, so a nearly uniform map is recognisable as such.
    # x = the key's index in the full key sequence (SimToken: 0 is the cls token, not drawn).
    im = ax.imshow(shown, aspect="auto", cmap="viridis", interpolation="nearest", vmin=float(shown.min()),
                   vmax=float(shown.max()), extent=(start - 0.5, stop - 0.5, shown.shape[0] - 0.5, -0.5))  # fmt: skip
    for _, s0, _ in segments[1:]:
        ax.axvline(s0 - 0.5, color="white", lw=1.5)
    # Label each half with what it is, in its hand's colour, above the map.
    for label, s0, s1 in segments:
        text = label if small else SEGMENT_LABELS.get((analysis.key_value_kind, label), label)
        ax.text((s0 + s1) / 2 - 0.5, 1.01, text, transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=7 if small else 8, color=_SEGMENT_COLOURS.get(label, "black"))  # fmt: skip
    if not small:
        has_cls = any(s[0] == "cls" for s in analysis.segments)
        ax.set_xlabel("key index" + (" (SimToken position; 0 = cls token, not drawn)" if has_cls else ""))
        ax.set_ylabel(f"query ({analysis.query_label}, grid position)")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 4, 8, 10]))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 4, 8, 10]))
    ax.tick_params(labelsize=6)
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, fraction=0.04, pad=0.01)
        cb.ax.tick_params(labelsize=6)
        # Reference: the weight every key would get from a query that attends uniformly.
        uniform = 1.0 / weights.shape[-1]
        if float(shown.min()) <= uniform <= float(shown.max()):
            cb.ax.axhline(uniform, color="red", lw=1.5)
            cb.ax.text(1.0, uniform, " 1/Nk", transform=cb.ax.get_yaxis_transform(), ha="left", va="bottom",
                       fontsize=5, color="red")  # fmt: skip


def _draw_shares(ax, analysis: ImageAnalysis, block: int | None) -> None:
    """Bars: head-mean share of each key segment; dots: each head. ``block`` None: mean over blocks."""
    labels = [s[0] for s in analysis.segments]
    x = np.arange(len(labels))
    for i, label in enumerate(labels):
        share = analysis.shares[label]  # (blocks, heads, Nq)
        per_head = share.mean(-1)  # (blocks, heads)
        per_head = per_head.mean(0) if block is None else per_head[block]  # (heads,)
        ax.bar(i, per_head.mean(), color=_SEGMENT_COLOURS.get(label, "gray"), alpha=0.8)
        ax.scatter(np.full(len(per_head), i), per_head, s=10, color="black", zorder=3)
        ax.text(i, per_head.mean() + 0.02, f"{per_head.mean():.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("attention share", fontsize=7)
    ax.tick_params(labelsize=6)


def _model_line(analysis: ImageAnalysis) -> str:
    return str(analysis.model.get("description", ""))


def attention_figure(analysis: ImageAnalysis):
    """Per block: the head-averaged map and the attention shares (cls, right half, left half)."""
    if analysis.attention is None:
        raise ValueError("this analysis has no attention weights (a FuseFormer variant without cross-attention)")
    blocks, heads, nq, nk = analysis.attention.shape
    fig = _new_figure(11.0, 2.9 * blocks + 0.6)
    grid = fig.add_gridspec(blocks, 2, width_ratios=[4.0, 1.0])
    for b in range(blocks):
        ax = fig.add_subplot(grid[b, 0])
        _draw_map(ax, analysis.attention[b].mean(0), analysis)
        ax.set_title(f"block {b + 1}/{blocks}, mean of {heads} heads", fontsize=9, pad=14)
        _draw_shares(fig.add_subplot(grid[b, 1]), analysis, b)
    fig.suptitle(
        f"{Path(analysis.source).name}: extract-stage cross-attention ({nq} {analysis.query_label} queries x {nk} keys)"
        f"\n{_model_line(analysis)}",
        fontsize=10,
    )
    return fig


def attention_heads_figure(analysis: ImageAnalysis):
    """Maps per block (rows) and head (columns), each with its own colour scale."""
    if analysis.attention is None:
        raise ValueError("this analysis has no attention weights")
    blocks, heads = analysis.attention.shape[:2]
    fig = _new_figure(3.6 * heads + 0.4, 2.4 * blocks + 0.7)
    for b in range(blocks):
        for h in range(heads):
            ax = fig.add_subplot(blocks, heads, b * heads + h + 1)
            _draw_map(ax, analysis.attention[b, h], analysis, small=True)
            shares = ", ".join(f"{k} {v[b, h].mean():.2f}" for k, v in analysis.shares.items())
            ax.set_title(f"block {b + 1} head {h + 1}\n{shares}", fontsize=7, pad=12)
    fig.suptitle(f"{Path(analysis.source).name}: attention per block and head\n{_model_line(analysis)}", fontsize=9)
    return fig


def _draw_tsne(ax, token_set) -> None:
    emb = token_set.embedding
    for i, group in enumerate(token_set.groups):
        pts = emb[token_set.labels == i]
        style = dict(s=18, alpha=0.85)
        style.update(_STYLE.get(group, {}))
        ax.scatter(pts[:, 0], pts[:, 1], label=f"{GROUP_LABELS.get(group, group)} ({len(pts)})", **style)
    scores = "; ".join(
        f"{k.replace('silhouette_', 'silhouette ').replace('_', ' ')} {v:.2f}" for k, v in token_set.scores.items()
        if v is not None
    )  # fmt: skip
    ax.set_title(f"{_SET_TITLES.get(token_set.name, token_set.name)}", fontsize=9)
    ax.set_xlabel(f"{scores}\n(t-SNE perplexity {token_set.perplexity:.3g})", fontsize=6, color="#444444")
    ax.margins(0.08)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)


def tsne_figure(analysis: ImageAnalysis):
    """The t-SNE panels of one image side by side."""
    sets = [t for t in analysis.token_sets if t.embedding is not None]
    fig = _new_figure(5.0 * len(sets), 5.0)
    for i, ts in enumerate(sets):
        _draw_tsne(fig.add_subplot(1, len(sets), i + 1), ts)
    fig.suptitle(f"{Path(analysis.source).name}: t-SNE of input tokens (seed {analysis.seed})\n{_model_line(analysis)}",
                 fontsize=10)  # fmt: skip
    return fig


def panel_figure(analysis: ImageAnalysis):
    """Network input | t-SNE of F_R, F_L | t-SNE of SimToken, JoinToken | mean attention map with shares."""
    sets = [t for t in analysis.token_sets if t.embedding is not None]
    has_attention = analysis.attention is not None
    widths = ([1.0] if analysis.crop is not None else []) + [1.0] * len(sets) + ([1.9] if has_attention else [])
    fig = _new_figure(4.0 * sum(widths), 4.6)
    grid = fig.add_gridspec(1, len(widths), width_ratios=widths)
    col = 0
    if analysis.crop is not None:
        ax = fig.add_subplot(grid[0, col])
        ax.imshow(analysis.crop)
        ax.set_title("network input (crop)", fontsize=9)
        ax.axis("off")
        col += 1
    for ts in sets:
        _draw_tsne(fig.add_subplot(grid[0, col]), ts)
        col += 1
    if has_attention:
        sub = grid[0, col].subgridspec(2, 1, height_ratios=[3.0, 1.0])
        ax = fig.add_subplot(sub[0])
        blocks, heads = analysis.attention.shape[:2]
        _draw_map(ax, analysis.attention.mean((0, 1)), analysis)
        ax.set_title(f"cross-attention, mean of {blocks} block(s) x {heads} heads", fontsize=9, pad=14)
        _draw_shares(fig.add_subplot(sub[1]), analysis, None)
    fig.suptitle(f"{Path(analysis.source).name} - {_model_line(analysis)}", fontsize=10)
    return fig
