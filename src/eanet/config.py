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
import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from eanet.data.config import DataConfig
from eanet.errors import UserError
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
    "dump_config",
    "apply_overrides",
    "list_named_configs",
    "named_config_path",
]

BASE_KEY = "_base_"

#: Keys that once existed, by dotted name, with what to set instead: a file or override that still sets one gets
#: this advice rather than the plain list of allowed keys.
REMOVED_KEYS: dict[str, str] = {
    "data.input_size": "the crops are the model's input size: set model.input_size instead",
    "data.heatmap_shape": (
        "the heatmap shape is the model's, (model.heatmap_depth, model.input_size / model.output_stride): set "
        "model.input_size, model.output_stride or model.heatmap_depth instead"
    ),
}


class ConfigError(UserError, ValueError):
    """A configuration file or override is malformed: unknown key, wrong type or missing base file."""


class _NonFiniteNumberError(ConfigError):
    """A float key got NaN or an infinity (completed with the key's default where the key is known)."""


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


# ----------------------------------------------------------------------------------------------------------------
# dict <-> dataclass


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Convert a YAML value to the annotated type ``tp``, raising :class:`ConfigError` naming ``where``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__} {value!r}")
        return _dataclass_from_dict(tp, value, where)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where}: may not be null (expected {_type_name(tp)})")
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1:  # ``X | None``: X's own message is the precise one
            return _convert(value, options[0], where)
        errors = []
        for arg in options:
            try:
                return _convert(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where}: {value!r} does not match {_type_name(tp)} ({'; '.join(errors)})")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (tuple, Sequence, list) or tp in (tuple, list):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}: {value!r}")
            items = [_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))]
        else:
            item_tp = args[0] if args else Any
            items = [_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return list(items) if origin is list else tuple(items)
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        args = get_args(tp) or (str, Any)
        return {_convert(k, args[0], where): _convert(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        number: float | None = None
        if isinstance(value, str):
            # YAML 1.1 reads "2e-4" (no dot) as a string; accept any text Python reads as a number.
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}: expected a number, got {value!r}")
            number = float(value)
        if not math.isfinite(number):
            # No configuration number means anything as NaN or infinity, and NaN passes every "<= 0" check of the
            # sections' __post_init__ (train.lr=nan trained with NaN updates); one check here covers every float key.
            raise _NonFiniteNumberError(f"{where}: {value!r} is not a finite number; give a finite value")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported annotation {_type_name(tp)}")


def _dataclass_from_dict(cls: type, data: Mapping[str, Any], where: str = "") -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        removed = [prefix + k for k in unknown if prefix + k in REMOVED_KEYS]
        others = [prefix + k for k in unknown if prefix + k not in REMOVED_KEYS]
        problems = [
            f"configuration key {key} was removed: {REMOVED_KEYS[key]} (delete it from the file or override)"
            for key in removed
        ]
        if others:
            problems.append(
                f"unknown configuration key(s) {', '.join(others)}; "
                f"keys allowed in {where or 'the top level'}: {', '.join(sorted(known))}"
            )
        raise ConfigError("; ".join(problems))
    kwargs = {}
    for key, value in data.items():
        try:
            kwargs[key] = _convert(value, hints[key], f"{where}.{key}" if where else key)
        except _NonFiniteNumberError as err:
            default = _field_default(cls, key)
            raise ConfigError(f"{err}{f' (default: {default!r})' if default is not dataclasses.MISSING else ''}") from None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:  # __post_init__ validation
        raise ConfigError(f"{where or 'config'}: {err}") from err


def _field_default(cls: type, name: str) -> Any:
    for f in fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    return dataclasses.MISSING


def config_from_dict(data: Mapping[str, Any], cls: type = Config) -> Any:
    """Build a (nested) configuration dataclass from a plain mapping; unknown keys raise :class:`ConfigError`."""
    return _dataclass_from_dict(cls, data)


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
    model_cfg = _convert(model_section, ModelConfig, "model")
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


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain, YAML-safe dict of a configuration dataclass (tuples become lists)."""

    def plain(v: Any) -> Any:
        if is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


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

