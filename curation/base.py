"""The contract every curation step follows. Steps know nothing of Ray, files or shards.

A document is a plain `dict` (one JSONL/Parquet row) with at least `id` and `text`; steps may add fields
(scores, labels) to it. A step answers one question per document:

    reason = step.filter(doc)    # None -> keep; a short snake_case string -> drop, and why

`run_batch` (from the base class) applies `filter_batch` to a batch and keeps the counters: documents and
tokens in, kept and dropped per reason. A step may rewrite a kept document's `text`; the tokens that
changes are booked as token-only entries (`lines_removed`, `text_added`), so for every step
tokens_in - tokens_out == sum(dropped_tokens) and tokens_in == the previous step's tokens_out. Steps that can vectorise override `filter_batch`, never `run_batch`.

A `GlobalStep` needs to see the whole corpus before it can decide (dedup): the runner first calls
`fit(shards, workdir)` with every input shard of that step, then filters shard by shard as usual.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

Doc = dict[str, Any]

#: token-only funnel entries (no document dropped) for kept documents whose `text` a step rewrote:
#: tokens a step removed (C4's dropped lines) and, negative, tokens it added (anneal builds `text`)
LINES_REMOVED, TEXT_ADDED = "lines_removed", "text_added"


def count_tokens(text: str) -> int:
    """Funnel token count: whitespace-separated words (cheap, tokenizer-independent, stable across runs)."""
    return len(text.split())


def doc_text(doc: Doc, step: str) -> str:
    """The document's `text`; a step handed a document without one is a bug upstream (the readers reject
    such records with file:line), so it fails loudly naming the step and the document."""
    text = doc.get("text")
    if not isinstance(text, str):
        raise ValueError(f"{step}: document {doc.get('id')!r} has no string `text` field")
    return text


@dataclass
class StepStats:
    """Counters of one step over any number of batches; mergeable across shards and workers."""

    docs_in: int = 0
    tokens_in: int = 0
    docs_out: int = 0
    tokens_out: int = 0
    dropped_docs: Counter = field(default_factory=Counter)
    dropped_tokens: Counter = field(default_factory=Counter)

    def merge(self, other: StepStats) -> StepStats:
        self.docs_in += other.docs_in
        self.tokens_in += other.tokens_in
        self.docs_out += other.docs_out
        self.tokens_out += other.tokens_out
        self.dropped_docs.update(other.dropped_docs)
        self.dropped_tokens.update(other.dropped_tokens)
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "tokens_in": self.tokens_in,
            "docs_out": self.docs_out,
            "tokens_out": self.tokens_out,
            "dropped_docs": dict(sorted(self.dropped_docs.items())),
            "dropped_tokens": dict(sorted(self.dropped_tokens.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepStats:
        return cls(
            data["docs_in"],
            data["tokens_in"],
            data["docs_out"],
            data["tokens_out"],
            Counter(data["dropped_docs"]),
            Counter(data["dropped_tokens"]),
        )


class Step:
    """One curation decision. Subclasses set `name` and `reasons` and implement `filter` (or `filter_batch`)."""

    name: ClassVar[str] = "step"
    #: every drop reason this step can return; the runner rejects a reason not listed here
    reasons: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None) -> None:
        """`config`: an instance of the step's nested `Config` dataclass (the registry builds it from YAML);
        None takes the defaults."""
        self.config = config if config is not None else self.Config()  # type: ignore[attr-defined]

    def setup(self) -> None:
        """Load models/indexes. Called once per worker process before the first batch (not in __init__,
        so steps stay cheap to construct and to pickle to Ray workers)."""

    def filter(self, doc: Doc) -> str | None:
        raise NotImplementedError(f"{type(self).__name__} implements neither filter nor filter_batch")

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        return [self.filter(d) for d in docs]

    def run_batch(
        self, docs: Sequence[Doc], stats: StepStats | None = None
    ) -> tuple[list[Doc], list[tuple[Doc, str]]]:
        """Apply the step to a batch: returns (kept, [(dropped_doc, reason), ...]) and updates `stats`."""
        # counted before filtering: filter_batch may rewrite `text` in place
        before = [count_tokens(d.get("text", "")) for d in docs]
        decisions = self.filter_batch(docs)
        if len(decisions) != len(docs):
            raise RuntimeError(
                f"{self.name}: filter_batch returned {len(decisions)} decisions for {len(docs)} docs"
            )
        kept: list[Doc] = []
        dropped: list[tuple[Doc, str]] = []
        for doc, ntok, reason in zip(docs, before, decisions):
            if stats is not None:
                stats.docs_in += 1
                stats.tokens_in += ntok
            if reason is None:
                kept.append(doc)
                if stats is not None:
                    # a step may rewrite `text` (C4 drops lines): tokens_out is what the next step will
                    # read, and the difference gets a token-only entry so in - out still sums to the entries
                    after = count_tokens(doc.get("text", ""))
                    stats.docs_out += 1
                    stats.tokens_out += after
                    if after != ntok:
                        stats.dropped_tokens[LINES_REMOVED if after < ntok else TEXT_ADDED] += ntok - after
            else:
                if self.reasons and reason not in self.reasons:
                    raise RuntimeError(
                        f"{self.name}: undeclared drop reason {reason!r}; declare it in `reasons`"
                    )
                dropped.append((doc, reason))
                if stats is not None:
                    stats.dropped_docs[reason] += 1
                    stats.dropped_tokens[reason] += ntok
        return kept, dropped


class GlobalStep(Step):
    """A step that must see every shard before deciding (exact/near dedup, corpus-wide top-K recall)."""

    #: where fit()'s per-shard and per-partition tasks run (executors/fanout.py); the pipeline sets it
    #: from `--workers` / `--executor ray`, the default is in-process
    fanout: Any = None
    #: a multi-source run's input labels in command-line order (the pipeline sets it): duplicates across
    #: sources survive in the source listed first (dedup/store.py shard_order)
    source_order: Sequence[str] | None = None

    def is_global(self) -> bool:
        """Whether this configured instance needs `fit` (a step may need it in one mode only)."""
        return True

    def fit(self, shards: Mapping[str, Callable[[], Iterable[Doc]]], workdir: Path) -> None:
        """See every input shard of this step (name -> a callable that opens it and yields its docs) and
        leave what `filter` needs under `workdir`. Per-shard work is written there so a rerun skips it."""
        raise NotImplementedError
