"""EANet (Park et al., ICCVW 2023, paper §3 and Fig. 3): image -> two hand meshes and their relative placement.

Data flow of the paper's model, as the official ``Model.forward`` (``main/model.py``) runs it; shapes for a 256x256
input and width c = 512::

    img (B,3,256,256) -ResNet-50 C5-> F (B,2048,8,8)
    F -hand_proj[right|left] (1x1 conv+BN+ReLU)-> F_R, F_L (B,512,8,8)
    EABlock: F_inter = extract(F_R, F_L); F_interR = adapt.right(F_R, F_inter); F_interL = adapt.left(F_L, F_inter)
    F*_hand = hand_fuse[hand](cat([F_hand, F_interHand])) (1x1 conv+BN+ReLU)        (B,1024,8,8)
    position_head: 2.5D heatmap (21 x 8 x 8 x 8) -> soft-argmax -> joints_hm (B,21,3)
    rotation_head(F*, joints_hm.detach()): joint features -> SJT -> 6D root / finger rotations; shape and camera
        from GAP(F*); rel_trans from GAP(cat[F*_R, F*_L])
    6D -> rotation matrices -> axis-angle -> hand-model layer (root pose, finger pose, betas; no translation)
    joints (training fingertips), weak-perspective projection of the un-centred joints with the raw camera, then
    joints and vertices made wrist-relative; the wrist is returned as ``root_model``.

Variants (the paper's ablations) are constructor arguments; see :class:`eanet.model.config.ModelConfig`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eanet.errors import InvalidInputError
from eanet.geometry import project_weak_perspective, rot6d_to_rotmat, rotmat_to_axis_angle
from eanet.hand_model.skeleton import HANDS, NUM_JOINTS, NUM_MANO_JOINTS, WRIST
from eanet.model.backbone import ResNetBackbone
from eanet.model.eablock import CrossHandTransformer, EABlock, SelfAttentionInteraction
from eanet.model.heads import SHARED_BRANCH, HandRegression, PositionHead, RotationHead
from eanet.model.layers import ConvBNReLU, init_official_
from eanet.structures import HandPrediction, TwoHandPrediction

__all__ = ["EANet"]


class EANet(nn.Module):
    """The EANet network with its two hand-model layers.

    Args:
        right_hand_model: hand-model layer for the right hand (``eanet.hand_model.HandModelLayer``); its data sit in
            non-persistent buffers, so they never enter this module's state dict. ``None`` builds the network
            alone (e.g. to list or convert weights); ``forward`` then raises.
        left_hand_model: the same for the left hand.
        backbone: ResNet trunk name (official: ``resnet50``).
        backbone_weights: ``None``, ``"imagenet"`` or a state-dict path (see :class:`ResNetBackbone`).
        input_size: ``(H, W)`` of the input; multiples of ``output_stride``. Token and heatmap grids are
            ``(H / output_stride, W / output_stride)``.
        output_stride: stride of the backbone's features, 32 (official) or 16 (last stage dilated, or dropped).
        backbone_stages: ResNet stages, 4 (official) or 3 (C4 features; ``output_stride`` 16).
        width: hand-feature and token width ``c`` (official 512).
        num_heads: heads of the interaction transformers.
        mlp_ratio: MLP ratio of every transformer block.
        sa_depth: self-attention blocks per FuseFormer (or of the ``sa_transformer`` baseline).
        ca_depth: cross-attention blocks per FuseFormer (or per hand in the ``ca_transformer`` baseline).
        sjt_depth: self-joint transformer blocks per hand (0: none).
        sjt_num_heads: SJT heads.
        heatmap_depth: depth bins ``D`` of the 2.5D heatmap.
        separate_hands: False: one shared branch (paper Table 1, row 1).
        interaction: ``eablock``, ``extract_only``, ``ca_transformer``, ``sa_transformer`` or ``none``.
        cross_attention_query: FuseFormer query tokens, ``join`` or ``sim``.
        cross_attention_kv: FuseFormer key/value tokens, ``sim``, ``join``, ``hand_features`` or ``none``.
        joint_dim: joint-feature width of the rotation head (default: ``width``).
        rel_trans_hidden: hidden width of the relative-translation MLP (default: ``width``).
    """

    def __init__(
        self,
        right_hand_model: nn.Module | None,
        left_hand_model: nn.Module | None,
        *,
        backbone: str = "resnet50",
        backbone_weights: str | None = None,
        input_size: tuple[int, int] = (256, 256),
        output_stride: int = 32,
        backbone_stages: int = 4,
        width: int = 512,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        sa_depth: int = 4,
        ca_depth: int = 4,
        sjt_depth: int = 4,
        sjt_num_heads: int = 4,
        heatmap_depth: int = 8,
        separate_hands: bool = True,
        interaction: str = "eablock",
        cross_attention_query: str = "join",
        cross_attention_kv: str = "sim",
        joint_dim: int | None = None,
        rel_trans_hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.backbone = ResNetBackbone(backbone, output_stride=output_stride, stages=backbone_stages)
        stride = self.backbone.output_stride
        h, w = self.input_size[0] // stride, self.input_size[1] // stride
        self.feature_grid = (h, w)
        self.branches: tuple[str, ...] = HANDS if separate_hands else (SHARED_BRANCH,)
        joints_per_branch = NUM_JOINTS if separate_hands else 2 * NUM_JOINTS
        joint_dim = width if joint_dim is None else joint_dim
        rel_trans_hidden = width if rel_trans_hidden is None else rel_trans_hidden

        self.hand_proj = nn.ModuleDict({b: ConvBNReLU(self.backbone.out_channels, width) for b in self.branches})

        num_tokens = h * w
        if interaction in ("eablock", "extract_only"):
            self.interaction = EABlock(
                width,
                num_tokens,
                adaptation=interaction == "eablock",
                sa_depth=sa_depth,
                ca_depth=ca_depth,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                query=cross_attention_query,
                key_value=cross_attention_kv,
            )
        elif interaction == "ca_transformer":
            self.interaction = CrossHandTransformer(width, num_tokens, ca_depth, num_heads, mlp_ratio)
        elif interaction == "sa_transformer":
            self.interaction = SelfAttentionInteraction(
                width, num_tokens, len(self.branches), sa_depth, num_heads, mlp_ratio
            )
        elif interaction == "none":
            self.interaction = None
        else:
            raise ValueError(f"unknown interaction {interaction!r}")
        if self.interaction is not None:
            if not separate_hands and interaction != "sa_transformer":
                raise ValueError(f"interaction {interaction!r} needs separate_hands=True")
            # F* = conv(cat([F_hand, F_inter])): 2c -> 2c (official EABlock conv_r2 / conv_l2).
            self.hand_fuse = nn.ModuleDict({b: ConvBNReLU(2 * width, 2 * width) for b in self.branches})
            feat_channels = 2 * width
        else:
            # Without an interaction module the heads read the hand features themselves (our reading of
            # "without EABlock", paper Table 4).
            self.hand_fuse = None
            feat_channels = width

        self.position_head = PositionHead(self.branches, feat_channels, joints_per_branch, heatmap_depth)
        self.rotation_head = RotationHead(
            self.branches,
            feat_channels,
            joint_dim,
            joints_per_branch,
            sjt_depth,
            sjt_num_heads,
            mlp_ratio,
            rel_trans_hidden,
        )
        # The official init_weights (main/model.py) for all but the backbone, which has its own (common/nets/resnet.py).
        for module in (self.hand_proj, self.interaction, self.hand_fuse, self.position_head, self.rotation_head):
            if module is not None:
                module.apply(init_official_)
        if backbone_weights is not None:
            self.backbone.load_pretrained(backbone_weights)

        self.hand_models: nn.ModuleDict | None = None
        if right_hand_model is not None and left_hand_model is not None:
            self.set_hand_models(right_hand_model, left_hand_model)

    def set_hand_models(self, right: nn.Module, left: nn.Module) -> None:
        """Attach the hand-model layers (their data are non-persistent buffers: no state-dict entries)."""
        self.hand_models = nn.ModuleDict({"right": right, "left": left})

    # ------------------------------------------------------------------------------------------------------------

    def _check_input(self, img: Tensor) -> None:
        if img.dim() != 4 or img.shape[1] != 3 or tuple(img.shape[2:]) != self.input_size:
            raise InvalidInputError(
                f"expected an image batch of shape (B, 3, {self.input_size[0]}, {self.input_size[1]}), got "
                f"{tuple(img.shape)}; resize or crop to the model's input_size (positional embeddings are sized "
                "for its feature grid)"
            )

    def predict_parameters(self, img: Tensor) -> tuple[dict[str, HandRegression], dict[str, Tensor], Tensor]:
        """Network part of :meth:`forward`, without the hand-model layers.

        Args:
            img: ``(B, 3, H, W)`` RGB in ``[0, 1]`` (the official model uses no mean/std normalisation).

        Returns:
            ``(regressions per hand, 2.5D joints per hand (B, 21, 3) in heatmap units, rel_trans (B, 3))``.
        """
        self._check_input(img)
        feat = self.backbone(img)  # (B, C5, h, w)
        hand_feats = [self.hand_proj[b](feat) for b in self.branches]  # (B, c, h, w) each
        if self.interaction is not None:
            inter = self.interaction(hand_feats)  # (B, c, h, w) each
            # Order cat([F_hand, F_inter]) as official module.py EABlock.forward.
            hand_feats = [
                self.hand_fuse[b](torch.cat((f, i), dim=1))  # (B, 2c, h, w)
                for b, f, i in zip(self.branches, hand_feats, inter, strict=True)
            ]
        feats = dict(zip(self.branches, hand_feats, strict=True))
        joints_hm = self.position_head(feats)  # (B, J_branch, 3) per branch
        # The rotation head sees the 2.5D joints detached (official model.py forward).
        regressions, rel_trans = self.rotation_head(feats, {b: j.detach() for b, j in joints_hm.items()})
        if SHARED_BRANCH in joints_hm:
            both = joints_hm[SHARED_BRANCH]
            joints_hm = {"right": both[:, :NUM_JOINTS], "left": both[:, NUM_JOINTS:]}  # (B, 21, 3) each
        return regressions, joints_hm, rel_trans

    def hand_prediction(self, hand: str, reg: HandRegression, joints_hm: Tensor) -> HandPrediction:
        """Run one hand's parameters through its hand-model layer (official ``get_coord``, ``main/model.py:36-56``)."""
        if self.hand_models is None:
            raise RuntimeError("this EANet was built without hand-model layers; build it with build_model()")
        B = reg.root_pose_6d.shape[0]
        root_rotmat = rot6d_to_rotmat(reg.root_pose_6d)  # (B, 3, 3)
        hand_rotmat = rot6d_to_rotmat(reg.hand_pose_6d.view(B, NUM_MANO_JOINTS - 1, 6))  # (B, 15, 3, 3)
        pose_rotmat = torch.cat((root_rotmat[:, None], hand_rotmat), dim=1)  # (B, 16, 3, 3)
        pose_aa = rotmat_to_axis_angle(pose_rotmat)  # (B, 16, 3)
        root_pose_aa = pose_aa[:, 0]  # (B, 3)
        hand_pose_aa = pose_aa[:, 1:].reshape(B, 3 * (NUM_MANO_JOINTS - 1))  # (B, 45)

        layer = self.hand_models[hand]
        out = layer(root_pose_aa, hand_pose_aa, reg.betas)  # no translation (official get_coord)
        joints_model = out.joints  # (B, 21, 3): regressor on the posed mesh + training fingertips
        joints_proj = project_weak_perspective(joints_model, reg.cam)  # (B, 21, 2), un-centred joints, raw cam
        root = joints_model[:, WRIST]  # (B, 3)
        return HandPrediction(
            root_pose_6d=reg.root_pose_6d,
            hand_pose_6d=reg.hand_pose_6d,
            root_pose_aa=root_pose_aa,
            hand_pose_aa=hand_pose_aa,
            pose_rotmat=pose_rotmat,
            betas=reg.betas,
            cam=reg.cam,
            joints_hm=joints_hm,
            joints_cam=joints_model - root[:, None],  # (B, 21, 3)
            verts_cam=out.verts - root[:, None],  # (B, V, 3)
            root_model=root,
            joints_proj_hm=joints_proj,
        )

    def forward(self, img: Tensor) -> TwoHandPrediction:
        """Predict both hands.

        Args:
            img: ``(B, 3, H, W)`` RGB in ``[0, 1]``, ``(H, W) == input_size``.

        Returns:
            :class:`~eanet.structures.TwoHandPrediction` (right and left hand, ``rel_trans``).
        """
        regressions, joints_hm, rel_trans = self.predict_parameters(img)
        hands = {hand: self.hand_prediction(hand, regressions[hand], joints_hm[hand]) for hand in HANDS}
        return TwoHandPrediction(right=hands["right"], left=hands["left"], rel_trans=rel_trans)
