"""Few-shot generation benchmarks through lm-evaluation-harness 0.4.13, on local dataset files only.

lm-eval's own task YAMLs download from the hub; here each task is a config dict with `dataset_path: json`
and `dataset_kwargs.data_files` pointing at local JSONL (a `test` split and a `train` split for the few-shot
examples), prompts and metrics as in lm-eval's standard tasks. The paper gives no few-shot counts (only
"MBPP 3-shot" beside Table 1's EvalPlus column), so these are the standard ones, ours to choose: MATH 4-shot
(Minerva), MMLU 5-shot, MBPP 3-shot, GSM8K lm-eval's 8-shot chain-of-thought task (`gsm8k_cot`). GSM8K and
MATH are read from lm-eval's own YAML (`LM_EVAL_YAML`), as MMLU's template is (mmlu.py). MATH's Python half
(prompt, scoring) is lm-eval's `minerva_math/utils.py`, which refuses to import beside hydra's antlr4 4.9 pin,
so the prompt is restated here and the scores computed by math_answer.py; tests/evaluation/test_math_lm_eval.py
runs lm-eval's own minerva_math (in a process with antlr4 4.11) and checks prompts, outputs and `math_verify`.
MBPP needs execution, so its generations (lm-eval `predict_only`) are run in our sandbox (codeexec.py).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from infir.evaluation import math_answer, mmlu

DEFAULT_FEWSHOT = {"gsm8k": 8, "math": 4, "mmlu": 5, "mbpp": 3}

#: lm-eval task YAML (in its wheel) -> the keys of it we run: the prompt, shots, generation and scoring are
#: lm-eval's own, only the dataset is swapped for local files. GSM8K is lm-eval's 8-shot chain-of-thought
#: task (its 8 fixed exemplars, "The answer is N" extraction), as the paper's GSM8K column is reported.
LM_EVAL_YAML = {"gsm8k": "gsm8k/gsm8k-cot.yaml", "math": "minerva_math/minerva_math_algebra.yaml"}
_PROTOCOL_KEYS = ("output_type", "doc_to_text", "doc_to_target", "target_delimiter", "generation_kwargs",
                  "metric_list", "filter_list", "fewshot_config", "fewshot_delimiter")  # fmt: skip


def lm_eval_template(benchmark: str) -> dict[str, Any]:
    """The protocol keys of lm-eval's own task YAML for `benchmark`, read as data: no code is imported, and
    a `!function utils.x` value (Python in lm-eval's task folder) comes back as the string "!function utils.x"
    for the caller to replace with its own implementation."""
    import lm_eval
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")
    path = Path(lm_eval.__file__).parent / "tasks" / LM_EVAL_YAML[benchmark]
    cfg = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader plus one scalar tag
    template = {k: cfg[k] for k in _PROTOCOL_KEYS if k in cfg}
    return {**template, **TEMPLATES.get(benchmark, {})}


#: The tasks lm-eval has no YAML for (MBPP's is code we run in our sandbox, MMLU's is per subject in mmlu.py),
#: and for MATH the keys that lm-eval's YAML points into its un-importable utils.py for.
TEMPLATES: dict[str, dict[str, Any]] = {
    "math": {
        # lm-eval's utils.doc_to_text; the shots show whole solutions (its doc_to_target for few-shot docs).
        # Generation (until "Problem:", greedy) and the shots' sampler come from its YAML.
        "doc_to_text": "Problem:\n{{problem}}\n\nSolution:",
        "doc_to_target": "{{solution}}",
        "process_results": math_answer.process_results,
        "metric_list": [
            {"metric": m, "aggregation": "mean", "higher_is_better": True}
            for m in ("exact_match", "math_verify", "string_match")
        ],
    },
    "mmlu": {
        "output_type": "multiple_choice",
        "doc_to_text": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\n"
        "D. {{choices[3]}}\nAnswer:",
        "doc_to_choice": ["A", "B", "C", "D"],
        "doc_to_target": "answer",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    },
    "mbpp": {
        "output_type": "generate_until",
        "doc_to_text": "You are an expert Python programmer, and here is your task: {{text}} Your code should "
        "pass these tests:\n\n{{test_list[0]}}\n{{test_list[1]}}\n{{test_list[2]}}\n[BEGIN]\n",
        "doc_to_target": "{{code}}\n[DONE]",
        "target_delimiter": "",
        "generation_kwargs": {"until": ["[DONE]", "</s>"], "do_sample": False},
        "metric_list": [{"metric": "bypass", "aggregation": "bypass", "higher_is_better": True}],
    },
}


def task_config(benchmark: str, test_file: str | Path, fewshot_file: str | Path | None, num_fewshot: int,
                max_gen_toks: int = 256, fewshot_from_test: bool = False) -> dict[str, Any]:  # fmt: skip
    """An lm-eval task config dict reading local JSONL files (nothing is downloaded).

    Few-shot examples come from `fewshot_file`, a separate dev/train split. Drawing them from the test file
    lets an item see itself, answer included, among its shots; that is refused unless `fewshot_from_test`,
    and then the test split is also the few-shot split, so lm-eval draws num_fewshot + 1 and drops the item.
    """
    if benchmark not in TEMPLATES and benchmark not in LM_EVAL_YAML:
        raise ValueError(f"benchmark must be one of {sorted({*TEMPLATES, *LM_EVAL_YAML})}, got {benchmark!r}")
    for f in (test_file, fewshot_file):
        if f is not None and not Path(f).is_file():
            raise FileNotFoundError(f"{f}: local dataset file not found")
    template = lm_eval_template(benchmark) if benchmark in LM_EVAL_YAML else dict(TEMPLATES[benchmark])
    unported = [k for k, v in template.items() if isinstance(v, str) and v.startswith("!function")]
    if unported:  # lm-eval grew a Python hook we have not restated: refuse rather than run a half task
        raise RuntimeError(f"lm-eval's {benchmark} task calls Python we do not port: {unported}")
    fewshot_config = dict(template.pop("fewshot_config", None) or {"sampler": "first_n"})
    # lm-eval's fixed exemplars (GSM8K-CoT's 8) are the default shots; a fewshot file replaces them
    fixed = isinstance(fewshot_config.get("samples"), list) and fewshot_file is None
    if fixed and num_fewshot > len(fewshot_config["samples"]):
        from infir.config import ConfigError

        raise ConfigError("num_fewshot", f"lm-eval's {benchmark} has {len(fewshot_config['samples'])} "
                                         f"exemplars, {num_fewshot} asked: give fewshot_data=<train JSONL>")  # fmt: skip
    if not fixed:
        fewshot_config.pop("samples", None)
    same = not fixed and (fewshot_file is None or Path(fewshot_file).resolve() == Path(test_file).resolve())
    if num_fewshot > 0 and same and not fewshot_from_test:
        from infir.config import ConfigError

        raise ConfigError(
            "fewshot_data",
            f"the {num_fewshot} few-shot examples would come from the test file {test_file} (an item could see "
            "itself and its answer): give fewshot_data=<a dev/train JSONL>, or fewshot_from_test=true to draw "
            "them from the test file without the item itself",
        )
    if same or fixed:
        files, fewshot_split = {"test": str(test_file)}, "test"
    else:
        files, fewshot_split = {"test": str(test_file), "train": str(fewshot_file)}, "train"
    cfg = {
        "task": f"infir_{benchmark}",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": files},
        "test_split": "test",
        "fewshot_split": None if fixed else fewshot_split,
        "num_fewshot": num_fewshot,
        "fewshot_config": fewshot_config,
        **template,
    }
    if "generation_kwargs" in cfg:
        cfg["generation_kwargs"] = {**cfg["generation_kwargs"], "max_gen_toks": max_gen_toks}
    return cfg


def run_harness(
    model_path: str | Path,
    benchmark: str,
    test_file: str | Path,
    fewshot_file: str | Path | None = None,
    num_fewshot: int | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    max_gen_toks: int = 256,
    device: str | None = None,
    fewshot_from_test: bool = False,
    chat_template: bool = False,
) -> dict:
    """Run one benchmark with lm-eval's HFLM on a local checkpoint; returns scalar metrics + samples.

    `chat_template`: the instruct-model protocol (the paper's Table 2): each prompt goes through the
    tokenizer's chat template as a user turn (lm-eval's apply_chat_template); base models get plain text."""
    import torch
    from lm_eval import evaluator
    from lm_eval.models.huggingface import HFLM

    shots = DEFAULT_FEWSHOT[benchmark] if num_fewshot is None else num_fewshot
    if benchmark == "mmlu" and mmlu.has_subjects(test_file):  # lm-eval's per-subject protocol
        return _run_mmlu(model_path, test_file, fewshot_file, shots, limit, batch_size, device,
                         fewshot_from_test, chat_template)  # fmt: skip
    cfg = task_config(benchmark, test_file, fewshot_file, shots, max_gen_toks, fewshot_from_test)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    lm = HFLM(pretrained=str(model_path), device=dev, batch_size=batch_size)
    if chat_template and not getattr(lm.tokenizer, "chat_template", None):
        from infir.config import ConfigError

        raise ConfigError(
            "chat_template", f"{model_path}: the tokenizer has no chat template (not an instruct model?)"
        )
    out = evaluator.simple_evaluate(
        model=lm, tasks=[cfg], limit=limit, log_samples=True, predict_only=benchmark == "mbpp",
        bootstrap_iters=0, apply_chat_template=chat_template, fewshot_as_multiturn=chat_template and shots > 0,
    )  # fmt: skip
    name = cfg["task"]
    # lm-eval logs one sample per (doc, filter): GSM8K's two filters would count every item twice
    first: dict[int, dict] = {}
    for sample in out["samples"][name]:
        first.setdefault(sample["doc_id"], sample)
    samples = list(first.values())
    metrics = {
        re.sub(r",(none|strict-match|flexible-extract)$", r"_\1", k).replace("_none", ""): v
        for k, v in out["results"][name].items()
        if isinstance(v, int | float) and "stderr" not in k
    }
    result: dict[str, Any] = {"benchmark": benchmark, "num_fewshot": shots, "chat_template": chat_template,
                              "items": len(samples), **metrics}  # fmt: skip
    if benchmark == "mbpp":
        result.update(_execute_mbpp(samples))
    result["samples"] = [{"doc_id": s["doc_id"], "output": s["filtered_resps"][0], "prompt": _prompt(s)}
                         for s in samples]  # fmt: skip
    return result


def _run_mmlu(
    model_path, test_file, dev_file, shots, limit, batch_size, device, fewshot_from_test, chat_template
):
    import torch
    from lm_eval import evaluator
    from lm_eval.models.huggingface import HFLM

    skipped: list[dict[str, str]] = []
    configs = mmlu.task_configs(test_file, dev_file, shots, fewshot_from_test, skipped)
    for item in skipped:
        print(f"[mmlu] skipped {item['where']}: {item['reason']}", file=sys.stderr)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    lm = HFLM(pretrained=str(model_path), device=dev, batch_size=batch_size)
    out = evaluator.simple_evaluate(
        model=lm, tasks=configs, limit=limit, log_samples=True, bootstrap_iters=0,
        apply_chat_template=chat_template, fewshot_as_multiturn=chat_template and shots > 0,
    )  # fmt: skip
    sizes = {c["task"]: len({s["doc_id"] for s in out["samples"][c["task"]]}) for c in configs}
    samples = []
    for c in configs:
        subject = c["task"].removeprefix("infir_mmlu_")
        first: dict[int, dict] = {}
        for sample in out["samples"][c["task"]]:
            first.setdefault(sample["doc_id"], sample)
        samples += [{"subject": subject, "doc_id": s["doc_id"], "output": s["filtered_resps"][0], "prompt": _prompt(s)}
                    for s in first.values()]  # fmt: skip
    return {
        "benchmark": "mmlu", "num_fewshot": shots, "chat_template": chat_template, "items": sum(sizes.values()),
        "skipped": skipped,
        "subjects": len(configs), "acc": mmlu.micro_average(out["results"], sizes),
        "acc_per_subject": {c["task"].removeprefix("infir_mmlu_"): out["results"][c["task"]]["acc,none"] for c in configs},
        "samples": samples,
    }  # fmt: skip


def _prompt(sample: dict) -> str:
    """The context lm-eval built for a logged sample (few-shot examples + the item), whatever its nesting."""
    todo: list[Any] = [sample.get("arguments")]
    while todo:
        item = todo.pop(0)
        if isinstance(item, str):
            return item
        if isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list | tuple):
            todo.extend(item)
    return ""


def _execute_mbpp(samples: list[dict]) -> dict:
    from infir.evaluation.codeexec import run_program

    results = []
    for s in samples:
        doc = s["doc"]
        code = s["filtered_resps"][0]
        code = code[0] if isinstance(code, list) else code
        program = "\n".join([doc.get("test_setup_code", ""), code, *doc["test_list"]]) + "\n"
        results.append(run_program(str(doc.get("task_id", s["doc_id"])), program, timeout_s=10.0))
    passed = sum(r.status == "passed" for r in results)
    return {"pass@1": passed / max(len(results), 1), "passed": passed}
