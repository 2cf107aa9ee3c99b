"""Difficulty labels and diversity sampling to a target size, with the paper's medium-and-harder preference.

`difficulty` labels each sample easy / medium / hard: from a model's pass rate over k samples against the
record's reference `answer` (math, checked by math_answer.is_correct), or from a judge's label.
`diversity_sample` is a global step: it sees every shard, then keeps `target` samples spread evenly over
the groups (`domain` labels), taking hard before medium before easy inside each group (the paper: keep
medium+ preferentially; 35% of the hard group matched the full set). Ties break by a seeded hash of the id,
so the choice does not depend on shard order or worker count.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from infir.curation.base import Doc, GlobalStep
from infir.curation.io import write_text_atomic
from infir.curation.registry import register_step
from infir.synth.base import SynthStep
from infir.synth.steps import first_label

LEVELS = ("easy", "medium", "hard")


@register_step("difficulty")
class Difficulty(SynthStep):
    reasons = ("no_reference_answer", "difficulty_unparsable")

    @dataclass
    class Config:
        engine: str = "teacher"
        #: pass_rate: k samples checked against `answer`; judge: the engine names the level
        mode: Literal["pass_rate", "judge"] = "pass_rate"
        #: empty: answer_math.txt for pass_rate (boxed answers to check), difficulty.txt for judge
        prompt_file: str = ""
        k: int = field(default=4, metadata={"ge": 1})
        #: pass rate >= easy_at: easy; <= hard_at: hard; between: medium
        easy_at: float = field(default=0.75, metadata={"ge": 0.0, "le": 1.0})
        hard_at: float = field(default=0.25, metadata={"ge": 0.0, "le": 1.0})

        def __post_init__(self) -> None:
            if not self.prompt_file:
                self.prompt_file = "answer_math.txt" if self.mode == "pass_rate" else "difficulty.txt"

        def validate(self) -> None:
            if self.hard_at >= self.easy_at:
                from infir.config import ConfigError

                raise ConfigError("hard_at", f"must be below easy_at ({self.hard_at} >= {self.easy_at})")

    def level(self, rate: float) -> str:
        c = self.config
        return "easy" if rate >= c.easy_at else "hard" if rate <= c.hard_at else "medium"

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        if self.config.mode == "judge":
            outs = self.ask(docs)
            decisions: list[str | None] = []
            for doc, (out,) in zip(docs, outs):
                label = first_label(out, LEVELS)
                if label:
                    doc["difficulty"] = label
                decisions.append(None if label else "difficulty_unparsable")
            return decisions
        from infir.evaluation.math_answer import is_correct

        todo = [d for d in docs if isinstance(d.get("answer"), str) and d["answer"].strip()]
        outs = self.ask(todo, n=self.config.k) if todo else []
        for doc, samples in zip(todo, outs):
            gold = doc["answer"] if "\\boxed" in doc["answer"] else f"\\boxed{{{doc['answer']}}}"
            rate = sum(is_correct(s, gold) for s in samples) / len(samples)
            doc["pass_rate"], doc["difficulty"] = round(rate, 4), self.level(rate)
        return [None if "difficulty" in d else "no_reference_answer" for d in docs]


def _rank(doc_id: str, seed: int) -> str:
    return hashlib.blake2b(f"{seed}:{doc_id}".encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def choose(rows: Iterable[tuple[str, str, str]], target: int, prefer: Sequence[str], seed: int) -> set[str]:
    """rows: (id, group, level). Keep `target` ids: groups get equal quotas (a small group gives all it
    has and its unused quota goes to the others); inside a group, levels in `prefer` order, then the rest."""
    groups: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    order = {lvl: i for i, lvl in enumerate(prefer)}
    for doc_id, group, level in rows:
        groups[group].append((order.get(level, len(order)), _rank(doc_id, seed), doc_id))
    for g in groups.values():
        g.sort()
    quota, left = {g: 0 for g in groups}, min(target, sum(len(g) for g in groups.values()))
    while left > 0:  # water filling: share what is left equally among groups that still have samples
        open_ = sorted(g for g in groups if quota[g] < len(groups[g]))
        share = max(1, left // len(open_))
        for g in open_:
            take = min(share, len(groups[g]) - quota[g], left)
            quota[g], left = quota[g] + take, left - take
            if left == 0:
                break
    return {doc_id for g, rows_ in groups.items() for _, _, doc_id in rows_[: quota[g]]}


@register_step("diversity_sample")
class DiversitySample(GlobalStep):
    reasons = ("not_sampled",)

    @dataclass
    class Config:
        target: int = field(default=1000, metadata={"ge": 1})
        group_by: str = "domain"
        prefer: list[str] = field(default_factory=lambda: ["hard", "medium"])
        seed: int = 0

    def fit(self, shards: Mapping[str, Callable[[], Iterable[Doc]]], workdir: Path) -> None:
        out = workdir / "selected.json"
        if not out.is_file():  # a resumed run keeps the first choice
            c = self.config
            rows = ((str(d["id"]), str(d.get(c.group_by, "")), str(d.get("difficulty", "")))
                    for name in sorted(shards) for d in shards[name]())  # fmt: skip
            write_text_atomic(out, json.dumps(sorted(choose(rows, c.target, c.prefer, c.seed))))
        self._selected_file = out

    def filter(self, doc: Doc) -> str | None:
        if getattr(self, "_selected", None) is None:  # loaded where the shard runs (a worker process)
            self._selected = set(json.loads(self._selected_file.read_text()))
        return None if str(doc["id"]) in self._selected else "not_sampled"
