"""Evaluation protocols as data: the three named presets and the one-line signature printed with every result.

Papers on InterHand2.6M report "MPJPE" and "MPVPE" under incompatible protocols (e.g. InterWild, IntagHand and the
official EANet code differ in: wrist vs middle-knuckle root, ground-truth bone-length rescaling or not, annotated vs
mesh-regressed joints, H vs H+M test set). A :class:`Protocol` spells out every one of those choices, so a number
never travels without them: :meth:`Protocol.signature` is printed and stored with every result.

Presets:

* ``official``: exactly what the official EANet ``InterHand26M.evaluate`` + ``print_eval_result`` compute
  (``data/InterHand26M/InterHand26M.py``), quirks included.
* ``intaghand``: the same alignment (IntagHand's, used by EANet, IntagHand and ACR) with the official quirks fixed.
* ``interwild``: InterWild's protocol (InterNet-style wrist root, annotated joints, H test subset) plus MRRPE.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from eanet.errors import InvalidInputError
from eanet.hand_model.skeleton import MIDDLE_MCP, WRIST

__all__ = ["Protocol", "PROTOCOLS", "get_protocol", "OFFICIAL", "INTAGHAND", "INTERWILD"]

Root = Literal["wrist", "middle_mcp"]
JointSource = Literal["mesh_regressed", "annotated"]
PredJointSource = Literal["mesh_regressed", "model"]
MaskOrder = Literal["ih26m_order_unremapped", "remapped"]
MissingMesh = Literal["zero_gt", "exclude"]
JointAggregation = Literal["per_joint_mean", "sample_weighted"]
MpvpeInteracting = Literal["mean_of_both_hands", "per_hand"]
Subset = Literal["H+M", "H"]


@dataclass(frozen=True)
class Protocol:
    """Every choice that changes an InterHand2.6M/HIC number.

    Attributes:
        name: preset name.
        root: joint subtracted from prediction and ground truth before comparing (per hand): ``wrist`` (joint 0)
            or ``middle_mcp`` (joint 9 of the wrist-first order, Middle_1).
        scale_to_gt_bone: rescale the prediction (joints and vertices) per hand so that its wrist-to-Middle_1
            length equals the ground truth's (IntagHand's alignment).
        gt_joints: ``mesh_regressed``: joints regressed from the ground-truth (NeuralAnnot) mesh with the
            evaluation fingertips (745/317/444/556/673 for MANO); ``annotated``: InterHand2.6M's ``joint_3d``.
        pred_joints: ``mesh_regressed``: regressed from the predicted mesh exactly as the ground truth;
            ``model``: the network's own joints (training fingertips, 445 for the middle tip).
        joint_mask: ``ih26m_order_unremapped`` reproduces the official bug: the per-joint validity mask, stored in
            InterHand2.6M order (tip first, wrist last), is indexed with wrist-first joint indices.
            ``remapped`` converts the mask to the joints' order first.
        joint_mask_uses_3d_validity: AND the mask (``joint_trunc``, the data JSON's 2D-aware validity) with the 3D
            validity of ``joint_3d``. Needed whenever annotated joints are compared (an invalid 3D joint holds a
            placeholder); a no-op in the release, where the 2D mask implies the 3D one.
        missing_mesh: what happens to a hand with valid joints but no NeuralAnnot fit when ground-truth joints are
            mesh-regressed. ``zero_gt``: the official behaviour: its ground-truth mesh is all zeros, the scale
            becomes 0 and each of its joints scores exactly 0 mm. ``exclude``: not scored.
        mpjpe_aggregation: ``per_joint_mean``: average each of the 42 joint slots over samples, then average the
            slot means (``print_eval_result``; "all" averages the 84 SH and IH slot means). ``sample_weighted``:
            each sample's mean over its scored joints, then the mean over samples.
        mpvpe_interacting: ``mean_of_both_hands``: an interacting sample counts once, with the mean of its two
            hands, and only when both hands have a fit (official). ``per_hand``: each fitted hand counts on its own
            (InterWild).
        ih26m_subset: InterHand2.6M test subset the preset is defined on: ``H+M`` (849,160 annotations, the
            official code) or ``H`` (121,573 human-annotated ids of ``aid_human_annot_test.txt``, InterWild).
        used_by: papers/code that report numbers under this protocol (documentation only).
    """

    name: str
    root: Root
    scale_to_gt_bone: bool
    gt_joints: JointSource
    pred_joints: PredJointSource
    joint_mask: MaskOrder
    joint_mask_uses_3d_validity: bool
    missing_mesh: MissingMesh
    mpjpe_aggregation: JointAggregation
    mpvpe_interacting: MpvpeInteracting
    ih26m_subset: Subset
    used_by: str = ""

    def __post_init__(self) -> None:
        if self.gt_joints == "annotated" and self.joint_mask == "ih26m_order_unremapped":
            raise ValueError("the unremapped-mask quirk only exists with mesh-regressed joints")

    @property
    def root_index(self) -> int:
        """Index of the root in the wrist-first 21-joint order."""
        return WRIST if self.root == "wrist" else MIDDLE_MCP

    def signature(self) -> str:
        """One line naming every choice; printed and stored with every result."""
        root = "wrist(J0)" if self.root == "wrist" else "middle_mcp(J9)"
        scale = "gt_bone_length(J0-J9)" if self.scale_to_gt_bone else "none"
        gt = "mesh_regressed(eval tips)" if self.gt_joints == "mesh_regressed" else "annotated(ih26m joint_3d)"
        pred = "mesh_regressed(eval tips)" if self.pred_joints == "mesh_regressed" else "model(train tips)"
        mask = "joint_trunc" + ("&joint_valid" if self.joint_mask_uses_3d_validity else "")
        mask += "[ih26m order, not remapped]" if self.joint_mask == "ih26m_order_unremapped" else "[remapped]"
        parts = [
            f"protocol={self.name}",
            f"root={root}",
            f"scale={scale}",
            "rotation=none",
            f"gt_joints={gt}",
            f"pred_joints={pred}",
            f"mask={mask}",
        ]
        if self.gt_joints == "mesh_regressed":
            parts.append(f"no_gt_mesh={'scored_0mm' if self.missing_mesh == 'zero_gt' else 'excluded'}")
        parts += [
            f"mpjpe={self.mpjpe_aggregation}",
            f"mpvpe_ih={self.mpvpe_interacting}",
            f"ih26m_subset={self.ih26m_subset}",
        ]
        return " | ".join(parts)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["signature"] = self.signature()
        return out


#: The official evaluator (``jkpark0825/EANet`` ``data/InterHand26M/InterHand26M.py``), quirk for quirk:
#: - meshes x1000 to mm; joints regressed from pred and GT meshes with MANO's J_regressor + tips 745/317/444/556/673
#:   (not the training tip 445), each hand with its own regressor; annotated joints unused;
#: - root = Middle_1 (joint 9); prediction (joints and vertices) rescaled by |GT J9-J0| / |pred J9-J0|;
#: - joint j's error counted iff ``joint_trunc[j]``, a mask in InterHand2.6M order, applied to wrist-first joints
#:   (the model's and the regressor's order);
#: - no NeuralAnnot fit -> all-zero GT mesh -> scale 0 -> 0 mm errors that enter MPJPE;
#: - MPJPE per joint slot over samples, then mean of slot means; "all" = mean of 84 slot means (``print_eval_result``);
#: - MPVPE SH = annotated hand if fitted; IH = mean of both hands, both fits required; "all" sample-weighted;
#: - test set H+M (all of ``InterHand2.6M_test_data_hm.json``; its ``aid_human_annot_test.txt`` H filter is commented
#:   out). The official code has no MRRPE and no PA-MPJPE; ours are extras.
OFFICIAL = Protocol(
    name="official",
    root="middle_mcp",
    scale_to_gt_bone=True,
    gt_joints="mesh_regressed",
    pred_joints="mesh_regressed",
    joint_mask="ih26m_order_unremapped",
    joint_mask_uses_3d_validity=False,
    missing_mesh="zero_gt",
    mpjpe_aggregation="per_joint_mean",
    mpvpe_interacting="mean_of_both_hands",
    ih26m_subset="H+M",
    used_by="EANet official code (jkpark0825/EANet main/test.py)",
)

#: IntagHand's alignment (Middle_1 root + GT bone-length scale, mesh-regressed joints with tip 444) with the two
#: official quirks fixed: the mask is remapped into the joints' order, and hands without a GT mesh are not scored
#: (instead of scoring 0 mm). MPJPE is sample-weighted, which is what IntagHand's ``apps/eval_interhand.py``
#: computes (it averages every joint of every sample; its test frames are all-valid, where the two weightings agree).
INTAGHAND = Protocol(
    name="intaghand",
    root="middle_mcp",
    scale_to_gt_bone=True,
    gt_joints="mesh_regressed",
    pred_joints="mesh_regressed",
    joint_mask="remapped",
    joint_mask_uses_3d_validity=False,
    missing_mesh="exclude",
    mpjpe_aggregation="sample_weighted",
    mpvpe_interacting="mean_of_both_hands",
    ih26m_subset="H+M",
    used_by="IntagHand (CVPR22), ACR (CVPR23), EANet paper tables (same alignment)",
)

#: InterWild's ``InterHand26M.evaluate`` (``data/InterHand26M/InterHand26M.py``): wrist root, no scale, the annotated
#: InterHand2.6M joints against the network's joints, per-joint-mean aggregation, MPVPE on wrist-aligned
#: NeuralAnnot meshes with each interacting hand counted separately, H test subset; MRRPE from the annotated wrists.
#: One deliberate difference: the joint mask also requires 3D validity (InterWild uses the 2D-aware mask alone; an
#: invalid 3D joint holds a placeholder, so scoring it would be meaningless).
INTERWILD = Protocol(
    name="interwild",
    root="wrist",
    scale_to_gt_bone=False,
    gt_joints="annotated",
    pred_joints="model",
    joint_mask="remapped",
    joint_mask_uses_3d_validity=True,
    missing_mesh="exclude",
    mpjpe_aggregation="per_joint_mean",
    mpvpe_interacting="per_hand",
    ih26m_subset="H",
    used_by="InterWild (CVPR23); InterNet/Keypoint Transformer use the same root on all of test",
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (OFFICIAL, INTAGHAND, INTERWILD)}


def get_protocol(name: str) -> Protocol:
    """The preset called ``name``; raises :class:`InvalidInputError` listing the presets otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown evaluation protocol {name!r}; choose one of {', '.join(PROTOCOLS)} (see docs/eval.md)"
        ) from None
