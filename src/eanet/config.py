"""The one configuration system: typed, frozen dataclasses loaded from YAML with dotted overrides.

A configuration file is a YAML mapping whose keys mirror :class:`Config`. A file may start from another with the
reserved key ``_base_`` (a named configuration such as ``eanet-light`` or a path relative to the file). Command-line
overrides are ``section.key=value`` strings whose values are parsed as YAML (``train.lr=2e-4``,
``model.width=256``, ``data.subset=H``). Unknown keys are errors that name the key and list the keys allowed there.

Modules never read a :class:`Config`: only the ``build_*`` functions translate a section into constructor arguments.

Named configurations live in ``eanet/configs/<name>.yaml`` inside the package; :func:`list_named_configs` lists them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from eanet.config_dict import ConfigError, config_to_dict, section_from_dict
from eanet.data.config import DataConfig
from eanet.errors import DAMAGED_FILE_REMEDY, InvalidInputError
from eanet.eval.config import EvalConfig
from eanet.hand_model.config import HandModelConfig
from eanet.inference.config import InferenceConfig
from eanet.model.config import ModelConfig
from eanet.train.config import TrainConfig

__all__ = [
    "Config",
    "ConfigError",
    "load_config",
    "config_from_dict",
    "config_from_recorded_dict",
    "config_to_dict",
    "recorded_config",
    "dump_config",
    "apply_overrides",
    "list_named_configs",
    "named_config_path",
]

BASE_KEY = "_base_"

@dataclass(frozen=True)
class Config:
    """Everything a run needs. Each section is built by its own ``build_*`` function."""

    model: ModelConfig = field(default_factory=ModelConfig)
    hand_model: HandModelConfig = field(default_factory=HandModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    #: Seed for every random generator of a run (Python, NumPy, torch, data workers).
    seed: int = 0
    #: Where a run writes its configuration, logs and checkpoints.
    output_dir: str = "runs/default"
    #: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``. Chosen once, by the CLI.
    device: str = "auto"


def config_from_dict(data: Mapping[str, Any], cls: type = Config) -> Any:
    """Build a (nested) configuration dataclass from a plain mapping; unknown keys raise :class:`ConfigError`."""
    return section_from_dict(cls, data)


def config_from_recorded_dict(data: Mapping[str, Any]) -> Config:
    """A :class:`Config` from the resolved configuration a file recorded (checkpoint, ONNX export), which may come
    from an older eanet: removed keys that only repeated the model's sizes (``data.input_size``,
    ``data.heatmap_shape``) are dropped when they agree with the model section.

    Raises:
        ConfigError: the configuration is not valid, or a removed size disagrees with the model's (the message
            names both values).
    """
    data_section = data.get("data")
    if not isinstance(data_section, Mapping) or not {"input_size", "heatmap_shape"} & set(data_section):
        return config_from_dict(data)
    model_section = data.get("model", {})
    model_cfg = section_from_dict(ModelConfig, model_section, "model")
    derived = {"input_size": tuple(model_cfg.input_size), "heatmap_shape": tuple(model_cfg.heatmap_shape)}
    data_section = dict(data_section)
    for key, model_value in derived.items():
        if key not in data_section:
            continue
        recorded = data_section.pop(key)
        if not isinstance(recorded, Sequence) or isinstance(recorded, str) or tuple(recorded) != model_value:
            raise ConfigError(
                f"the recorded data.{key} {recorded!r} disagrees with the model's {list(model_value)} (from the "
                f"model section); data.{key} was removed because the model's size is the one every run uses, and "
                "this record does not say which of the two its weights were trained with: use a file whose recorded "
                f"data.{key} is {list(model_value)} or absent"
            )
    return config_from_dict({**data, "data": data_section})


def recorded_config(data: Mapping[str, Any], source: str | Path) -> Config:
    """The :class:`Config` a checkpoint records (its stored run configuration, a plain dict), or an
    :class:`~eanet.errors.InvalidInputError` naming ``source`` when it is not a valid configuration."""
    try:
        return config_from_recorded_dict(data)
    except ConfigError as err:
        raise InvalidInputError(f"{source}: the recorded configuration is not valid ({err}): {DAMAGED_FILE_REMEDY}") from None


def dump_config(cfg: Any, path: str | Path | None = None) -> str:
    """YAML text of a configuration; also written to ``path`` when given."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    if path is not None:
        Path(path).write_text(text)
    return text


# ----------------------------------------------------------------------------------------------------------------
# files, names and overrides


def list_named_configs() -> list[str]:
    """Names of the configurations shipped with the package (``eanet``, ``eanet-light``, ablations, ...)."""
    root = resources.files("eanet") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def named_config_path(name: str) -> Path:
    root = resources.files("eanet") / "configs"
    path = Path(str(root / f"{name}.yaml"))
    if not path.is_file():
        raise ConfigError(f"no configuration named {name!r}; named configurations: {', '.join(list_named_configs())}")
    return path


def _resolve(spec: str | Path, relative_to: Path | None = None) -> Path:
    path = Path(spec)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_absolute() and relative_to is not None and not path.exists():
            path = relative_to / path
        if not path.is_file():
            raise ConfigError(f"configuration file {str(path)!r} does not exist")
        return path
    return named_config_path(str(spec))


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _read_layered(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path.resolve() in seen:
        raise ConfigError(f"configuration {path} inherits from itself through {BASE_KEY}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    base_spec = data.pop(BASE_KEY, None)
    if base_spec is None:
        return data
    base = _read_layered(_resolve(base_spec, path.parent), (*seen, path.resolve()))
    return _deep_merge(base, data)


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {err}") from err
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides to a plain mapping (validation happens when the dataclass is built)."""
    out = _deep_merge({}, data)
    for text in overrides:
        parts, value = _parse_override(text)
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
            node[part] = child = dict(child)
            node = child
        node[parts[-1]] = value
    return out


def load_config(spec: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """Load a configuration by name or YAML path (``None``: the defaults), then apply dotted overrides.

    Example:
        >>> cfg = load_config("eanet-light", ["train.batch_size=8"])
    """
    data = {} if spec is None else _read_layered(_resolve(spec))
    data = apply_overrides(data, overrides)
    return config_from_dict(data)


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported for frozen configs."""
    return dataclasses.replace(cfg, **changes)

