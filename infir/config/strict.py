"""Strict dataclass configs: build a typed config from plain data, or fail naming the field.

Every config section in the repository is a plain `@dataclass`. `from_dict` walks the type hints, so a
recipe, a YAML file and a CLI override all pass through the same checks:

- an unknown key fails and lists the keys the section allows;
- a value of the wrong type fails with the expected type (ints widen to floats, nothing else coerces);
- a `Literal[...]` field fails listing its allowed values;
- `field(metadata={"ge": 0})` / `{"gt": ..., "le": ..., "lt": ...}` bound numbers;
- a section may define `validate(self)` for rules across fields, raising `ConfigError` via `fail()`.

All of these raise one error type, `ConfigError`, whose `path` is the dotted field path (`optim.lr`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value is unknown, of the wrong type or out of range. `path` names the field."""

    def __init__(self, path: str, message: str):
        self.path = path or "<root>"
        self.message = message
        super().__init__(f"{self.path}: {message}")


def fail(path: str, message: str) -> typing.NoReturn:
    raise ConfigError(path, message)


def _join(prefix: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else name


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if get_origin(tp) in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _check_bounds(value: Any, meta: typing.Mapping[str, Any], path: str) -> None:
    for key, ok, word in (
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ):
        if key in meta and value is not None and not ok(value, meta[key]):
            fail(path, f"must be {word} {meta[key]}, got {value!r}")
    if "choices" in meta and value not in meta["choices"]:
        fail(path, f"must be one of {list(meta['choices'])}, got {value!r}")


# long: one dispatch over every supported annotation (Literal, Optional, unions, containers, dataclasses)
def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            fail(path, f"must be one of {list(allowed)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            fail(path, f"must not be null (expected {_type_name(tp)})")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except ConfigError as exc:
                errors.append(exc.message)
        fail(path, f"expected {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value) and isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            fail(path, f"expected a mapping for section {tp.__name__}, got {value!r}")
        return from_dict(tp, value, path)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            fail(path, f"expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                fail(path, f"expected {len(args)} items, got {len(value)}")
            return tuple(_convert(a, v, _join(path, i)) for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        out = [_convert(item, v, _join(path, i)) for i, v in enumerate(value)]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            fail(path, f"expected a mapping, got {value!r}")
        kt, vt = get_args(tp) or (Any, Any)
        return {
            _convert(kt, k, _join(path, str(k))): _convert(vt, v, _join(path, str(k)))
            for k, v in value.items()
        }
    if tp is bool:
        if not isinstance(value, bool):
            fail(path, f"expected a bool (true/false), got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(path, f"expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(path, f"expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            fail(path, f"expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        fail(path, f"expected {_type_name(tp)}, got {value!r}")
    return value


def from_dict(cls: type[T], data: typing.Mapping[str, Any], path: str = "") -> T:
    """Build dataclass `cls` from `data`, strictly. Missing keys take the dataclass defaults."""
    if not isinstance(data, typing.Mapping):
        fail(path, f"expected a mapping for section {cls.__name__}, got {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        fail(_join(path, unknown[0]), f"unknown key; allowed keys of {cls.__name__}: {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        fpath = _join(path, name)
        if name in data:
            value = _convert(hints[name], data[name], fpath)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            fail(fpath, "required key is missing")
        else:
            continue
        _check_bounds(value, f.metadata, fpath)
        kwargs[name] = value
    obj = cls(**kwargs)
    validate(obj, path)
    return obj


def validate(obj: Any, path: str = "") -> None:
    """Re-check bounds of every field and run each section's `validate()` hook, depth first."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        fpath = _join(path, f.name)
        _check_bounds(value, f.metadata, fpath)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            validate(value, fpath)
    hook = getattr(obj, "validate", None)
    if callable(hook):
        try:
            hook()
        except ConfigError as exc:
            if path and not exc.path.startswith(path):
                raise ConfigError(_join(path, exc.path), exc.message) from None
            raise


def to_dict(obj: Any) -> Any:
    """Plain-data view of a config (tuples become lists), for YAML dumps and merging."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
