"""`infir mix`: target shares + actual token counts + a token budget -> Megatron blend weights and epochs.

Megatron's BlendedDataset draws fixed-length sequences from each dataset in proportion to its weight, so a
source's weight is its share of the budget's tokens; when a source holds fewer tokens than its share asks
for, GPTDataset repeats it (epochs > 1). The paper trains one epoch, so `build_blend` refuses a source
that would repeat unless the mixture marks it `allow_repeat: true` (and then warns beyond `max_epochs`),
and splits a source's weight over its prefixes by their token counts.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infir.config import ConfigError, fail, from_dict, load_yaml


@dataclass
class SourceSpec:
    """One mixture source. Without `prefix`/`pattern`, its prefix comes from token_counts.json."""

    share: float = field(metadata={"ge": 0})
    prefix: str | None = None  # a Megatron prefix (no .bin/.idx), absolute or relative to the counts file
    pattern: str | None = None  # a glob of .idx files: several tokenized parts forming one source
    #: the paper trains one epoch: a source that would repeat is an error unless this says it may
    allow_repeat: bool = False
    note: str = ""

    def validate(self) -> None:
        if self.prefix and self.pattern:
            fail("pattern", "give either prefix or pattern, not both")


@dataclass
class MixtureConfig:
    budget_tokens: int = field(metadata={"gt": 0})
    sources: dict[str, SourceSpec]
    name: str = ""
    #: the most a source with `allow_repeat: true` may repeat before `infir mix` warns
    max_epochs: float = field(default=4.0, metadata={"gt": 0})

    def validate(self) -> None:
        if not self.sources:
            fail("sources", "a mixture needs at least one source")
        if not any(s.share > 0 for s in self.sources.values()):
            fail("sources", "every share is 0; at least one source needs a positive share")


@dataclass
class SourcePlan:
    name: str
    share: float  # normalised over the mixture
    tokens: int  # tokens available (after tokenization, EOS included)
    target_tokens: int  # share * budget
    epochs: float  # target_tokens / tokens
    prefixes: list[tuple[float, str]]  # (blend weight, Megatron prefix)


@dataclass
class Blend:
    budget_tokens: int
    sources: list[SourcePlan]
    warnings: list[str]

    @property
    def blend(self) -> list[list[Any]]:
        return [[w, p] for s in self.sources for w, p in s.prefixes]

    @property
    def epochs(self) -> dict[str, float]:
        return {s.name: s.epochs for s in self.sources}

    def megatron_blend(self) -> tuple[list[str], list[float]]:
        """The `blend` argument of megatron-core's GPTDatasetConfig: (prefixes, weights)."""
        return [p for _, p in self.blend], [w for w, _ in self.blend]

    def to_dict(self) -> dict[str, Any]:
        return {
            "blend": self.blend,
            "epochs": {k: round(v, 6) for k, v in self.epochs.items()},
            "budget_tokens": self.budget_tokens,
            "sources": {
                s.name: {
                    "share": s.share,
                    "tokens": s.tokens,
                    "target_tokens": s.target_tokens,
                    "prefixes": [[w, p] for w, p in s.prefixes],
                }
                for s in self.sources
            },
            "warnings": list(self.warnings),
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, width=110))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Blend:
        """Read a blend YAML written by `save`; a hand-written one needs only `blend` (+ `budget_tokens`)."""
        data = load_yaml(path)
        if not isinstance(data.get("blend"), list) or not data["blend"]:
            raise ConfigError(f"{path}:blend", "expected a non-empty list of [weight, prefix]")
        pairs = []
        for i, item in enumerate(data["blend"]):
            ok = isinstance(item, list) and len(item) == 2 and isinstance(item[0], int | float)
            if not ok or not isinstance(item[1], str) or item[0] < 0:
                raise ConfigError(f"{path}:blend[{i}]", f"expected [weight >= 0, prefix], got {item!r}")
            pairs.append((float(item[0]), item[1]))
        info, epochs = data.get("sources") or {}, data.get("epochs") or {}
        try:
            plans = [
                SourcePlan(name, float(v["share"]), int(v["tokens"]), int(v["target_tokens"]),
                           float(epochs.get(name, 0.0)), [(float(w), p) for w, p in v["prefixes"]])
                for name, v in info.items()
            ]  # fmt: skip
        except (KeyError, TypeError, ValueError):
            plans = []
        if [p for s in plans for p in s.prefixes] != pairs:  # hand-written or edited: `blend` wins
            plans = [SourcePlan("blend", 1.0, 0, 0, 0.0, pairs)]
        return cls(int(data.get("budget_tokens", 0)), plans, list(data.get("warnings") or []))


