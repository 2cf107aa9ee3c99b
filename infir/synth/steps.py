"""Synthesis steps that generate or judge: evolve, answer, best_of_n, judge, label_domain, difficulty.

Each is a curation step (synth/base.py): one batched engine call per batch, fields added to the
document, keep or a named reason. Prompts come from conf/synth/prompts/ (or a path).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from infir.curation.base import Doc
from infir.curation.registry import register_step
from infir.synth.base import EMPTY, NOT_UTF8, SynthStep, bad_generation, prompt_of, set_sample


@register_step("evolve")
class Evolve(SynthStep):
    """Instruction evolution (Evol-Instruct): the engine rewrites the prompt into a harder or broader one.
    The seed stays in `seed_prompt`; a rewrite that is empty, bad Unicode or the seed again is dropped."""

    reasons = (EMPTY, NOT_UTF8, "unchanged_prompt", "too_long")

    @dataclass
    class Config:
        engine: str = "teacher"
        prompt_file: str = "evolve.txt"
        #: a rewrite longer than this many characters is a ramble, not an instruction: dropped
        max_chars: int = field(default=8000, metadata={"ge": 1})

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        outs = self.ask(docs)
        decisions: list[str | None] = []
        for doc, (new,) in zip(docs, outs):
            new = new.strip()
            reason = bad_generation(new) or ("too_long" if len(new) > self.config.max_chars else None)
            if reason is None and new == prompt_of(doc).strip():
                reason = "unchanged_prompt"
            if reason is None:
                doc["seed_prompt"] = prompt_of(doc)
                doc["prompt"] = doc["text"] = new
            decisions.append(reason)
        return decisions


@register_step("answer")
class Answer(SynthStep):
    """A teacher answers each prompt: n=1 sets `response`; n>1 keeps the usable ones in `candidates` for
    best_of_n or difficulty. A document whose every sample is unusable is dropped with the first reason."""

    reasons = (EMPTY, NOT_UTF8)

    @dataclass
    class Config:
        engine: str = "teacher"
        prompt_file: str = "answer.txt"
        n: int = field(default=1, metadata={"ge": 1})

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        outs = self.ask(docs, n=self.config.n)
        decisions: list[str | None] = []
        for doc, samples in zip(docs, outs):
            reasons = [bad_generation(s) for s in samples]
            good = [s.strip() for s, r in zip(samples, reasons) if r is None]
            if not good:
                decisions.append(reasons[0])
                continue
            doc["bad_samples"] = len(samples) - len(good)
            if self.config.n == 1:
                set_sample(doc, prompt_of(doc), good[0])
            else:
                doc["prompt"], doc["candidates"] = prompt_of(doc), good
            decisions.append(None)
        return decisions


@register_step("best_of_n")
class BestOfN(SynthStep):
    """Reward-model rejection sampling: score every candidate (or the one `response`), keep the best in
    `response` with its `reward`; drop the document when even the best scores below `min_score`."""

    engine_kind = "reward"
    reasons = ("below_reward_threshold", "no_candidates")

    @dataclass
    class Config:
        engine: str = "reward"
        #: None keeps the best whatever its score (pure best-of-N)
        min_score: float | None = None

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        engine = self.ensure_engine()
        pairs, owner = [], []
        for i, d in enumerate(docs):
            cands = d.get("candidates") or ([d["response"]] if d.get("response") else [])
            pairs += [(prompt_of(d), c) for c in cands]
            owner += [i] * len(cands)
        scores = engine.score(pairs) if pairs else []
        per_doc: list[list[tuple[float, str]]] = [[] for _ in docs]
        for i, s, (_, c) in zip(owner, scores, pairs):
            per_doc[i].append((s, c))
        decisions: list[str | None] = []
        for doc, scored in zip(docs, per_doc):
            if not scored:
                decisions.append("no_candidates")
                continue
            best = max(range(len(scored)), key=lambda k: scored[k][0])  # ties: the first sample
            doc["candidate_rewards"] = [round(s, 6) for s, _ in scored]
            doc["reward"] = round(scored[best][0], 6)
            set_sample(doc, prompt_of(doc), scored[best][1])
            doc.pop("candidates", None)
            low = self.config.min_score is not None and scored[best][0] < self.config.min_score
            decisions.append("below_reward_threshold" if low else None)
        return decisions


def first_label(text: str, labels: Sequence[str]) -> str | None:
    """The label the output names first (whole word, any case), or None."""
    hits = [
        (m.start(), lab) for lab in labels for m in [re.search(rf"\b{re.escape(lab)}\b", text, re.I)] if m
    ]
    return min(hits)[1] if hits else None


@register_step("judge")
class Judge(SynthStep):
    """An LLM judge scores each sample (`Score: N` in its output); keep scores >= min_score."""

    reasons = ("judge_unparsable", "judge_low_score")

    @dataclass
    class Config:
        engine: str = "judge"
        prompt_file: str = "judge.txt"
        min_score: float = 6.0
        pattern: str = r"(?i)score\s*[:=]\s*(\d+(?:\.\d+)?)"

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        outs = self.ask(docs)
        decisions: list[str | None] = []
        for doc, (out,) in zip(docs, outs):
            m = re.findall(self.config.pattern, out)
            if not m:
                decisions.append("judge_unparsable")
                continue
            doc["judge_score"] = float(m[-1])
            decisions.append("judge_low_score" if doc["judge_score"] < self.config.min_score else None)
        return decisions


@register_step("label_domain")
class LabelDomain(SynthStep):
    """A model names each sample's domain (one of `labels`) into `domain`, for diversity sampling."""

    reasons = ("domain_unparsable",)

    @dataclass
    class Config:
        engine: str = "judge"
        prompt_file: str = "domain.txt"
        labels: list[str] = field(default_factory=lambda: ["math", "code", "science", "writing", "other"])
        #: the label for an answer naming none; empty drops the sample as domain_unparsable
        fallback: str = ""

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        outs = self.ask(docs)
        decisions: list[str | None] = []
        for doc, (out,) in zip(docs, outs):
            label = first_label(out, self.config.labels) or self.config.fallback
            if label:
                doc["domain"] = label
            decisions.append(None if label else "domain_unparsable")
        return decisions
