"""Edges of MATH answer extraction and scoring that mutation testing (scripts/mutation.sh) found unguarded."""

from infir.evaluation.math_answer import equivalent, last_boxed, process_results


def test_boxed_at_the_very_start_and_fbox_fallback():
    assert last_boxed("\\boxed{3} is the answer") == "3"  # rfind returns 0: found, not missing
    assert last_boxed("\\fbox{7}") == "7"
    assert last_boxed("so the result is \\fbox{2}, done") == "2"
    assert last_boxed("no answer here") is None


def test_unbraced_boxed_forms():
    assert last_boxed("answer: \\boxed 5$") == "5"  # Minerva's `\boxed 5` form: the token after it
    assert last_boxed("two \\boxed 12 and \\boxed 13") == "13"
    assert last_boxed("\\boxed ") is None  # nothing after it, and no brace anywhere
    assert last_boxed("\\boxed$") is None


def test_equal_strings_match_even_when_math_verify_cannot_parse_them():
    assert equivalent("N/A", "N/A") and equivalent("\\text{(B)}", "(B)")
    assert not equivalent("N/A", "A/N")


def test_process_results_scores_the_first_generation_three_ways():
    doc = {"solution": "so it is \\boxed{\\frac{1}{2}}"}
    # a value match counts for exact_match (symbolic) and math_verify, not for string_match (spelling)
    want = {"exact_match": 1, "math_verify": 1, "string_match": 0}
    assert process_results(doc, ["the answer is \\boxed{0.5}"]) == want
    want = {"exact_match": 1, "math_verify": 1, "string_match": 1}
    assert process_results(doc, ["\\boxed{\\frac{1}{2}}", "\\boxed{7}"]) == want
    want = {"exact_match": 0, "math_verify": 0, "string_match": 0}
    assert process_results(doc, ["\\boxed{7}", "\\boxed{\\frac{1}{2}}"]) == want
    # lm-eval's math_verify reads the whole generation; exact_match wants the answer where it was asked for
    assert process_results(doc, ["it is $0.5$"]) == {"exact_match": 0, "math_verify": 1, "string_match": 0}


def test_same_spelling_is_equal_without_math_verify():
    built = "".join(["?", "!", "?"])  # a distinct string object, spelled like the reference
    assert equivalent(built, "?!?")  # math-verify cannot parse it: the string check alone decides


def test_a_math_verify_failure_is_a_wrong_answer_not_a_crash(monkeypatch):
    import math_verify

    def broken(*_a, **_k):
        raise RuntimeError("parser blew up")

    monkeypatch.setattr(math_verify, "verify", broken)
    assert equivalent("0.5", "\\frac{1}{2}") is False