def load_mixture(path: str | Path, budget: int | None = None) -> MixtureConfig:
    data = load_yaml(path)
    if budget is not None:
        data["budget_tokens"] = budget
    try:
        return from_dict(MixtureConfig, data)
    except ConfigError as exc:
        raise ConfigError(exc.path, f"{exc.message} (in {path})") from None


def load_counts(path: str | Path) -> dict[str, Any]:
    import json

    path = Path(path)
    if not path.is_file():
        raise ConfigError("counts", f"{path}: token counts file not found (written by `infir tokenize`)")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(str(path), f"invalid JSON: {exc}") from None


def _idx_tokens(prefix: str, where: str) -> int:
    from infir.data.megatron import idx_token_count

    return idx_token_count(prefix, where)


def _source_parts(name: str, spec: SourceSpec, counts: dict[str, Any], base: Path) -> list[tuple[int, str]]:
    """(tokens, absolute prefix) for each tokenized part of a source."""
    if spec.pattern:
        pattern = spec.pattern if Path(spec.pattern).is_absolute() else str(base / spec.pattern)
        prefixes = sorted(p[: -len(".idx")] for p in glob.glob(pattern) if p.endswith(".idx"))
        if not prefixes:
            fail(f"sources.{name}.pattern", f"{pattern!r} matches no .idx file")
        return [(_idx_tokens(p, f"sources.{name}.pattern"), p) for p in prefixes]
    if name not in counts:
        fail(f"sources.{name}", f"source {name!r} has no token count (counts have: {sorted(counts)})")
    entry = counts[name]
    if not isinstance(entry, dict) or not isinstance(entry.get("tokens"), int):
        fail(f"counts.{name}.tokens", f"expected an integer token count, got {entry!r}")
    raw = spec.prefix or entry.get("prefix")
    if not raw:
        fail(f"sources.{name}.prefix", "no prefix in the mixture or in the token counts")
    prefix = raw if Path(raw).is_absolute() else str((base / raw).resolve())
    return [(entry["tokens"], prefix)]


def build_blend(
    mixture: MixtureConfig,
    token_counts: dict[str, Any] | str | Path,
    budget: int | None = None,
    counts_dir: str | Path | None = None,
) -> Blend:
    """Normalised blend weights and epochs per source for `budget` tokens (default: the mixture's).

    `token_counts` is token_counts.json (a path, or its loaded dict with `counts_dir` for relative
    prefixes). A source with a share but no tokens, or missing from the counts, is a ConfigError naming it.
    """
    if isinstance(token_counts, str | Path):
        counts_dir = counts_dir or Path(token_counts).parent
        token_counts = load_counts(token_counts)
    base = Path(counts_dir or ".").resolve()
    budget = int(budget if budget is not None else mixture.budget_tokens)
    if budget <= 0:
        fail("budget_tokens", f"must be > 0, got {budget}")
    total_share = sum(s.share for s in mixture.sources.values())
    plans: list[SourcePlan] = []
    warnings: list[str] = []
    if not math.isclose(total_share, 1.0, rel_tol=1e-6):
        warnings.append(f"shares sum to {total_share:g}, not 1; normalised")
    for name, spec in mixture.sources.items():
        if spec.share == 0:
            continue
        parts = _source_parts(name, spec, token_counts, base)
        tokens = sum(t for t, _ in parts)
        if tokens <= 0:
            fail(f"sources.{name}", f"source {name!r} has a share of {spec.share:g} but {tokens} tokens")
        share = spec.share / total_share
        target = share * budget
        epochs = target / tokens
        if epochs > 1 + 1e-9 and not spec.allow_repeat:
            fail(
                f"sources.{name}",
                f"source {name!r} would repeat {epochs:.2f} epochs (its share {share:.4f} of {budget:,} tokens "
                f"asks for {target:,.0f}, it has {tokens:,}); pretrain and anneal are one epoch: lower its "
                "share or the budget, add data, or set allow_repeat: true for it",
            )
        if epochs > mixture.max_epochs:
            warnings.append(
                f"source {name!r} would repeat {epochs:.2f} epochs (> max_epochs {mixture.max_epochs:g}): "
                f"its share {share:.4f} of {budget:,} tokens asks for {target:,.0f}, it has {tokens:,}"
            )
        prefixes = [(share * t / tokens, p) for t, p in parts]
        plans.append(SourcePlan(name, share, tokens, round(target), epochs, prefixes))
    return Blend(budget, plans, warnings)
