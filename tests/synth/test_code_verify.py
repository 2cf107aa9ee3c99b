"""code_verify: a coder model's task / analysis / solution / tests, parsed, then run in the hardened
sandbox. Each way a generation can fail is its own counted reason; an attacker's code gets no further
than failing its tests."""

from __future__ import annotations

import time

import pytest

from infir.synth.code_verify import CodeVerify, parse_sample


def sample(solution: str, tests: str, task: str = "Write add(a, b).") -> str:
    return (f"### Task\n{task}\n\n### Analysis\nAdd the numbers.\n\n### Solution\n```python\n{solution}\n```\n\n"
            f"### Tests\n```python\n{tests}\n```\n")  # fmt: skip


GOOD = sample("def add(a, b):\n    return a + b", "assert add(1, 2) == 3\nassert add(-1, 1) == 0")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty_generation"),
        (GOOD.replace("Add the", "Add\ud800the"), "not_utf8"),
        ("### Task\nx\n\nno sections with code", "missing_solution"),
        (GOOD.split("### Tests")[0], "missing_tests"),
        (
            sample("def add(a, b):\n    return a + b", "print(add(1, 2))"),
            "missing_tests",
        ),  # tests without asserts
        (sample("def add(a, b) return a + b", "assert add(1, 2) == 3"), "unparsable_solution"),
        (sample("def add(a, b):\n    return a + b", "assert add(1, 2 == 3"), "unparsable_tests"),
        (
            sample("import numpy as np\ndef add(a, b):\n    return np.add(a, b)", "assert add(1, 2) == 3"),
            "not_self_contained",
        ),
        (
            sample("def add(a, b):\n    return a + b", "from requests import get\nassert add(1, 2) == 3"),
            "not_self_contained",
        ),
        (GOOD, None),
    ],
)
def test_parse_sample_reasons(text, reason):
    parts, why = parse_sample(text)
    assert why == reason
    if reason is None:
        assert parts["task"] == "Write add(a, b)." and parts["solution"].startswith("def add")
        assert parts["tests"].startswith("assert add(1, 2) == 3")


def test_sandbox_keeps_passing_code_and_names_every_failure():
    docs = [
        {"id": "good", "response": GOOD},
        {"id": "wrong", "response": sample("def add(a, b):\n    return a - b", "assert add(1, 2) == 3")},
        {"id": "loop", "response": sample("def add(a, b):\n    while True:\n        pass", "assert add(1, 2) == 3")},
        # an attacker: exits 0 before the tests run, and tries to write outside its sandbox
        {"id": "exit0", "response": sample("import os\nopen('/tmp/pwned', 'w').write('x')\nos._exit(0)",
                                           "assert add(1, 2) == 3")},
        {"id": "no_tests", "response": GOOD.split("### Tests")[0]},
    ]  # fmt: skip
    step = CodeVerify(CodeVerify.Config(timeout_s=1.0, workers=2))
    t0 = time.perf_counter()
    kept, dropped = step.run_batch(docs)
    assert time.perf_counter() - t0 < 8  # the loop is stopped at its 1 s limit
    assert [d["id"] for d in kept] == ["good"]
    assert {d["id"]: r for d, r in dropped} == {
        "wrong": "tests_failed", "loop": "timeout", "exit0": "tests_failed", "no_tests": "missing_tests"}  # fmt: skip
    (good,) = kept  # an SFT record: the task as prompt, analysis + solution as response, tests kept
    assert good["prompt"] == "Write add(a, b)." and "```python\ndef add(a, b):" in good["response"]
    assert good["response"].startswith("Add the numbers.") and good["tests"].startswith("assert add(1, 2)")
    assert good["text"] == f"{good['prompt']}\n\n{good['response']}"
