"""Recipes by name: small functions returning a config dataclass (torchtitan / Megatron-Bridge style)."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

_RECIPES: dict[str, Callable[[], Any]] = {}

#: modules whose import registers recipes; imported on first lookup
RECIPE_MODULES: list[str] = ["infir.recipes.llm", "infir.recipes.vlm.recipes"]


def register_recipe(name: str | None = None):
    """Function decorator: `@register_recipe()` registers under the function's own name."""

    def wrap(fn: Callable[[], Any]) -> Callable[[], Any]:
        key = name or fn.__name__
        if key in _RECIPES and _RECIPES[key] is not fn:
            raise ValueError(f"recipe {key!r} registered twice")
        _RECIPES[key] = fn
        return fn

    return wrap


def recipes() -> dict[str, Callable[[], Any]]:
    for module in RECIPE_MODULES:
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:  # the parent package is not there either
            spec = None
        if spec is not None:
            importlib.import_module(module)
    return dict(sorted(_RECIPES.items()))


def get_recipe(name: str) -> Any:
    """Build the named recipe's config. Unknown names raise ConfigError listing the known ones."""
    from infir.config import ConfigError

    table = recipes()
    if name not in table:
        raise ConfigError("recipe", f"unknown recipe {name!r}; available: {sorted(table)}")
    return table[name]()
