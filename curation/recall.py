"""Reasoning recall (DeepSeekMath style): a fastText classifier of seed positives vs random negatives.

`train_recall` trains and reports precision/recall on a held-out split; iterations add the documents the
previous model recalls from the negatives pool as new positives. The `recall` step scores documents with
a trained model (P(__label__positive) written to a field) and keeps those >= threshold, or, with `top_k`,
the K best-scoring documents of the whole corpus: then it is a GlobalStep whose `fit` scores every shard
(per-shard top-K saved, so a rerun skips scored shards) and fixes the cutoff; ties at the cutoff go to the
smaller document id, so exactly K are kept whatever the batch size, shard order or executor.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import random
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infir.config import ConfigError, validate
from infir.curation.base import Doc, GlobalStep
from infir.curation.fasttext_train import train_supervised
from infir.curation.registry import register_step
from infir.curation.scorers import fasttext_scores

POS, NEG = "__label__positive", "__label__negative"


@dataclass
class TrainConfig:
    """DeepSeekMath's fastText settings; `bucket` is explicit so a model stays small (~bucket*dim*4 bytes)."""

    dim: int = field(default=256, metadata={"ge": 1})
    lr: float = field(default=0.1, metadata={"gt": 0})
    word_ngrams: int = field(default=3, metadata={"ge": 1})
    min_count: int = field(default=3, metadata={"ge": 1})
    epochs: int = field(default=3, metadata={"ge": 1})
    bucket: int = field(default=200_000, metadata={"ge": 1})
    #: share of documents held out for precision/recall (the rest must train)
    heldout: float = field(default=0.1, metadata={"ge": 0, "lt": 1})
    iterations: int = field(default=1, metadata={"ge": 1})
    #: an iteration promotes negatives scoring above this to positives
    promote_threshold: float = dataclasses.field(default=0.9, metadata={"ge": 0, "le": 1})
    seed: int = 0


def _clean(text: str) -> str:
    return " ".join(text.split())


def _fit(pos: list[str], neg: list[str], cfg: TrainConfig, workdir: Path) -> tuple[Any, dict[str, float]]:
    rows = [(POS, t) for t in pos] + [(NEG, t) for t in neg]
    random.Random(cfg.seed).shuffle(rows)
    n_test = max(1, int(len(rows) * cfg.heldout)) if cfg.heldout > 0 else 0
    test, train = rows[:n_test], rows[n_test:]
    path = workdir / "train.txt"
    path.write_text("".join(f"{lab} {_clean(t)}\n" for lab, t in train), encoding="utf-8")
    model = train_supervised(path, seed=cfg.seed, dim=cfg.dim, lr=cfg.lr, wordNgrams=cfg.word_ngrams,
                             minCount=cfg.min_count, epoch=cfg.epochs, bucket=cfg.bucket)  # fmt: skip
    metrics = {"train_docs": len(train), "heldout_docs": len(test)}
    if test:
        scores = fasttext_scores(model, [t for _, t in test], POS)
        pred = [s >= 0.5 for s in scores]
        gold = [lab == POS for lab, _ in test]
        tp = sum(p and g for p, g in zip(pred, gold))
        metrics["precision"] = tp / max(1, sum(pred))
        metrics["recall"] = tp / max(1, sum(gold))
    return model, metrics


def train_recall(
    positives: Sequence[str], negatives: Sequence[str], out_path: str | Path, cfg: TrainConfig | None = None
) -> dict[str, Any]:
    """Train (and iterate) a recall classifier; saves `out_path` and returns metrics per iteration."""
    cfg = cfg or TrainConfig()
    validate(cfg, "train_recall")  # a TrainConfig built in code skipped from_dict's bounds
    pos, neg = list(positives), list(negatives)
    if not pos or not neg:
        raise ConfigError("positives" if not pos else "negatives", "train_recall needs at least one document")
    history = []
    with tempfile.TemporaryDirectory() as tmp:
        for it in range(cfg.iterations):
            model, metrics = _fit(pos, neg, cfg, Path(tmp))
            metrics["iteration"] = it + 1
            metrics["positives"] = len(pos)
            history.append(metrics)
            if it + 1 < cfg.iterations:  # recalled negatives become positives for the next round
                scores = fasttext_scores(model, neg, POS)
                promoted = [t for t, s in zip(neg, scores) if s >= cfg.promote_threshold]
                pos += promoted
                neg = [t for t, s in zip(neg, scores) if s < cfg.promote_threshold]
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out))
    return {**history[-1], "model": str(out), "model_bytes": out.stat().st_size, "history": history}


_MODELS: dict[str, Any] = {}  # per process: a worker scoring several shards loads the model once


def _load_model(path: str) -> Any:
    import fasttext

    if path not in _MODELS:
        if not Path(path).is_file():
            raise ConfigError("model", f"recall model not found: {path}")
        _MODELS[path] = fasttext.load_model(path)
    return _MODELS[path]


