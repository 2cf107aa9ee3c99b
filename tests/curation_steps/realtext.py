"""Real English text for the step tests: Python's own docs and package long descriptions from the venv."""

from __future__ import annotations

import email
import sys
from pathlib import Path


def site_packages() -> Path:
    return next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())


def metadata_descriptions(limit: int | None = None) -> list[str]:
    """Long descriptions (the body after the headers) of installed packages' METADATA files."""
    out = []
    for path in sorted(site_packages().glob("*.dist-info/METADATA")):
        msg = email.message_from_string(path.read_text(encoding="utf-8", errors="replace"))
        body = msg.get_payload()
        if isinstance(body, str) and body.strip():
            out.append(body)
        if limit and len(out) >= limit:
            break
    return out


def pydoc_topics() -> list[str]:
    from pydoc_data.topics import topics

    return [topics[k] for k in sorted(topics)]


def _cut(text: str, max_chars: int) -> str:
    """The leading whole lines of `text` that fit in `max_chars` (keeps tests fast, text still real)."""
    if len(text) <= max_chars:
        return text
    return text[: text.rfind("\n", 0, max_chars) + 1] or text[:max_chars]


def web_docs(min_docs: int = 500, max_chars: int = 4000) -> list[dict]:
    """>= `min_docs` real documents: pydoc topics, METADATA bodies, and their halves (to vary lengths)."""
    texts = pydoc_topics() + metadata_descriptions()
    halves = []
    for t in texts:
        lines = t.splitlines(keepends=True)
        if len(lines) > 20:
            halves += ["".join(lines[: len(lines) // 2]), "".join(lines[len(lines) // 2 :])]
    texts = texts + halves
    assert len(texts) >= min_docs, f"only {len(texts)} real documents found"
    return [{"id": f"doc{i}", "text": _cut(t, max_chars)} for i, t in enumerate(texts)]
