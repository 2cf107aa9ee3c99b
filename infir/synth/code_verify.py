"""Code SFT samples verified by execution: parse task / analysis / solution / tests from a coder model's
output, keep only self-contained code that passes all its tests in the hardened sandbox.

The generation (conf/synth/prompts/code_task.txt asks for it) has four `### ` sections; Solution and Tests
hold one ```python block each. Every failure is a named, counted reject: nothing unparsable reaches the
sandbox, and the sandbox (infir/evaluation/sandbox.py: namespaces, rlimits, nonce) runs the rest; a
timeout is its own reason (the paper drops timeouts). Kept samples become SFT records: `prompt` = the
task, `response` = the analysis and the solution; the tests stay in `tests`.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from infir.curation.base import Doc, Step
from infir.curation.registry import register_step
from infir.synth.base import EMPTY, NOT_UTF8, bad_generation, set_sample

_SECTION = re.compile(r"^#{2,4}\s*(task|analysis|solution|tests?)\s*:?\s*$", re.I | re.M)
_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.S)


def sections(text: str) -> dict[str, str]:
    """`### Task` ... -> {"task": ..., "analysis": ..., "solution": ..., "tests": ...} (bodies stripped)."""
    marks = list(_SECTION.finditer(text))
    out: dict[str, str] = {}
    for m, nxt in zip(marks, [*marks[1:], None]):
        name = "tests" if m[1].lower().startswith("test") else m[1].lower()
        out.setdefault(name, text[m.end() : nxt.start() if nxt else len(text)].strip())
    return out


def code_block(body: str) -> str | None:
    blocks = _BLOCK.findall(body)
    return blocks[0].strip() if blocks else None


def imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def parse_sample(text: str, stdlib_only: bool = True) -> tuple[dict[str, str] | None, str | None]:
    """(parts, None) for a usable generation, or (None, reason)."""
    reason = bad_generation(text)
    if reason:
        return None, reason
    parts = sections(text)
    solution = code_block(parts.get("solution", ""))
    if not parts.get("task") or solution is None:
        return None, "missing_solution"
    tests = code_block(parts.get("tests", ""))
    if tests is None:
        return None, "missing_tests"
    try:
        sol_tree = ast.parse(solution)
    except (SyntaxError, ValueError):
        return None, "unparsable_solution"
    try:
        test_tree = ast.parse(tests)
    except (SyntaxError, ValueError):
        return None, "unparsable_tests"
    if not any(isinstance(n, ast.Assert) for n in ast.walk(test_tree)):
        return None, "missing_tests"
    if stdlib_only and not (imports(sol_tree) | imports(test_tree)) <= set(sys.stdlib_module_names):
        return None, "not_self_contained"
    return {**parts, "solution": solution, "tests": tests}, None


@register_step("code_verify")
class CodeVerify(Step):
    reasons = (EMPTY, NOT_UTF8, "missing_solution", "missing_tests", "unparsable_solution",
               "unparsable_tests", "not_self_contained", "tests_failed", "timeout")  # fmt: skip

    @dataclass
    class Config:
        #: the document field holding the coder model's output
        source_field: str = "response"
        timeout_s: float = field(default=10.0, metadata={"gt": 0.0})
        memory_mb: int = field(default=1024, metadata={"ge": 64})
        #: sandboxes run at once (each its own process tree and uid)
        workers: int = field(default=2, metadata={"ge": 1})
        #: only standard-library imports (the paper keeps self-contained code)
        stdlib_only: bool = True

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        from infir.evaluation.codeexec import execute
        from infir.evaluation.sandbox import Limits

        parsed = [parse_sample(d.get(self.config.source_field) or "", self.config.stdlib_only) for d in docs]
        jobs = [(i, p) for i, (p, r) in enumerate(parsed) if p is not None]
        limits = Limits(timeout_s=self.config.timeout_s, memory_mb=self.config.memory_mb)
        programs = [(str(docs[i].get("id")), f"{p['solution']}\n\n\n{p['tests']}\n") for i, p in jobs]
        statuses = [r.status for r in execute(programs, limits, self.config.workers)] if jobs else []
        decisions: list[str | None] = [r for _, r in parsed]
        for (i, parts), status in zip(jobs, statuses):
            if status == "passed":
                doc = docs[i]
                doc["tests"] = parts["tests"]
                answer = f"{parts.get('analysis', '')}\n\n```python\n{parts['solution']}\n```".strip()
                set_sample(doc, parts["task"], answer)
            decisions[i] = (
                None if status == "passed" else "timeout" if status == "timeout" else "tests_failed"
            )
        return decisions
