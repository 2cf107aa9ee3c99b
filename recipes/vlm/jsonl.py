"""The one JSONL reader of the VLM code (training rows, Bridge staging, ScreenSpot data/predictions)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from infir.config import ConfigError


def iter_rows(path: str | Path) -> Iterator[tuple[str, dict]]:
    """(`file:line`, record) per non-blank line; invalid JSON fails naming file:line."""
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{n}", json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}:{n}", f"invalid JSON: {exc}") from None
