"""Steps by name, so YAML pipelines can say `type: gopher_quality` and pass strict parameters.

A step class declares its parameters as a nested dataclass `Config` and takes it as the only
constructor argument; `build_step` validates the YAML parameters against it (unknown key, bad type or
bad value -> ConfigError naming `steps[i].field`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from infir.config import ConfigError, from_dict
from infir.curation.base import Doc, GlobalStep, Step
from infir.modules import import_present

S = TypeVar("S", bound=type[Step])

_STEPS: dict[str, type[Step]] = {}

#: modules whose import registers steps; imported on first lookup so `infir --help` stays fast
STEP_MODULES: list[str] = [
    "infir.curation.filters.web",
    "infir.curation.filters.code",
    "infir.curation.filters.repos",
    "infir.curation.filters.math",
    "infir.curation.scorers",
    "infir.curation.recall",
    "infir.curation.dedup.exact",
    "infir.curation.dedup.minhash",
    "infir.curation.decontam",
    "infir.curation.anneal",
    "infir.synth.steps",
    "infir.synth.select",
    "infir.synth.code_verify",
]


def register_step(name: str):
    """Class decorator: make a Step available to YAML pipelines as `type: <name>`."""

    def wrap(cls: S) -> S:
        if name in _STEPS and _STEPS[name] is not cls:
            raise ValueError(f"step type {name!r} registered twice ({_STEPS[name].__name__}, {cls.__name__})")
        if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
            raise TypeError(f"{cls.__name__} must define a nested @dataclass Config")
        cls.name = name
        _STEPS[name] = cls
        return cls

    return wrap


def _load_all() -> None:
    import_present(STEP_MODULES)


def step_types() -> dict[str, type[Step]]:
    _load_all()
    return dict(sorted(_STEPS.items()))


def build_step(spec: dict[str, Any], path: str = "step") -> Step:
    """`{"type": "gopher_quality", "min_doc_words": 50}` -> a configured step instance.

    `sources: [a, b]` (any per-document step) applies it only to documents of those labelled inputs
    (`--input a=DIR`, io.find_shards); the others pass it untouched and uncounted."""
    types = step_types()
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(path, "a step needs a `type`")
    params = {k: v for k, v in spec.items() if k not in ("type", "sources")}
    if "sources" in spec:
        sources = spec["sources"]
        if not isinstance(sources, list) or not sources or not all(isinstance(x, str) for x in sources):
            raise ConfigError(f"{path}.sources", "must be a non-empty list of input labels")
        inner = build_step({k: v for k, v in spec.items() if k != "sources"}, path)
        if isinstance(inner, GlobalStep):
            raise ConfigError(
                f"{path}.sources", f"{inner.name} sees the whole corpus; it cannot skip sources"
            )
        return OnlySources(inner, sources)
    kind = spec["type"]
    if kind not in types:
        raise ConfigError(f"{path}.type", f"unknown step type {kind!r}; allowed: {sorted(types)}")
    cls = types[kind]
    return cls(from_dict(cls.Config, params, path))


class OnlySources(Step):
    """A per-document step restricted to some labelled inputs (the colon rule on math web sources only).
    Its name and reasons are the inner step's; documents of other sources pass it (counted as kept)."""

    def __init__(self, inner: Step, sources: list[str]):
        self.inner, self.sources = inner, frozenset(sources)
        self.name, self.reasons = inner.name, inner.reasons
        self.config = getattr(inner, "config", None)

    def setup(self) -> None:
        self.inner.setup()

    def filter_batch(self, docs: list[Doc]) -> list[str | None]:
        mine = [i for i, d in enumerate(docs) if d.get("_input") in self.sources]
        out: list[str | None] = [None] * len(docs)
        for i, reason in zip(mine, self.inner.filter_batch([docs[i] for i in mine]), strict=True):
            out[i] = reason
        return out