def _scored(model: Any, docs: Iterable[Doc], batch: int = 1000) -> Iterable[tuple[float, str]]:
    """(-score, id) per document, scored in batches."""
    chunk: list[Doc] = []
    for doc in itertools.chain(docs, [None]):  # None flushes the last chunk
        if doc is not None:
            chunk.append(doc)
        if chunk and (doc is None or len(chunk) == batch):
            scores = fasttext_scores(model, [d["text"] for d in chunk], POS)
            yield from ((-s, str(d["id"])) for d, s in zip(chunk, scores))
            chunk = []


@register_step("recall")
class Recall(GlobalStep):
    reasons = ("below_recall_threshold", "not_top_k")

    @dataclass
    class Config:
        model: str = ""
        #: one model per domain (the paper: math, code-related, other; `infir curate recall-rounds`): a
        #: document is kept when any domain's score reaches `threshold`; `recall_domain` names the best
        models: dict[str, str] = dataclasses.field(default_factory=dict)
        field: str = "recall_score"  # shadows dataclasses.field below, hence the module prefix
        threshold: float = dataclasses.field(default=0.5, metadata={"ge": 0, "le": 1})
        #: keep only the K best-scoring documents of the whole corpus (0 = keep score >= `threshold`)
        top_k: int = dataclasses.field(default=0, metadata={"ge": 0})

        def validate(self) -> None:
            if self.models and self.model:
                raise ConfigError("models", "give one `model` or per-domain `models`, not both")
            if self.models and self.top_k:
                raise ConfigError(
                    "top_k", "top_k ranks one model's scores; with per-domain `models` use threshold"
                )
            if not self.model and not self.models:
                raise ConfigError(
                    "model",
                    "recall needs `model` (or `models`): a fastText .bin from `infir curate train-recall`",
                )

    def __init__(self, cfg: Config) -> None:
        self.config = cfg
        self._model: Any = None
        #: the K-th best (-score, id) of the corpus, set by fit(); None with top_k = keep all
        self._cutoff: tuple[float, str] | None = None
        self._fitted = False

    def is_global(self) -> bool:
        return self.config.top_k > 0  # threshold mode decides per document, no corpus pass needed

    def fit(self, shards: Mapping[str, Callable[[], Iterable[Doc]]], workdir: Path) -> None:
        """Each shard's K best (-score, id), one task per shard through the fan-out (the corpus K best are
        among them; saved per shard, so a rerun scores only the shards it lacks), then merged here."""
        from infir.curation.executors.fanout import fan_out

        k, model_path = self.config.top_k, self.config.model
        saved = {name: Path(workdir) / "top_k" / f"{name}.json" for name in sorted(shards)}
        todo = [name for name, path in saved.items() if not path.is_file()]

        def top_of(j: int) -> int:  # runs in a worker: loads the model there (a fastText model won't pickle)
            name = todo[j]
            top = heapq.nsmallest(k, _scored(_load_model(model_path), shards[name]()))
            saved[name].parent.mkdir(parents=True, exist_ok=True)
            tmp = saved[name].with_suffix(".tmp")
            tmp.write_text(json.dumps(top))
            tmp.replace(saved[name])
            return len(top)

        for done, (j, n) in enumerate(fan_out(top_of, len(todo), self.fanout), 1):
            print(f"recall: [{done}/{len(todo)}] {todo[j]}: top {n} scored")
        best: list[tuple[float, str]] = []
        for path in saved.values():
            best = heapq.nsmallest(k, best + [tuple(x) for x in json.loads(path.read_text())])
        self._cutoff = best[-1] if len(best) == k else None
        self._fitted = True

    def setup(self) -> None:
        if self.config.models:
            self._model = {domain: _load_model(path) for domain, path in sorted(self.config.models.items())}
        else:
            self._model = _load_model(self.config.model)

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        if self._model is None:
            self.setup()
        texts = [d["text"] for d in docs]
        if self.config.models:  # per domain: the best domain's score decides, and is named
            per = {domain: fasttext_scores(m, texts, POS) for domain, m in self._model.items()}
            domains = list(per)
            best = [max(domains, key=lambda k, i=i: per[k][i]) for i in range(len(docs))]
            scores = [per[b][i] for i, b in enumerate(best)]
            for d, b in zip(docs, best):
                d["recall_domain"] = b
        else:
            scores = fasttext_scores(self._model, texts, POS)
        for d, s in zip(docs, scores):
            d[self.config.field] = s
        if self.config.top_k > 0:
            if not self._fitted:
                raise RuntimeError("recall: top_k needs fit(shards, workdir) over the corpus first")
            cut = self._cutoff
            return [
                None if cut is None or (-s, str(d["id"])) <= cut else "not_top_k"
                for d, s in zip(docs, scores)
            ]
        return [None if s >= self.config.threshold else "below_recall_threshold" for s in scores]
