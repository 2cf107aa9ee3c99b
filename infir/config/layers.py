"""The override layers on top of a recipe: recipe function < YAML file(s) < `a.b=c` CLI overrides.

Each layer is merged into the plain-data view of the one below it and the result is rebuilt strictly
with `from_dict`, so an error names both the field and the layer that set it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from infir.config.strict import ConfigError, from_dict, to_dict

T = TypeVar("T")


def _is_index_map(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(str(k).isdigit() for k in value)


def deep_merge(base: dict[str, Any], top: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """Merge `top` into a copy of `base`: mappings merge key by key, anything else is replaced. A mapping of
    indices onto a list (`steps.0.dup_line_frac=0.5` gives {"steps": {"0": {...}}}) merges into those items."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        path = f"{where}.{key}" if where else str(key)
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value, path)
        elif _is_index_map(value) and isinstance(out.get(key), list):
            items = out[key]
            for idx, item_value in value.items():
                i = int(idx)
                if i >= len(items):
                    raise ConfigError(f"{path}.{idx}", f"index out of range: {key} has {len(items)} items")
                if isinstance(item_value, Mapping) and isinstance(items[i], dict):
                    items[i] = deep_merge(items[i], item_value, f"{path}.{idx}")
                else:
                    items[i] = copy.deepcopy(item_value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """`optim.lr=3e-4` -> (['optim', 'lr'], 0.0003). Values are parsed as YAML scalars/flow lists."""
    if "=" not in text:
        raise ConfigError(text, "an override must look like a.b=c")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(key or text, "an override key must be a dotted path like optim.lr")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(key, f"cannot parse value {raw!r}: {exc}") from None
    # YAML 1.1 reads "1e-3" as a string; a user writing a number in scientific notation means a number.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value.lower() for c in "e.") else value
        except ValueError:
            pass
    return key.split("."), value


def overrides_to_dict(overrides: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(".".join(keys), "conflicts with an earlier override of a parent key")
        node[keys[-1]] = value
    return out


def set_by_override(path: str, overrides: Iterable[str]) -> bool:
    """Whether an error at `path` (`steps[0].min_words`) lies under a key one of `overrides` sets."""
    import re

    target = [p for p in re.split(r"[.\[\]]+", path) if p]
    for text in overrides:
        keys = parse_override(text)[0]
        n = min(len(keys), len(target))
        if keys[:n] == target[:n]:
            return True
    return False


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; syntax errors and non-mapping files name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(where, f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "the file must hold a mapping at the top level")
    return data


def _rebuild(cls: type[T], data: dict[str, Any], where: str) -> T:
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(exc.path, f"{exc.message} (set in {where})") from None


def resolve(
    base: T,
    yaml_layers: Iterable[str | Path | Mapping[str, Any]] = (),
    overrides: Iterable[str] = (),
) -> T:
    """Apply YAML layers then CLI overrides on top of `base` (a config dataclass instance)."""
    if not dataclasses.is_dataclass(base):
        raise TypeError("resolve() takes a config dataclass instance")
    cls = type(base)
    data = to_dict(base)
    cfg = base
    for layer in yaml_layers:
        where = "an inline mapping" if isinstance(layer, Mapping) else str(layer)
        top = dict(layer) if isinstance(layer, Mapping) else load_yaml(layer)
        data = deep_merge(data, top)
        cfg = _rebuild(cls, data, where)
    overrides = list(overrides)
    if overrides:
        data = deep_merge(data, overrides_to_dict(overrides))
        cfg = _rebuild(cls, data, "a command-line override")
    return cfg


def _sets(data: Any, path: str) -> bool:
    """Whether `data` (one layer's mapping) holds a value at `path` (`steps[0].min_words`)."""
    import re

    node = data
    for key in [p for p in re.split(r"[.\[\]]+", path) if p]:
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False
    return True


def resolve_merged(
    cls: type[T],
    yaml_layers: Iterable[str | Path | Mapping[str, Any]] = (),
    overrides: Iterable[str] = (),
    base: Mapping[str, Any] | None = None,
) -> T:
    """Merge `base`, the YAML layers and the CLI overrides, then build strictly once, so a YAML may leave a
    required value to the command line (resolve() builds after every layer). An error names the layer that
    set the bad value: the command line, else the last YAML that sets that key."""
    data: dict[str, Any] = dict(base or {})
    named: list[tuple[str, Mapping[str, Any]]] = []
    for layer in yaml_layers:
        top = dict(layer) if isinstance(layer, Mapping) else load_yaml(layer)
        named.append(("an inline mapping" if isinstance(layer, Mapping) else str(layer), top))
        data = deep_merge(data, top)
    overrides = list(overrides)
    data = deep_merge(data, overrides_to_dict(overrides))
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        where = "a command-line override" if set_by_override(exc.path, overrides) else None
        where = where or next((name for name, top in reversed(named) if _sets(top, exc.path)), None)
        raise ConfigError(exc.path, f"{exc.message} (set in {where})" if where else exc.message) from None


def dump_yaml(cfg: Any) -> str:
    """The fully resolved config as YAML (what every `--dry-run` prints)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None, width=110)
