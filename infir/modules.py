"""Import a list of plugin modules, skipping the ones not present in this checkout."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable


def import_present(modules: Iterable[str]) -> None:
    """Import each module that exists; registries list their modules here so lookups stay lazy."""
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:  # the parent package is not there either
            spec = None
        if spec is not None:
            importlib.import_module(module)
