"""Code health rules a reviewer would otherwise check by hand (CONTRIBUTING.md)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60
JUSTIFIED = re.compile(r"^\s*# long: .{20,}")


def _sources() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / p for p in out.stdout.split() if not p.startswith(("tests/", "data/"))]


def test_functions_stay_short_or_say_why():
    """A function over 60 lines (signature to last line) carries `# long: <why>` just above it."""
    long_ = []
    for path in _sources():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES and not JUSTIFIED.match(
                lines[first - 2]
            ):
                long_.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
                )
    assert not long_, f"split these, or justify with '# long: ...' above them: {long_}"
