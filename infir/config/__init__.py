"""Typed, strict configs with YAML and `a.b=c` override layers (see strict.py and layers.py)."""

from infir.config.layers import (
    deep_merge,
    dump_yaml,
    load_yaml,
    overrides_to_dict,
    parse_override,
    resolve,
    resolve_merged,
    set_by_override,
)
from infir.config.strict import ConfigError, fail, from_dict, to_dict, validate

__all__ = [
    "ConfigError",
    "deep_merge",
    "dump_yaml",
    "fail",
    "from_dict",
    "load_yaml",
    "overrides_to_dict",
    "parse_override",
    "resolve",
    "resolve_merged",
    "set_by_override",
    "to_dict",
    "validate",
]
