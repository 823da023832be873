"""What the synthetic generator makes: :class:`SynthConfig` (every ``eanet synth`` option) and its defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from eanet.errors import InvalidInputError

__all__ = ["SynthConfig", "DEFAULT_KIND_WEIGHTS", "DEFAULT_HUMAN_FRACTION", "SPLIT_INDEX"]

#: Share of sequences per configuration (interacting: touch/overlap/interlaced/far; single: right/left).
DEFAULT_KIND_WEIGHTS: dict[str, float] = {
    "touch": 0.22,
    "overlap": 0.14,
    "interlaced": 0.12,
    "far": 0.12,
    "right": 0.2,
    "left": 0.2,
}
#: Share of each split's frames marked human-annotated ("H"), as in the release: train 528,482 / 1,361,062 and
#: test 121,573 / 849,160 annotations (InterHand2.6M v1.0, 5 fps); val has no H subset.
DEFAULT_HUMAN_FRACTION: dict[str, float] = {"train": 0.39, "test": 0.14}
#: Index of each split in the seeds of its random choices.
SPLIT_INDEX = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class SynthConfig:
    """What to generate (every field has a CLI option in ``eanet synth``).

    Attributes:
        num_frames: time steps per split; each is seen by ``cameras`` cameras (images = frames x cameras).
        split_frames: time steps of particular splits instead of ``num_frames`` (e.g. ``{"test": 160}``: a large
            training split with a small held-out one, in one run so that the splits get distinct subjects and rigs).
        cameras: cameras per capture rig.
        splits: splits to write.
        seed: master seed.
        hand_model: ``"open"`` (built-in) or ``"mano"``.
        mano_dir: MANO directory (``hand_model="mano"``; None: ``$EANET_MANO_DIR``).
        width, height: image size (the release's is 334 x 512, portrait).
        frames_per_sequence: frames of one motion sequence.
        sequences_per_capture: sequences filmed by one rig (one subject, one skin tone, one hand shape).
        kind_weights: share of sequences per configuration (see :data:`DEFAULT_KIND_WEIGHTS`).
        grayscale_fraction: chance that a camera is grayscale.
        jpeg_quality: inclusive range of JPEG qualities.
        human_fraction: per split, share of frames listed in ``aid_human_annot_<split>.txt``.
        missing_mano_fraction: share of frames absent from ``_MANO_NeuralAnnot.json``.
        joint_dropout_fraction: share of frames where 1-3 joints are marked not annotated.
        wrist_dropout_fraction: per hand and frame, chance that its wrist is not annotated (its MANO is then None).
        rootnet_depth_noise_mm: std of the error added to the RootNet-style absolute depths.
        hic_frames: frames of the HIC-format set (0: none).
        masks: also write hand masks (PNG, 0 background / 1 right / 2 left).
        backend: renderer backend (``auto``, ``pyrender``, ``torch``).
        workers: worker processes (0: render in this process).
        view_spread: in ``(0, 1]``: 1 (default) films hands in any orientation from cameras all around (camera-frame
            hand orientations cover nearly all rotations); below 1 the cameras and the hands' orientations are
            narrowed around a front view by this factor (``sample_camera_rig``, ``SceneSampler``), for small
            recipes that must learn in minutes (``docs/synthetic.md``).
    """

    num_frames: int = 32
    split_frames: dict[str, int] = field(default_factory=dict)
    cameras: int = 4
    splits: tuple[str, ...] = ("train", "val", "test")
    seed: int = 0
    hand_model: str = "open"
    mano_dir: str | None = None
    width: int = 334
    height: int = 512
    frames_per_sequence: int = 8
    sequences_per_capture: int = 6
    kind_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS))
    grayscale_fraction: float = 0.15
    jpeg_quality: tuple[int, int] = (88, 95)
    human_fraction: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HUMAN_FRACTION))
    missing_mano_fraction: float = 0.03
    joint_dropout_fraction: float = 0.08
    wrist_dropout_fraction: float = 0.01
    rootnet_depth_noise_mm: float = 25.0
    hic_frames: int = 0
    masks: bool = False
    backend: str = "auto"
    workers: int = 0
    view_spread: float = 1.0

    def frames_of(self, split: str) -> int:
        """Time steps generated for ``split``."""
        return int(self.split_frames.get(split, self.num_frames))

    def validate(self) -> None:
        if self.num_frames < 1:
            raise InvalidInputError(f"num_frames must be at least 1, got {self.num_frames}")
        for split, count in self.split_frames.items():
            if split not in self.splits:
                raise InvalidInputError(
                    f"split_frames names split {split!r}, which is not generated (splits: {list(self.splits)})"
                )
            if int(count) < 1:
                raise InvalidInputError(f"split_frames[{split!r}] must be at least 1, got {count}")
        if self.cameras < 1:
            raise InvalidInputError(f"cameras must be at least 1, got {self.cameras}")
        bad = [s for s in self.splits if s not in SPLIT_INDEX]
        if bad or not self.splits or len(set(self.splits)) != len(self.splits):
            raise InvalidInputError(f"splits must be distinct names from train, val, test; got {list(self.splits)}")
        if self.hand_model not in ("open", "mano"):
            raise InvalidInputError(f"hand model must be 'open' or 'mano', got {self.hand_model!r}")
        if self.width < 16 or self.height < 16:
            raise InvalidInputError(f"image size {self.width}x{self.height} is too small; use at least 16x16")
        if self.frames_per_sequence < 1 or self.sequences_per_capture < 1:
            raise InvalidInputError("frames_per_sequence and sequences_per_capture must be at least 1")
        unknown = set(self.kind_weights) - set(DEFAULT_KIND_WEIGHTS)
        if unknown or not any(w > 0 for w in self.kind_weights.values()) or min(self.kind_weights.values()) < 0:
            raise InvalidInputError(
                f"kind weights must be non-negative, not all zero, over {sorted(DEFAULT_KIND_WEIGHTS)}; got "
                f"{self.kind_weights}"
            )
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100:
            raise InvalidInputError(f"jpeg quality range must satisfy 1 <= low <= high <= 100, got {self.jpeg_quality}")
        if not 0.0 < self.view_spread <= 1.0:
            raise InvalidInputError(f"view spread must be in (0, 1] (1: the full variety), got {self.view_spread}")
        if self.hic_frames < 0 or self.workers < 0:
            raise InvalidInputError("hic_frames and workers must be non-negative")
        for name in ("grayscale_fraction", "missing_mano_fraction", "joint_dropout_fraction", "wrist_dropout_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidInputError(f"{name} must be in [0, 1], got {getattr(self, name)}")
