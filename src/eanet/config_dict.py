"""Typed configuration dataclasses <-> plain dicts: the conversion under :mod:`eanet.config`, for any section.

Light (no torch) and independent of the top-level :class:`eanet.config.Config`, so code that reads or writes one
section (the checkpoint and ONNX formats read ``model`` and ``hand_model`` from a recorded configuration) does not
depend on the whole configuration.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from eanet.errors import UserError

__all__ = ["ConfigError", "REMOVED_KEYS", "section_from_dict", "config_to_dict"]


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
        return section_from_dict(tp, value, where)
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


def section_from_dict(cls: type, data: Mapping[str, Any], where: str = "") -> Any:
    """Build the configuration dataclass ``cls`` (nested ones too) from a plain mapping; keys not given keep their
    defaults, unknown keys and wrong types raise :class:`ConfigError` naming the key (prefixed by ``where``)."""
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
