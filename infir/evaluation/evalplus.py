"""EvalPlus-style HumanEval+ / MBPP+ checking: the base tests, then many more inputs judged against the
reference solution's own outputs (the paper's Table 1 code numbers are EvalPlus's).

Data: a local HumanEvalPlus/MbppPlus JSONL (`data=PATH`), EvalPlus's schema: `task_id`, `prompt`,
`entry_point`, `canonical_solution`, `test` (the base tests), `base_input` and `plus_input` (lists of
argument lists) and `atol`. A problem without `plus_input` (plain HumanEval) gets its base tests alone,
so `base` and `plus` are then equal.

How a completion is judged, inside one sandboxed program: the reference runs first on every input and
its outputs are kept; then the completion is defined and must return, for each input, a value equal to
the reference's (floats within `atol`, 1e-6 when the data gives 0, as EvalPlus does). Inputs are passed
as deep copies so neither function sees the other's mutations.
"""

from __future__ import annotations

from collections.abc import Sequence

from infir.evaluation.codeexec import _summary, execute, humaneval_program
from infir.evaluation.sandbox import Limits

_COMPARE = """
import copy as _copy
import math as _math

def _infir_same(out, exp, atol):
    if isinstance(exp, float) or isinstance(out, float):
        if isinstance(out, bool) or isinstance(exp, bool) or not isinstance(out, (int, float)):
            return False
        if _math.isnan(exp):
            return _math.isnan(out)
        return abs(out - exp) <= atol + 1e-9 * abs(exp)
    if isinstance(exp, (list, tuple)):
        return (type(out) is type(exp) and len(out) == len(exp)
                and all(_infir_same(o, e, atol) for o, e in zip(out, exp)))
    if isinstance(exp, dict):
        return (isinstance(out, dict) and out.keys() == exp.keys()
                and all(_infir_same(out[k], exp[k], atol) for k in exp))
    if type(exp) in (int, bool):  # EvalPlus compares with ==, so 1 == True; nothing else passes for an int
        return type(out) in (int, bool) and out == exp
    return type(out) is type(exp) and out == exp  # an object whose __eq__ always says True is no answer
"""


def plus_program(problem: dict, completion: str) -> str | None:
    """The reference-vs-completion program over base_input + plus_input; None without plus inputs."""
    inputs = list(problem.get("base_input") or []) + list(problem.get("plus_input") or [])
    if not problem.get("plus_input"):
        return None
    entry = problem["entry_point"]
    atol = float(problem.get("atol") or 0.0) or 1e-6
    return "\n".join([
        _COMPARE,
        f"_INPUTS = {inputs!r}",
        problem["prompt"] + problem["canonical_solution"],
        f"_EXPECTED = [{entry}(*_copy.deepcopy(a)) for a in _INPUTS]",
        f"del {entry}",
        problem["prompt"] + completion,
        f"_CAND = {entry}",
        "for _i, (_a, _e) in enumerate(zip(_INPUTS, _EXPECTED)):",
        f"    assert _infir_same(_CAND(*_copy.deepcopy(_a)), _e, {atol!r}), f'input {{_i}}: {{_a!r:.200}}'",
        "",
    ])  # fmt: skip


def score_plus(
    problems: dict[str, dict],
    samples: Sequence[tuple[str, str]],
    limits: Limits = Limits(),
    ks: Sequence[int] = (1,),
    workers: int | None = None,
) -> dict:
    """Base and plus results per sample: `base` (the problem's own tests) and `plus` (base and every
    extra input match the reference). Returns {"base": summary, "plus": summary, "per_sample": [...]}."""
    base_jobs = [(t, humaneval_program(problems[t], c)) for t, c in samples]
    plus_jobs = [(i, t, plus_program(problems[t], c)) for i, (t, c) in enumerate(samples)]
    base = execute(base_jobs, limits, workers)
    extra = [j for j in plus_jobs if j[2] is not None]
    extra_results = dict(
        zip((i for i, _, _ in extra), execute([(t, p) for _, t, p in extra], limits, workers))
    )
    plus = []
    for i, result in enumerate(base):
        more = extra_results.get(i)
        passed = result.status == "passed" and (more is None or more.status == "passed")
        detail = result.detail if result.status != "passed" else (more.detail if more else "")
        plus.append(type(result)(result.task_id, "passed" if passed else "failed", result.seconds, detail,
                                 result.isolation, result.run_id))  # fmt: skip
    per_sample = [{"task_id": t, "base": b.status, "plus": p.status, "detail": p.detail}
                  for (t, _), b, p in zip(samples, base, plus)]  # fmt: skip
    return {"base": _summary(base, ks), "plus": _summary(plus, ks), "per_sample": per_sample}


def flat(res: dict) -> dict:
    """A suite result: plus numbers under their names, base numbers prefixed `base_` (EvalPlus prints both)."""
    out = {k: v for k, v in res["plus"].items()}
    out.update({f"base_{k}": v for k, v in res["base"].items() if k.startswith("pass@") or k == "passed"})
    return out


def evaluate(model_path, data_path, max_items, max_new_tokens, timeout_s, memory_mb) -> dict:
    """Greedy completions for every prompt of a HumanEval+ file, then base and plus pass@1."""
    from infir.evaluation.codeexec import HUMANEVAL_STOP, read_problems
    from infir.evaluation.model import LoadedLM, generate, load_lm

    lm = model_path if isinstance(model_path, LoadedLM) else load_lm(model_path)
    problems = read_problems(data_path)
    ids = list(problems)[:max_items] if max_items else list(problems)
    outs = generate(lm, [problems[t]["prompt"] for t in ids], max_new_tokens, HUMANEVAL_STOP)
    res = score_plus(problems, list(zip(ids, outs)), Limits(timeout_s=timeout_s, memory_mb=memory_mb))
    return {**flat(res), "per_sample": res["per_sample"], "completions": dict(zip(ids, outs))}
