"""Evaluation: web validation NLL, benchmark answer NLL + normalised choice, HumanEval/MBPP execution,
lm-evaluation-harness few-shot benchmarks, result tables and cross-checkpoint plots (`infir eval`).

Names are resolved lazily so `infir eval --help` does not import torch.
"""

import importlib

_EXPORTS = {
    "web_nll": "infir.evaluation.nll",
    "evaluate_choice": "infir.evaluation.choice",
    "evaluate_answer_nll": "infir.evaluation.choice",
    "normalised_choice": "infir.evaluation.choice",
    "build_valset": "infir.evaluation.valset",
    "SuiteConfig": "infir.evaluation.suites",
    "load_suite": "infir.evaluation.suites",
    "run_suite": "infir.evaluation.suites",
    "compare": "infir.evaluation.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'infir.evaluation' has no attribute {name!r}")
