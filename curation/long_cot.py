"""Long-CoT SFT data: the paper's 2M samples from NuminaMath-QwQ-CoT-5M and a 200K subset by s1-style
difficulty and diversity sampling (docs/PAPER.md section 4, long-CoT SFT).

The paper names the source, the sizes and "s1-style"; how the 2M were chosen it does not say. Ours, stage
by stage, with every dropped record counted by reason in the funnel and written to rejects.jsonl:
1. Quality: a problem and a trace as strings, no lone surrogate, a trace that reaches a final answer
   (`\\boxed{}`), within `max_trace_words` (runaway generations); exact duplicate problems keep the first.
2. The large set (`--pool-size`, 2M): a seeded uniform sample of what passed, so it keeps the source's mix.
3. The subset (`--subset-size`, 200K), as s1 (Muennighoff et al. 2025) chose its 1K: difficulty first (drop
   problems a model solves often: `pass_rate` >= `max_pass_rate` when the records carry one; without it the
   trace length stands in for difficulty, as s1 also uses it), then diversity: draw a domain uniformly at
   random, then one of its problems with probability proportional to its trace length (longer = harder),
   until the subset is full or the domains run dry.
Outputs are SFT chat records (`messages`: user problem, assistant trace) plus the trace-length percentiles
that size `sft_long_cot`'s sequence length.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infir.config import ConfigError


@dataclass
class LongCoTConfig:
    problem_field: str = "problem"
    trace_field: str = "response"  # the QwQ generation, reasoning and final answer
    domain_field: str = "source"  # NuminaMath's sources: olympiads, cn_k12, amc_aime, ...
    pass_rate_field: str = "pass_rate"  # optional: a model's share of correct samples on the problem
    pool_size: int = field(default=2_000_000, metadata={"ge": 1})
    subset_size: int = field(default=200_000, metadata={"ge": 1})
    max_pass_rate: float = field(default=0.5, metadata={"ge": 0, "le": 1})
    max_trace_words: int = field(default=30_000, metadata={"ge": 1})
    seed: int = 0


def _records(path: Path):
    """(`file:line`, record, None) per line, or (`file:line`, None, reason) for a line that is not UTF-8 or
    not JSON: a reject, never a crash of the whole selection."""
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                yield f"{path}:{n}", json.loads(raw.decode("utf-8")), None
            except UnicodeDecodeError:
                yield f"{path}:{n}", None, "invalid_utf8"
            except json.JSONDecodeError:
                yield f"{path}:{n}", None, "invalid_json"


def _why_bad(rec: Any, cfg: LongCoTConfig) -> str | None:
    if not isinstance(rec, dict):
        return "not_an_object"
    problem, trace = rec.get(cfg.problem_field), rec.get(cfg.trace_field)
    if not isinstance(problem, str) or not problem.strip() or not isinstance(trace, str) or not trace.strip():
        return "missing_problem_or_trace"
    try:
        (problem + trace).encode("utf-8")
    except UnicodeEncodeError:
        return "lone_surrogate"
    if "\\boxed" not in trace:
        return "no_final_answer"
    if len(trace.split()) > cfg.max_trace_words:
        return "trace_too_long"
    return None


def _norm(problem: str) -> str:
    return re.sub(r"\s+", " ", problem.strip().lower())


def sft_record(rec: dict, cfg: LongCoTConfig) -> dict:
    return {"messages": [{"role": "user", "content": rec[cfg.problem_field]},
                         {"role": "assistant", "content": rec[cfg.trace_field]}],
            "domain": str(rec.get(cfg.domain_field, "unknown"))}  # fmt: skip


def diversity_sample(domains: np.ndarray, words: np.ndarray, n: int, seed: int) -> np.ndarray:
    """s1's diversity draw over candidate indices: a domain uniformly at random among those not yet used
    up, then one of its items with probability proportional to its trace length, without replacement.
    Per domain, the weighted order is drawn at once (Efraimidis-Spirakis keys log(u)/w), so 200K draws
    from 2M candidates take seconds, not a pass over the pool per draw."""
    rng = np.random.default_rng(seed)
    keys = np.log(rng.random(len(words))) / np.maximum(words, 1)
    order = {d: np.flatnonzero(domains == d) for d in np.unique(domains)}
    order = {d: idx[np.argsort(-keys[idx], kind="stable")] for d, idx in order.items()}
    taken = dict.fromkeys(order, 0)
    out: list[int] = []
    live = sorted(order)
    while len(out) < n and live:
        d = live[int(rng.integers(len(live)))]
        out.append(int(order[d][taken[d]]))
        taken[d] += 1
        if taken[d] == len(order[d]):
            live.remove(d)
    return np.array(out, dtype=np.int64)


def select(inputs: list[Path], out_dir: Path, cfg: LongCoTConfig) -> dict[str, Any]:
    """Write pool.jsonl (the 2M), subset.jsonl (the 200K), rejects.jsonl and funnel.json under out_dir.

    Two streaming passes, so 5M long traces (tens of GB) never sit in memory: the first checks each record
    and keeps per-record numbers only (file, line, problem hash, trace length, domain, pass rate); the
    choices are made on those arrays; the second pass writes the chosen records."""
    for path in inputs:
        if not Path(path).is_file():
            raise ConfigError("--input", f"file not found: {path}")
    funnel: Counter = Counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, list] = defaultdict(list)
    with open(out_dir / "rejects.jsonl", "w", encoding="utf-8") as rejects:
        for f, path in enumerate(inputs):
            for where, rec, malformed in _records(Path(path)):
                funnel["read"] += 1
                why = malformed or _why_bad(rec, cfg)
                if why is not None:
                    funnel[why] += 1
                    rejects.write(json.dumps({"where": where, "reason": why}) + "\n")
                    continue
                digest = hashlib.blake2b(_norm(rec[cfg.problem_field]).encode(), digest_size=8).digest()
                rate = rec.get(cfg.pass_rate_field)
                for key, value in (("file", f), ("line", int(where.rsplit(":", 1)[1])),
                                   ("hash", int.from_bytes(digest, "little")),
                                   ("words", len(rec[cfg.trace_field].split())),
                                   ("domain", str(rec.get(cfg.domain_field, "unknown"))),
                                   ("rate", float(rate) if isinstance(rate, int | float) else np.nan)):  # fmt: skip
                    meta[key].append(value)
        m = {k: np.array(v) for k, v in meta.items()}
        n = len(m.get("hash", []))
        first = np.zeros(n, dtype=bool)
        if n:
            first[np.unique(m["hash"].astype(np.uint64), return_index=True)[1]] = True  # the first copy stays
        for i in np.flatnonzero(~first):
            funnel["duplicate_problem"] += 1
            rejects.write(json.dumps({"where": f"{inputs[m['file'][i]]}:{m['line'][i]}",
                                      "reason": "duplicate_problem"}) + "\n")  # fmt: skip
    rng = np.random.default_rng(cfg.seed)
    good = np.flatnonzero(first)
    pool = np.sort(rng.choice(good, cfg.pool_size, replace=False)) if len(good) > cfg.pool_size else good
    hard = pool[~(m["rate"][pool] >= cfg.max_pass_rate)] if n else pool  # NaN (no pass rate) counts as hard
    funnel["too_easy"] = len(pool) - len(hard)
    subset = (
        hard[diversity_sample(m["domain"][hard], m["words"][hard], cfg.subset_size, cfg.seed)] if n else hard
    )
    _write(inputs, m, pool, out_dir / "pool.jsonl", cfg)
    _write(inputs, m, np.sort(subset), out_dir / "subset.jsonl", cfg)
    words = m["words"][pool] if n else np.zeros(0)
    pct = {f"p{q}": int(np.percentile(words, q)) if len(words) else 0 for q in (50, 90, 99, 100)}
    summary = {"read": funnel.pop("read", 0), "dropped": dict(sorted(funnel.items())), "quality_passed": len(good),
               "pool": len(pool), "subset": len(subset), "trace_words": pct,
               "subset_domains": dict(sorted(Counter(m["domain"][subset].tolist()).items())) if n else {}}  # fmt: skip
    (out_dir / "funnel.json").write_text(json.dumps(summary, indent=1))
    return summary


def _write(
    inputs: list[Path], m: dict[str, np.ndarray], chosen: np.ndarray, out: Path, cfg: LongCoTConfig
) -> None:
    """The chosen records, in input order, as SFT chat records (second streaming pass)."""
    with open(out, "w", encoding="utf-8") as fh:
        for f, path in enumerate(inputs):
            want = set(m["line"][chosen[m["file"][chosen] == f]].tolist()) if len(chosen) else set()
            for where, rec, _ in _records(Path(path)):
                if int(where.rsplit(":", 1)[1]) in want:
                    fh.write(json.dumps(sft_record(rec, cfg), ensure_ascii=False) + "\n")
