"""MATH answer checking: the last \\boxed{...} of a solution, compared by value, not by spelling.

Extraction is Minerva's (Lewkowycz et al. 2022, the harness's `minerva_math`), written here because
lm-eval's own module will not import beside hydra's antlr4 pin. Comparison is the paper's Qwen2.5-Math-style
check: the normalised strings, else symbolic equivalence with `math-verify` (so `\\frac{1}{2}` = `0.5`,
`2\\sqrt{2}` = `\\sqrt{8}`, `x^2+2x+1` = `(x+1)^2`); `string_match` keeps the old strict score beside it. A model's answer is its last `\\boxed{}`,
or else the `Final Answer: The final answer is X.` line Minerva's few-shot prompt teaches. Braces are
matched, so `\\boxed{\\frac{2}{3}}` gives `\\frac{2}{3}` (a greedy regex would run to the last `}`).
"""

from __future__ import annotations

import re
import threading

_FINAL = re.compile(r"[Ff]inal [Aa]nswer: The final answer is (.*?)\. I hope it is correct\.")
# Minerva's normalisation, reduced to what is exact on strings: units/words, spacing, dollar signs,
# \left/\right, \dfrac/\tfrac -> \frac, trailing dot, thousands commas in plain integers.
_STRIP = [r"\\left", r"\\right", r"\\!", r"\\,", r"\\;", r"\$", r"\\text\{\s*\}", r"^\s*x\s*=\s*"]


def last_boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} (or `\\boxed x`) in text, braces matched; None if absent."""
    start = text.rfind("\\boxed")
    if start < 0:
        start = text.rfind("\\fbox")
        if start < 0:
            return None
    i = text.find("{", start)
    if i < 0 or text[start:i].strip() not in ("\\boxed", "\\fbox"):
        plain = re.match(r"\\boxed ([^$\s]+)", text[start:])
        return plain[1] if plain else None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    return None


def model_answer(output: str) -> str | None:
    """What a generation answers: its last boxed expression, else Minerva's `Final Answer` line."""
    boxed = last_boxed(output)
    if boxed is not None:
        return boxed
    final = _FINAL.search(output)
    return final[1] if final else None


def normalise(answer: str) -> str:
    s = answer.strip()
    s = re.sub(r"\\text\{([^}]*)\}", r"\1", s)
    for pattern in _STRIP:
        s = re.sub(pattern, "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace(" ", "")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", s):
        s = s.replace(",", "")
    return s.rstrip(".")


def equivalent(pred: str, gold: str) -> bool:
    """Same normalised string, or the same value/expression by math-verify's symbolic check."""
    if normalise(pred) == normalise(gold):
        return True
    from math_verify import parse, verify

    # math-verify's timeouts use SIGALRM, which only the main thread may set
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        gold_parsed = parse(f"${gold}$", parsing_timeout=timeout)
        pred_parsed = parse(f"${pred}$", parsing_timeout=timeout)
        return bool(gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except Exception:  # an unparsable answer is a wrong answer, never a crash of the run
        return False


def is_correct(output: str, solution: str, symbolic: bool = True) -> bool:
    """Does a generation reach the reference solution's boxed answer?"""
    gold, pred = last_boxed(solution), model_answer(output)
    if gold is None or pred is None:
        return False
    return equivalent(pred, gold) if symbolic else normalise(pred) == normalise(gold)


def lm_eval_math_verify(output: str, solution: str) -> bool:
    """lm-eval minerva_math's `math_verify` metric, computed as it does: math-verify's default parse of the
    whole reference solution against its default parse of the whole generation (no answer extraction)."""
    from math_verify import parse, verify

    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        return bool(verify(gold=parse(solution, parsing_timeout=timeout), target=parse(output, parsing_timeout=timeout),
                           timeout_seconds=timeout))  # fmt: skip
    except Exception:  # lm-eval would crash the run here; an unparsable output is a wrong one
        return False


def process_results(doc: dict, results: list[str]) -> dict[str, int]:
    """lm-eval hook, one generation per doc, 0/1 each: exact_match (ours: the answer, by string or value),
    math_verify (lm-eval's minerva_math metric, same definition) and string_match (strings only)."""
    return {
        "exact_match": int(is_correct(results[0], doc["solution"])),
        "math_verify": int(lm_eval_math_verify(results[0], doc["solution"])),
        "string_match": int(is_correct(results[0], doc["solution"], symbolic=False)),
    }
