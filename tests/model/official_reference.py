"""An independent, functional re-statement of the official EANet forward (``main/model.py``), used as a test oracle.

It reads an **official-format** state dict (official key names, no ``module.`` prefix) directly, so it checks the
key table of ``eanet.model.official`` as well as the math of our modules: it shares no module code with
``eanet.model``. Self-attention blocks run through ``timm``'s ``Block`` (what the official code uses) with the
explicit (non-fused) attention; cross-attention is written out as ``softmax(q k^T * scale) v``; the 6D conversion
crosses along "the first dimension of size 3" as the official ``torch.cross(b1, b2)`` without ``dim`` does
(``transforms.py:72``), unless ``official_cross_bug=False``.

Eval mode only (BatchNorm with running statistics). Widths, depths and heads are read from the tensors' shapes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from smplx.lbs import lbs
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from eanet.geometry import rotmat_to_axis_angle
from eanet.hand_model.skeleton import MANO16_TIPS_TO_JOINTS_21


def _conv_bn_relu(x: Tensor, sd: dict, pre: str, bn_relu: bool = True) -> Tensor:
    x = F.conv2d(x, sd[pre + "0.weight"], sd[pre + "0.bias"])
    if not bn_relu:
        return x
    x = F.batch_norm(
        x, sd[pre + "1.running_mean"], sd[pre + "1.running_var"], sd[pre + "1.weight"], sd[pre + "1.bias"],
        training=False, eps=1e-5,
    )  # fmt: skip
    return F.relu(x)


def _timm_block(x: Tensor, sd: dict, pre: str, heads: int) -> Tensor:
    dim = x.shape[-1]
    hidden = sd[pre + "mlp.fc1.weight"].shape[0]
    block = Block(dim, heads, hidden / dim, qkv_bias=False, norm_layer=nn.LayerNorm)
    block.attn.fused_attn = False  # the explicit softmax path, as older timm versions compute it
    block.load_state_dict({k[len(pre) :]: v for k, v in sd.items() if k.startswith(pre)}, strict=True)
    return block.eval()(x)


def _layer_norm(x: Tensor, sd: dict, pre: str) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], sd[pre + "weight"], sd[pre + "bias"], eps=1e-5)


def _cross_block(q: Tensor, k: Tensor, sd: dict, pre: str, heads: int) -> Tensor:
    B, Nq, C = q.shape
    Nk = k.shape[1]
    hd = C // heads
    qn, kn = _layer_norm(q, sd, pre + "norm1."), _layer_norm(k, sd, pre + "norm2.")
    qh = (qn @ sd[pre + "attn.q.weight"].T).reshape(B, Nq, heads, hd).permute(0, 2, 1, 3)
    kh = (kn @ sd[pre + "attn.k.weight"].T).reshape(B, Nk, heads, hd).permute(0, 2, 1, 3)
    vh = (kn @ sd[pre + "attn.v.weight"].T).reshape(B, Nk, heads, hd).permute(0, 2, 1, 3)
    attn = ((qh @ kh.transpose(-2, -1)) * hd**-0.5).softmax(dim=-1)
    out = (attn @ vh).transpose(1, 2).reshape(B, Nq, C)
    q = q + F.linear(out, sd[pre + "attn.proj.weight"], sd[pre + "attn.proj.bias"])
    h = F.gelu(_layer_norm(q, sd, pre + "norm3.") @ sd[pre + "mlp.fc1.weight"].T) @ sd[pre + "mlp.fc2.weight"].T
    return q + h


def _count(sd: dict, pre: str) -> int:
    return len({k[len(pre) :].split(".")[0] for k in sd if k.startswith(pre)})


def _fuseformer(f1: Tensor, f2: Tensor, sd: dict, pre: str, heads: int) -> Tensor:
    B, C, H, W = f1.shape
    t1 = f1.reshape(B, C, H * W).permute(0, 2, 1)
    t2 = f2.reshape(B, C, H * W).permute(0, 2, 1)
    join = F.linear(torch.cat((t1, t2), -1), sd[pre + "FC.weight"], sd[pre + "FC.bias"])
    pos = sd[pre + "pos_embed"]
    sim = torch.cat((t1, t2), 1) + pos[:, 1:]
    sim = torch.cat(((sd[pre + "cls_token"] + pos[:, :1]).expand(B, -1, -1), sim), 1)
    for i in range(_count(sd, pre + "SA_T.")):
        sim = _timm_block(sim, sd, f"{pre}SA_T.{i}.", heads)
    sim = F.linear(sim, sd[pre + "FC2.weight"], sd[pre + "FC2.bias"])
    q = join + sd[pre + "CA_T.pos_embed"]
    k = sim + sd[pre + "CA_T.pos_embed2"]
    for i in range(_count(sd, pre + "CA_T.blocks.")):
        q = _cross_block(q, k, sd, f"{pre}CA_T.blocks.{i}.", heads)
    out = F.linear(q, sd[pre + "FC3.weight"], sd[pre + "FC3.bias"])
    return out.permute(0, 2, 1).reshape(B, C, H, W)


def _soft_argmax(hm: Tensor) -> Tensor:
    B, J, D, H, W = hm.shape
    p = hm.reshape(B, J, -1).softmax(2).reshape(B, J, D, H, W)
    x = (p.sum((2, 3)) * torch.arange(W, dtype=hm.dtype)).sum(2)
    y = (p.sum((2, 4)) * torch.arange(H, dtype=hm.dtype)).sum(2)
    z = (p.sum((3, 4)) * torch.arange(D, dtype=hm.dtype)).sum(2)
    return torch.stack((x, y, z), 2)


def _rot6d_to_axis_angle(x: Tensor, official_cross_bug: bool) -> Tensor:
    x = x.reshape(-1, 3, 2)
    a1, a2 = x[:, :, 0], x[:, :, 1]
    b1 = F.normalize(a1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1)
    # torch.cross without dim crosses along the first dimension of size 3 (official transforms.py:72).
    dim = next(d for d, n in enumerate(b1.shape) if n == 3) if official_cross_bug else -1
    b3 = torch.linalg.cross(b1, b2, dim=dim)
    return rotmat_to_axis_angle(torch.stack((b1, b2, b3), dim=-1))


def _backbone(img: Tensor, sd: dict) -> Tensor:
    pre = "hand_backbone."
    sub = {k[len(pre) :]: v for k, v in sd.items() if k.startswith(pre)}
    blocks = tuple(_count(sub, f"layer{i}.") for i in range(1, 5))
    bottleneck = "layer1.0.conv3.weight" in sub
    name = {
        ((2, 2, 2, 2), False): "resnet18", ((3, 4, 6, 3), False): "resnet34", ((3, 4, 6, 3), True): "resnet50",
        ((3, 4, 23, 3), True): "resnet101", ((3, 8, 36, 3), True): "resnet152",
    }[blocks, bottleneck]  # fmt: skip
    net = getattr(torchvision.models, name)(weights=None)
    del net.fc
    net.load_state_dict(sub, strict=True)
    net.eval()
    x = net.maxpool(net.relu(net.bn1(net.conv1(img))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


def reference_forward(
    sd: dict[str, Tensor],
    img: Tensor,
    hand_data: dict,
    heatmap_depth: int,
    heads: int,
    sjt_heads: int,
    official_cross_bug: bool = True,
) -> dict[str, Tensor]:
    """Official test-mode outputs (``rmano_mesh_cam`` etc.) for ``img`` (B, 3, H, W).

    Args:
        sd: official-format state dict (eval mode: BatchNorm running statistics are used).
        hand_data: ``{"right": {...}, "left": {...}}`` of tensors ``v_template, shapedirs (V,3,10),
            posedirs (135, V*3), J_regressor (16,V), weights (V,16), parents (16,), hands_mean (45,), tips (5,)``.
    """
    with torch.no_grad():
        feat = _backbone(img, sd)
        ea = "hand_position_net.EABlock."
        r = _conv_bn_relu(feat, sd, ea + "conv_r.")
        l = _conv_bn_relu(feat, sd, ea + "conv_l.")  # noqa: E741
        inter = _fuseformer(r, l, sd, ea + "Extract.", heads)
        rinter = _fuseformer(r, inter, sd, ea + "Adapt_r.", heads)
        linter = _fuseformer(l, inter, sd, ea + "Adapt_l.", heads)
        r = _conv_bn_relu(torch.cat((r, rinter), 1), sd, ea + "conv_r2.")
        l = _conv_bn_relu(torch.cat((l, linter), 1), sd, ea + "conv_l2.")  # noqa: E741
        B, _, H, W = r.shape
        out = {}
        joints_img = {}
        for side, f, c in (("right", r, "r"), ("left", l, "l")):
            hm = _conv_bn_relu(f, sd, f"hand_position_net.conv_{c}2.", bn_relu=False)
            joints_img[side] = _soft_argmax(hm.view(B, 21, heatmap_depth, H, W))
        rn = "hand_rotation_net."
        out["rel_trans"] = F.linear(
            F.relu(F.linear(torch.cat((r, l), 1).mean((2, 3)), sd[rn + "root_relative.0.weight"],
                            sd[rn + "root_relative.0.bias"])),
            sd[rn + "root_relative.2.weight"], sd[rn + "root_relative.2.bias"],
        )  # fmt: skip
        for side, f, c in (("right", r, "r"), ("left", l, "l")):
            j = joints_img[side]
            shape = F.linear(f.mean((2, 3)), sd[f"{rn}{c}shape_out.0.weight"], sd[f"{rn}{c}shape_out.0.bias"])
            cam = F.linear(f.mean((2, 3)), sd[f"{rn}{c}cam_out.0.weight"], sd[f"{rn}{c}cam_out.0.bias"])
            g = _conv_bn_relu(f, sd, f"{rn}{c}conv.")
            grid = torch.stack((j[:, :, 0] / (W - 1) * 2 - 1, j[:, :, 1] / (H - 1) * 2 - 1), 2)[:, :, None]
            tok = F.grid_sample(g, grid, align_corners=True)[:, :, :, 0].permute(0, 2, 1)
            tpre = f"{rn}Transformer_{c}."
            tok = tok + sd[tpre + "pos_embed"]
            for i in range(_count(sd, tpre + "blocks.")):
                tok = _timm_block(tok, sd, f"{tpre}blocks.{i}.", sjt_heads)
            reg = torch.cat((tok, j), 2).view(B, -1)
            root6d = F.linear(reg, sd[f"{rn}{c}root_pose_out.0.weight"], sd[f"{rn}{c}root_pose_out.0.bias"])
            pose6d = F.linear(reg, sd[f"{rn}{c}pose_out.0.weight"], sd[f"{rn}{c}pose_out.0.bias"])
            root_pose = _rot6d_to_axis_angle(root6d, official_cross_bug).reshape(-1, 3)
            hand_pose = _rot6d_to_axis_angle(pose6d.view(-1, 6), official_cross_bug).reshape(-1, 45)

            d = hand_data[side]
            full_pose = torch.cat((root_pose, hand_pose + d["hands_mean"]), 1)
            verts, _ = lbs(shape, full_pose, d["v_template"], d["shapedirs"], d["posedirs"], d["J_regressor"],
                           d["parents"], d["weights"])  # fmt: skip
            tips = torch.zeros(5, verts.shape[1])
            tips[torch.arange(5), d["tips"]] = 1
            regressor = torch.cat((d["J_regressor"], tips), 0)[list(MANO16_TIPS_TO_JOINTS_21)]
            joint_cam = torch.einsum("jv,bvc->bjc", regressor, verts)
            proj = torch.stack(
                (joint_cam[:, :, 0] * cam[:, None, 0] + cam[:, None, 1],
                 joint_cam[:, :, 1] * cam[:, None, 0] + cam[:, None, 2]), 2
            )  # fmt: skip
            root = joint_cam[:, 0, None]
            out.update({
                f"{c}joint_img": j, f"{c}mano_root_pose": root_pose, f"{c}mano_hand_pose": hand_pose,
                f"{c}mano_shape": shape, f"{c}cam": cam, f"{c}mano_joint": proj,
                f"{c}mano_joint_cam": joint_cam - root, f"{c}mano_mesh_cam": verts - root, f"{c}mano_root_cam": root[:, 0],
            })  # fmt: skip
    return out
