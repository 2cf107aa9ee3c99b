"""`run(cfg)`: hand a resolved config to its engine. Engines are imported only when they run, so the CPU
path never imports Megatron-Bridge and the GPU path never imports the CPU twin's helpers."""

from __future__ import annotations

import importlib
from typing import Any

from infir.config import ConfigError
from infir.recipes.config import TrainConfig

#: (config class path, engine) -> (module, function)
ENGINES: dict[tuple[str, str], tuple[str, str]] = {
    ("infir.recipes.config.TrainConfig", "cpu"): ("infir.recipes.cpu_engine", "train"),
    ("infir.recipes.config.TrainConfig", "megatron"): ("infir.recipes.bridge", "train"),
    ("infir.recipes.vlm.config.VLMTrainConfig", "cpu"): ("infir.recipes.vlm.train_cpu", "train"),
    ("infir.recipes.vlm.config.VLMTrainConfig", "megatron"): ("infir.recipes.vlm.bridge", "train"),
}


def resolve_engine(cfg: Any) -> tuple[str, str]:
    """(module, function) that trains `cfg`; ConfigError when the class or engine has none."""
    cls = type(cfg)
    key = (f"{cls.__module__}.{cls.__qualname__}", getattr(cfg, "engine", None))
    if key not in ENGINES:
        known = sorted({k[1] for k in ENGINES if k[0] == key[0]})
        if not known:
            raise ConfigError("recipe", f"no engine trains a {cls.__name__}")
        raise ConfigError("engine", f"must be one of {known} for {cls.__name__}, got {key[1]!r}")
    return ENGINES[key]


def run(cfg: Any) -> Any:
    module, fn = resolve_engine(cfg)
    return getattr(importlib.import_module(module), fn)(cfg)


__all__ = ["ENGINES", "TrainConfig", "resolve_engine", "run"]
