"""Anneal-set helpers: one solution per programming problem (preferring Python), and source-proportion
sampling of the anneal mixture. Both deterministic.

APPS rows: `question`, `solutions` (a JSON string or list of code strings; APPS is Python-only).
CodeContests rows: `description`, `solutions: {language: [int], solution: [str]}` with language codes
0 unknown, 1 Python 2, 2 C++, 3 Python 3, 4 Java. Neither has a `text` field: run the pipeline with
`text_field: ""` and the step writes `text` = statement + the chosen solution.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infir.config import ConfigError
from infir.curation.base import Doc, Step, count_tokens
from infir.curation.registry import register_step

#: CodeContests language code -> rank (lower is preferred): Python 3, then Python 2, C++, Java, unknown
_CC_RANK = {3: 0, 1: 1, 2: 2, 4: 3, 0: 4}
_CC_NAME = {0: "unknown", 1: "python", 2: "cpp", 3: "python", 4: "java"}


def _candidates(doc: Doc) -> list[tuple[int, str, str]]:
    """(rank, language, code) for every solution of an APPS or CodeContests row."""
    sols = doc.get("solutions")
    if isinstance(sols, str):
        try:
            sols = json.loads(sols) if sols.strip() else []
        except json.JSONDecodeError:
            return []
    if isinstance(sols, list):  # APPS: all Python
        return [(0, "python", s) for s in sols if isinstance(s, str) and s.strip()]
    if isinstance(sols, dict):
        langs, codes = sols.get("language") or [], sols.get("solution") or []
        return [
            (_CC_RANK.get(int(lang), 5), _CC_NAME.get(int(lang), "unknown"), code)
            for lang, code in zip(langs, codes)
            if isinstance(code, str) and code.strip()
        ]
    return []


@register_step("one_solution_per_problem")
class OneSolutionPerProblem(Step):
    """Turn a problem row with many solutions into one document: statement + ONE solution.

    Preference: Python (3, then 2), then the configured order; among equals the shortest solution, then the
    first (deterministic and favours idiomatic code over padded submissions)."""

    reasons = ("no_solution", "no_statement")

    @dataclass
    class Config:
        statement_fields: list[str] = field(default_factory=lambda: ["question", "description"])
        #: prefer the shortest of the best-language solutions (else the first listed)
        prefer_shortest: bool = True
        language_field: str = "solution_language"

    def filter(self, doc: Doc) -> str | None:
        statement = next((doc[f] for f in self.config.statement_fields if isinstance(doc.get(f), str)), "")
        if not statement.strip():
            return "no_statement"
        cands = _candidates(doc)
        if not cands:
            return "no_solution"
        key = (
            (lambda c: (c[1][0], len(c[1][2]), c[0])) if self.config.prefer_shortest else (lambda c: c[1][0])
        )
        _, (_, lang, code) = min(enumerate(cands), key=key)
        doc["text"] = f"{statement.strip()}\n\n{code.strip()}\n"
        doc[self.config.language_field] = lang
        doc.pop("solutions", None)
        return None


@dataclass
class MixtureSource:
    path: str = ""
    #: share of the mixture; null = the source's own share of all input tokens (keep original proportions)
    weight: float | None = field(default=None, metadata={"ge": 0.0})


@dataclass
class MixtureSampleConfig:
    sources: dict[str, MixtureSource] = field(default_factory=dict)
    output: str = ""
    #: tokens (whitespace words) in the sampled mixture; 0 = as many as the scarcest source allows
    target_tokens: int = field(default=0, metadata={"ge": 0})
    seed: int = 1234

    def validate(self) -> None:
        if not self.sources:
            raise ConfigError("sources", "at least one source {name: {path: ..., weight: ...}} is needed")
        if not self.output:
            raise ConfigError("output", "an output folder is required")


def _load(path: Path) -> list[Doc]:
    from infir.curation.io import find_shards, read_shard

    return [d for s in find_shards([path]) for d, _ in read_shard(s) if d is not None]


def sample_mixture(cfg: MixtureSampleConfig) -> dict[str, dict[str, Any]]:
    """Sample each source to its token share (shuffled with a per-source seed, whole documents, no
    repetition) and write <output>/<source>.jsonl + summary.json. Returns the summary."""
    docs = {name: _load(Path(src.path)) for name, src in cfg.sources.items()}
    tokens = {
        name: np.array([count_tokens(d["text"]) for d in ds], dtype=np.int64) for name, ds in docs.items()
    }
    total = {name: int(t.sum()) for name, t in tokens.items()}
    all_tokens = sum(total.values()) or 1
    weights = {
        n: (s.weight if s.weight is not None else total[n] / all_tokens) for n, s in cfg.sources.items()
    }
    wsum = sum(weights.values()) or 1.0
    shares = {n: w / wsum for n, w in weights.items()}
    target = cfg.target_tokens or int(min(total[n] / s for n, s in shares.items() if s > 0))
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, ds in docs.items():
        rng = np.random.default_rng([cfg.seed, zlib.crc32(name.encode())])
        order = rng.permutation(len(ds))
        budget = shares[name] * target
        cum = np.cumsum(tokens[name][order])
        n = int(np.searchsorted(cum, budget, side="left")) + (1 if budget > 0 else 0)
        n = min(n, len(ds))
        chosen = sorted(order[:n].tolist())  # keep the source's own order in the output file
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for i in chosen:
                fh.write(json.dumps(ds[i], ensure_ascii=False) + "\n")
        got = int(tokens[name][chosen].sum()) if chosen else 0
        summary[name] = {
            "share": round(shares[name], 6),
            "docs": n,
            "tokens": got,
            "available_tokens": total[name],
        }
    (out / "summary.json").write_text(
        json.dumps({"target_tokens": target, "sources": summary}, indent=1) + "\n"
    )
    return summary
