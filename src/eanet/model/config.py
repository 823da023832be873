"""Configuration of the EANet network (widths, depths, variants). Defaults are the official release's.

Every ablation of the paper is a set of field values here (see ``docs/model.md`` and the named configurations in
``eanet/configs/``); :func:`eanet.model.build_model` is the only place that turns these fields into constructor
arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: ResNet trunks the backbone can be built from; the official model uses ``resnet50``.
BackboneName = Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
#: How the two hand features interact (paper Table 2 and Table 4):
#: ``eablock`` extract + adaptation FuseFormers (the paper's model); ``extract_only`` the extract FuseFormer alone;
#: ``ca_transformer`` IntagHand-style cross-attention between the two hands; ``sa_transformer`` self-attention over
#: the tokens of both hands (or of the one shared feature when ``separate_hands`` is false); ``none`` no interaction
#: module at all (the heads read the hand features directly).
Interaction = Literal["eablock", "extract_only", "ca_transformer", "sa_transformer", "none"]
#: Which tokens give the query of each FuseFormer's cross-attention (paper Table 3).
CrossAttentionQuery = Literal["join", "sim"]
#: Which tokens give the keys/values of each FuseFormer's cross-attention (paper Table 3); ``none`` drops the
#: cross-attention transformer and uses JoinToken as the interaction feature.
CrossAttentionKV = Literal["sim", "join", "hand_features", "none"]

#: Output strides the ResNet trunk can be built with (:class:`eanet.model.backbone.ResNetBackbone`).
OUTPUT_STRIDES: tuple[int, ...] = (16, 32)


@dataclass(frozen=True)
class ModelConfig:
    #: Registered architecture name (see ``eanet.model.ARCHITECTURES``); every variant below is a field value of it.
    name: str = "eanet"
    #: ResNet trunk (C5, no pooling). The official model uses ResNet-50 (2048 channels).
    backbone: BackboneName = "resnet50"
    #: ``None``: random init (tests); ``imagenet``: torchvision's ImageNet weights API; or a path to a state dict.
    backbone_weights: str | None = None
    #: Input image size (height, width), also the size of the data's crops; the token and heatmap grids follow from
    #: it (``input_size / output_stride``).
    input_size: tuple[int, int] = (256, 256)
    #: Stride of the trunk's C5 features: 32 (official) or 16 (the last stage dilated instead of strided, as
    #: DeepLab): four times the tokens and heatmap cells for the same input, so small CPU recipes get a heatmap grid
    #: fine enough to localise joints (a 128 px crop: 8x8 instead of 4x4).
    output_stride: int = 32
    #: ResNet stages of the trunk: 4 (official, C5) or 3 (C4 at stride 16, half the channels; needs
    #: ``output_stride: 16``): the light trunk of the CPU recipe ``synthetic-cpu``.
    backbone_stages: int = 4
    #: Channel width ``c`` of the per-hand features, of every FuseFormer token and of the joint features
    #: (official: 512 = C/4; the paper's "Light" variant: 256 = C/8).
    width: int = 512
    #: Attention heads of the FuseFormer self- and cross-attention blocks (and of the ablation transformers).
    num_heads: int = 4
    #: Hidden width of every transformer MLP, as a multiple of its token width.
    mlp_ratio: float = 4.0
    #: Self-attention blocks that make SimToken in each FuseFormer (also the depth of ``sa_transformer``).
    sa_depth: int = 4
    #: Cross-attention blocks in each FuseFormer (also the depth per hand of ``ca_transformer``).
    ca_depth: int = 4
    #: Self-joint transformer blocks per hand (official code: 4; authors, jkpark0825/EANet#2: 6; 0 removes the SJT).
    sjt_depth: int = 4
    #: Attention heads of the self-joint transformer.
    sjt_num_heads: int = 4
    #: Depth bins of the 2.5D heatmap (its height and width are the feature grid, ``input_size / output_stride``).
    heatmap_depth: int = 8
    #: Separate the backbone feature into right- and left-hand features (paper Table 1). False: one shared branch
    #: (backbone tokens to a self-attention transformer, one joint branch for all 42 joints, two regressors).
    separate_hands: bool = True
    #: Interaction module between the hand features (paper Tables 2 and 4).
    interaction: Interaction = "eablock"
    #: FuseFormer cross-attention query: ``join`` (JoinToken, the paper's choice) or ``sim`` (SimToken).
    cross_attention_query: CrossAttentionQuery = "join"
    #: FuseFormer cross-attention keys/values: ``sim`` (the paper's choice), ``join``, ``hand_features`` (the two
    #: input features as tokens) or ``none`` (no cross-attention: JoinToken is the output).
    cross_attention_kv: CrossAttentionKV = "sim"

    def __post_init__(self) -> None:
        if self.output_stride not in OUTPUT_STRIDES:
            raise ValueError(f"output_stride must be one of {list(OUTPUT_STRIDES)}, got {self.output_stride}")
        if self.backbone_stages not in (3, 4):
            raise ValueError(f"backbone_stages must be 3 or 4, got {self.backbone_stages}")
        if self.backbone_stages == 3 and self.output_stride != 16:
            raise ValueError("backbone_stages 3 gives stride-16 features: set output_stride to 16")
        stride = self.output_stride
        h, w = self.input_size
        if h % stride or w % stride or h < 2 * stride or w < 2 * stride:
            raise ValueError(
                f"input_size {tuple(self.input_size)} must be multiples of output_stride {stride} and at least "
                f"{2 * stride} (the feature grid needs at least 2x2 cells for joint-feature sampling)"
            )
        for name in ("width", "num_heads", "sjt_num_heads", "heatmap_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("sa_depth", "ca_depth", "sjt_depth"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be positive, got {self.mlp_ratio}")
        if self.width % self.num_heads:
            raise ValueError(f"width {self.width} is not divisible by num_heads {self.num_heads}")
        if self.sjt_depth and self.width % self.sjt_num_heads:
            raise ValueError(f"width {self.width} is not divisible by sjt_num_heads {self.sjt_num_heads}")
        if not self.separate_hands and self.interaction not in ("sa_transformer", "none"):
            raise ValueError(
                f"interaction {self.interaction!r} needs separate hand features; with separate_hands=false use "
                "interaction 'sa_transformer' or 'none'"
            )
        if self.cross_attention_kv == "none" and self.cross_attention_query != "join":
            raise ValueError("cross_attention_kv 'none' (no cross-attention) requires cross_attention_query 'join'")
        uses_fuseformer = self.interaction in ("eablock", "extract_only")
        if uses_fuseformer and self.cross_attention_kv != "none" and self.ca_depth < 1:
            raise ValueError("ca_depth must be at least 1 when the FuseFormer uses cross-attention")
        if self.interaction == "ca_transformer" and self.ca_depth < 1:
            raise ValueError("ca_depth must be at least 1 for interaction 'ca_transformer'")
        if self.interaction == "sa_transformer" and self.sa_depth < 1:
            raise ValueError("sa_depth must be at least 1 for interaction 'sa_transformer'")

    @property
    def feature_grid(self) -> tuple[int, int]:
        """``(h, w)`` of the C5 feature map, the token grid and the heatmap."""
        return self.input_size[0] // self.output_stride, self.input_size[1] // self.output_stride

    @property
    def heatmap_shape(self) -> tuple[int, int, int]:
        """``(D, h, w)`` of the 2.5D heatmap: ``heatmap_depth`` bins over the feature grid. The one place the shape
        of the heatmap (and of the datasets' ``_hm`` targets) is derived."""
        return (self.heatmap_depth, *self.feature_grid)
