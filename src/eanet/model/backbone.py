"""ResNet trunk up to C5 (paper §3.1; official ``common/nets/resnet.py``), from torchvision's ResNet minus pool and fc.

Parameter names equal torchvision's (``conv1``, ``bn1``, ``layer1`` .. ``layer4``), so torchvision / ImageNet state
dicts load into it directly and the official ``hand_backbone.*`` keys map one to one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor, nn

from eanet.errors import CheckpointMismatchError, MissingFileError, UserError, state_shape_mismatch

__all__ = ["ResNetBackbone", "BACKBONE_CHANNELS", "init_backbone", "torchvision_random_init"]

logger = logging.getLogger(__name__)

#: Output channels of C5 for each supported trunk.
BACKBONE_CHANNELS: dict[str, int] = {
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
    "resnet101": 2048,
    "resnet152": 2048,
}


class ResNetBackbone(nn.Module):
    """ResNet C5 features at stride 32 (or 16): a 256x256 image gives ``(B, 2048, 8, 8)`` for ResNet-50.

    Initialisation as the official ``ResNetBackbone`` (``common/nets/resnet.py``): every Conv2d N(0, 0.001), every
    BatchNorm (1, 0); then, when asked, pretrained weights replace them.

    Args:
        name: ``resnet18`` .. ``resnet152`` (torchvision's v1.5 layout, stride on the 3x3 convolution).
        weights: ``None`` (random init), ``"imagenet"`` (torchvision's ``IMAGENET1K_V1`` weights, the ones the
            official code loads; downloaded by torchvision) or a path to a state dict of a torchvision ResNet
            (``fc.*`` keys are ignored).
        output_stride: 32 (torchvision's trunk, official) or 16: the last stage keeps the resolution of the one
            before it and its later 3x3 convolutions are dilated by 2 to keep their receptive field (DeepLab's
            ``replace_stride_with_dilation``, done here for BasicBlock trunks too). No weight changes shape, so
            ImageNet weights load either way.
        stages: 4 (the whole trunk, C5) or 3 (stop after ``layer3``: C4 features at stride 16 with half of
            C5's channels, for CPU recipes: at 128 px the dilated last stage costs more than the three before it).
            With 3 stages ``output_stride`` must be 16; ImageNet weights then load without the ``layer4.*`` keys.
    """

    def __init__(
        self, name: str = "resnet50", weights: str | Path | None = None, output_stride: int = 32, stages: int = 4
    ) -> None:
        super().__init__()
        import torchvision

        if name not in BACKBONE_CHANNELS:
            raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONE_CHANNELS)}")
        net = getattr(torchvision.models, name)(weights=None)
        if stages not in (3, 4):
            raise ValueError(f"stages must be 3 or 4, got {stages}")
        if output_stride not in (16, 32) or (stages == 3 and output_stride != 16):
            raise ValueError(
                f"output_stride must be 16 or 32 (16 with 3 stages), got {output_stride} with {stages} stages"
            )
        self.name = name
        # C4 has half of C5's channels in every torchvision ResNet.
        self.out_channels = BACKBONE_CHANNELS[name] if stages == 4 else BACKBONE_CHANNELS[name] // 2
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3 = net.layer1, net.layer2, net.layer3
        self.layer4 = net.layer4 if stages == 4 else nn.Identity()
        if stages == 4 and output_stride == 16:
            _dilate_last_stage(self.layer4)
        self.output_stride = output_stride
        self.stages = stages
        self._init_official()
        if weights is not None:
            self.load_pretrained(weights)

    @torch.no_grad()
    def _init_official(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def load_pretrained(self, weights: str | Path) -> None:
        """Load ImageNet weights (``"imagenet"``) or a torchvision-layout state dict file, strictly (``fc`` dropped)."""
        if str(weights) == "imagenet":
            import torchvision

            enum = torchvision.models.get_model_weights(self.name)
            state = enum.IMAGENET1K_V1.get_state_dict(progress=False)
            source = f"torchvision {self.name} IMAGENET1K_V1"
        else:
            path = Path(weights)
            if not path.is_file():
                raise MissingFileError(
                    f"backbone weights file {str(path)!r} does not exist; pass model.backbone_weights=imagenet, a "
                    "path to a torchvision ResNet state dict, or null"
                )
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
            source = str(path)
        dropped = ("fc.",) if self.stages == 4 else ("fc.", "layer4.")
        state = {k: v for k, v in state.items() if not k.startswith(dropped)}
        own = {k: tuple(v.shape) for k, v in self.state_dict().items()}
        mismatch = state_shape_mismatch(own, {k: tuple(v.shape) for k, v in state.items()})
        if mismatch:
            raise CheckpointMismatchError(
                f"backbone weights from {source} do not fit a {self.name}: {mismatch}; pass a torchvision {self.name} "
                "state dict"
            )
        self.load_state_dict(state, strict=True)
        logger.info("loaded backbone weights from %s", source)

    def forward(self, img: Tensor) -> Tensor:
        """``(B, 3, H, W) -> (B, C5, H/s, W/s)`` with ``s = output_stride``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(img))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def init_backbone(backbone: ResNetBackbone, init: str | Path) -> None:
    """Initialise a trunk before training (``train.backbone_init``).

    Args:
        backbone: the trunk, in place.
        init: ``"random"`` (:func:`torchvision_random_init`), ``"imagenet"`` or a path to a torchvision ResNet state
            dict (:meth:`ResNetBackbone.load_pretrained`).
    """
    if init == "random":
        torchvision_random_init(backbone)
        logger.info("backbone initialised at random as torchvision does (Kaiming-normal convolutions)")
    else:
        backbone.load_pretrained(init)
        logger.info("backbone initialised from %s", init)


def torchvision_random_init(backbone: nn.Module) -> None:
    """Give ``backbone`` (a :class:`ResNetBackbone`) the weights of a freshly built torchvision ResNet.

    torchvision initialises convolutions Kaiming-normal (fan-out) and BatchNorm to (1, 0); the official init
    (normal(0, 0.001), in ``common/nets/resnet.py``) only ever preceded loading ImageNet weights. With BatchNorm
    after every convolution, tiny weights make Adam's fixed-size steps relatively huge (the effective step of a
    scale-invariant weight grows as 1 / |w|^2), which is why training from scratch needs this init. Draws from
    torch's global generator, so the result follows the run's seed.
    """
    import torchvision

    name = getattr(backbone, "name", None)
    if name is None or not hasattr(torchvision.models, name):
        raise UserError(f"train.backbone_init=random needs a torchvision ResNet trunk; this backbone is {name!r}")
    own = backbone.state_dict()  # a 3-stage trunk has no layer4.*
    state = {k: v for k, v in getattr(torchvision.models, name)(weights=None).state_dict().items() if k in own}
    backbone.load_state_dict(state, strict=True)


def _dilate_last_stage(stage: nn.Sequential) -> None:
    """Turn a stride-2 ResNet stage into a stride-1 stage with dilation 2 (in place, weights untouched).

    The strided 3x3 convolution and the shortcut's 1x1 lose their stride; every other 3x3 convolution of the stage
    is dilated by 2 (padding 2 keeps the size), as torchvision's ``replace_stride_with_dilation`` does for
    Bottleneck stages.
    """
    for block_index, block in enumerate(stage):
        for module in block.modules():
            if not isinstance(module, nn.Conv2d):
                continue
            if module.stride == (2, 2):
                module.stride = (1, 1)
            elif module.kernel_size == (3, 3) and (block_index > 0 or _after_strided(block, module)):
                module.dilation, module.padding = (2, 2), (2, 2)


def _after_strided(block: nn.Module, conv: nn.Conv2d) -> bool:
    """Whether ``conv`` comes after the block's (formerly) strided 3x3 convolution: BasicBlock's ``conv2``."""
    return getattr(block, "conv2", None) is conv and getattr(block, "conv3", None) is None
