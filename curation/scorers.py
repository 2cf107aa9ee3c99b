"""`quality_score`: a pluggable quality model by local path; writes a score field, keeps >= threshold.

Two model kinds, told apart by the path: a fastText `.bin` (score = probability of `positive_label`, or
the expected label value when `expected_value` is set, e.g. labels __label__1..__label__5 for a 1-5 math
scorer) or a Hugging Face sequence-classification folder (FineWeb-Edu style: one regression logit, or
class probabilities folded into an expected value). Models load in `setup()`, once per worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infir.config import ConfigError
from infir.curation.base import Doc, Step
from infir.curation.registry import register_step

DEFAULT_THRESHOLD = {"probability": 0.5, "scale": 3.0}


@register_step("quality_score")
class QualityScore(Step):
    reasons = ("low_quality_score",)

    @dataclass
    class Config:
        model: str = ""
        field: str = "quality_score"  # shadows dataclasses.field below, hence the module prefix
        #: keep documents scoring >= this; None: the scorer kind's own default (DEFAULT_THRESHOLD): 0.5 for a
        #: fastText probability, 3.0 for 1-5 scales (fastText expected value, FineWeb-Edu's HF regressor)
        threshold: float | None = None
        positive_label: str = "__label__positive"
        #: fastText: score = sum(p(label) * numeric label), for 1-5 ordinal labels
        expected_value: bool = False
        batch_size: int = dataclasses.field(default=32, metadata={"ge": 1})
        max_length: int = dataclasses.field(default=512, metadata={"ge": 1})

        def validate(self) -> None:
            if not self.model:
                raise ConfigError(
                    "model", "quality_score needs `model`: a fastText .bin or an HF model folder"
                )

    def __init__(self, cfg: Config) -> None:
        self.config = cfg
        self._ft: Any = None
        self._hf: Any = None
        self._threshold: float | None = None

    def kind(self) -> str:
        """ "probability" (a fastText .bin scored as P(positive_label)) or "scale" (1-5 style scores)."""
        if Path(self.config.model).is_dir() or self.config.expected_value:
            return "scale"
        return "probability"

    def threshold(self) -> float:
        """The configured threshold, checked against the scorer's range, or the kind's default."""
        kind = self.kind()
        value = DEFAULT_THRESHOLD[kind] if self.config.threshold is None else self.config.threshold
        if kind == "probability" and not 0.0 <= value <= 1.0:
            raise ConfigError(
                "threshold",
                f"{self.config.model} scores a probability in [0, 1]; threshold {value} would keep "
                + ("every" if value < 0 else "no")
                + " document (set expected_value: true for a 1-5 labelled model)",
            )
        return value

    def setup(self) -> None:
        path = Path(self.config.model)
        if not path.exists():
            raise ConfigError("model", f"quality model not found: {path}")
        self._threshold = self.threshold()
        if path.is_dir():
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self._hf = (
                AutoTokenizer.from_pretrained(path),
                AutoModelForSequenceClassification.from_pretrained(path),
            )
            self._hf[1].eval()
        else:
            import fasttext

            self._ft = fasttext.load_model(str(path))

    def scores(self, texts: Sequence[str]) -> list[float]:
        if self._ft is None and self._hf is None:
            self.setup()
        if self._ft is not None:
            return fasttext_scores(self._ft, texts, self.config.positive_label, self.config.expected_value)
        import torch

        tok, model = self._hf
        out: list[float] = []
        for i in range(0, len(texts), self.config.batch_size):
            enc = tok(list(texts[i : i + self.config.batch_size]), truncation=True, max_length=self.config.max_length,
                      padding=True, return_tensors="pt")  # fmt: skip
            with torch.no_grad():
                logits = model(**enc).logits.float()
            if logits.shape[1] == 1:  # regression head (FineWeb-Edu)
                out += logits[:, 0].tolist()
            else:  # classes 0..K-1 -> expected class value
                probs = logits.softmax(-1)
                out += (probs * torch.arange(probs.shape[1])).sum(-1).tolist()
        return out

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        scores = self.scores([d["text"].replace("\n", " ") for d in docs])
        out: list[str | None] = []
        if self._threshold is None:
            self._threshold = self.threshold()
        for doc, s in zip(docs, scores):
            doc[self.config.field] = float(s)
            out.append(None if s >= self._threshold else "low_quality_score")
        return out


def fasttext_scores(
    model: Any, texts: Sequence[str], positive: str, expected_value: bool = False
) -> list[float]:
    """Batch fastText prediction -> P(positive) (or the expected numeric label value) per text."""
    texts = [t.replace("\n", " ") for t in texts]
    labels, probs = model.predict(texts, k=-1)
    out = []
    for labs, ps in zip(labels, probs):
        # fastText adds 1e-5 to every probability, so they sum to a little over 1: renormalise, or a
        # certain 5 scores 5.0001 and P(positive) 1.00001
        total = float(sum(ps)) or 1.0
        if expected_value:
            out.append(
                sum(float(lab.removeprefix("__label__")) * float(p) for lab, p in zip(labs, ps)) / total
            )
        else:
            out.append(float(dict(zip(labs, ps)).get(positive, 0.0)) / total)
    return out
