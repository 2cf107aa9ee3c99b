"""MATH answer checking: the last \\boxed{...} of a solution, normalised, compared as strings.

Minerva-style exact match (Lewkowycz et al. 2022, the harness's `minerva_math`), written here because
lm-eval's own module will not import beside hydra's antlr4 pin. A model's answer is its last `\\boxed{}`,
or else the `Final Answer: The final answer is X.` line Minerva's few-shot prompt teaches. Braces are
matched, so `\\boxed{\\frac{2}{3}}` gives `\\frac{2}{3}` (a greedy regex would run to the last `}`).
"""

from __future__ import annotations

import re

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


def is_correct(output: str, solution: str) -> bool:
    """Does a generation reach the reference solution's boxed answer?"""
    gold, pred = last_boxed(solution), model_answer(output)
    return gold is not None and pred is not None and normalise(pred) == normalise(gold)


def process_results(doc: dict, results: list[str]) -> dict[str, int]:
    """lm-eval hook: one generation per doc -> exact_match 0/1."""
    return {"exact_match": int(is_correct(results[0], doc["solution"]))}
