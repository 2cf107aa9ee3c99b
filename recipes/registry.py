"""Recipes by name: small functions returning a config dataclass (torchtitan / Megatron-Bridge style)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infir.modules import import_present

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
    import_present(RECIPE_MODULES)
    return dict(sorted(_RECIPES.items()))


def get_recipe(name: str) -> Any:
    """Build the named recipe's config. Unknown names raise ConfigError listing the known ones."""
    from infir.config import ConfigError

    table = recipes()
    if name not in table:
        from infir.paths import did_you_mean

        raise ConfigError("recipe", f"unknown recipe {name!r}{did_you_mean(name, sorted(table))}; "
                                    f"available: {sorted(table)}")  # fmt: skip
    return table[name]()
