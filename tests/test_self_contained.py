"""The repository stands alone: nothing cites files outside it, and every docs/ page the code cites exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"RECIPE\.md|DESIGN\.md|\.\./shared")
DOCS_REF = re.compile(r"\bdocs/([A-Za-z0-9_]+\.(?:md|sbatch))")


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = []
    for name in out.splitlines():
        path = ROOT / name
        # data/ holds third-party corpora and benchmark items: their text is not ours to cite from
        if name.startswith("data/") or path.suffix in (".png", ".gz", ".bin", ".idx", ".parquet", ".jpg"):
            continue
        if path.is_file():
            try:
                files.append((path, path.read_text(encoding="utf-8")))
            except UnicodeDecodeError:
                continue
    return files


def test_no_file_refers_outside_the_repository():
    this = Path(__file__).resolve()
    hits = [f"{p.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
            for p, text in _tracked_text_files() if p != this for m in OUTSIDE.finditer(text)]  # fmt: skip
    assert not hits, f"cite docs/PAPER.md or docs/STACK.md instead: {hits}"


def test_every_cited_docs_page_exists():
    missing = sorted({f"{p.relative_to(ROOT)} -> docs/{m.group(1)}" for p, text in _tracked_text_files()
                      for m in DOCS_REF.finditer(text) if not (ROOT / "docs" / m.group(1)).is_file()})  # fmt: skip
    assert not missing, missing
