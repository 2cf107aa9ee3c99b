"""The one reader of user-given JSONL files: records with their `file:line`, bad JSON reported there."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infir.config import ConfigError


def iter_jsonl(path: str | Path, errors: str = "strict") -> Iterator[tuple[str, Any]]:
    """(`file:line`, record) per non-blank line of a JSONL (or .jsonl.gz) file; invalid JSON fails as a
    ConfigError naming file:line. `errors` is the UTF-8 decoding policy ("surrogateescape" keeps stray bytes
    of a file a model wrote)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors=errors) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}", f"invalid JSON: {exc.msg}") from None
            yield f"{path}:{n}", rec
