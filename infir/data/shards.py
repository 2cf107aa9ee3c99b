"""Finding JSONL shards, cutting them into line-aligned byte ranges, and reading a range's texts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infir.config import ConfigError


@dataclass(frozen=True)
class Chunk:
    index: int  # position in the plan: partials are merged in this order
    path: str
    start: int  # byte offsets; start is 0 or just after a newline
    end: int


def resolve_inputs(inputs: list[str]) -> list[Path]:
    """Folders -> their `*.jsonl` (a curation output folder -> its `kept/`), files as given, sorted."""
    files: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            folder = path / "kept" if (path / "kept").is_dir() else path
            found = sorted(folder.glob("*.jsonl"))
            if not found:
                raise ConfigError("inputs", f"{path}: no *.jsonl shards in this folder")
            files += found
        elif path.is_file():
            if not path.name.endswith(".jsonl"):
                raise ConfigError("inputs", f"{path}: expected a .jsonl shard")
            files.append(path)
        else:
            raise ConfigError("inputs", f"{path}: no such file or folder")
    unique: dict[Path, Path] = {}
    for f in files:  # the same shard named twice is tokenized once
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def plan_chunks(files: list[Path], chunk_bytes: int) -> list[Chunk]:
    """Cut each file every ~chunk_bytes at the next newline. The plan depends only on the files."""
    chunks: list[Chunk] = []
    for path in files:
        size = path.stat().st_size
        start = 0
        with open(path, "rb") as fh:
            while start < size:
                end = min(size, start + max(1, chunk_bytes))
                if end < size:
                    fh.seek(end)
                    fh.readline()  # move the cut to just after the next newline
                    end = min(size, fh.tell())
                chunks.append(Chunk(len(chunks), str(path), start, end))
                start = end
    return chunks


def _line_number(path: str, offset: int) -> int:
    """1-based line number of the byte at `offset` (only computed when reporting an error)."""
    with open(path, "rb") as fh:
        return fh.read(offset).count(b"\n") + 1


def read_texts(chunk: Chunk, text_field: str) -> list[str]:
    """The `text_field` of every JSONL record in the chunk; bad records fail naming file:line."""
    with open(chunk.path, "rb") as fh:
        fh.seek(chunk.start)
        data = fh.read(chunk.end - chunk.start)
    texts: list[str] = []
    offset = chunk.start
    for line in data.split(b"\n"):
        here, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            where = f"{chunk.path}:{_line_number(chunk.path, here)}"
            raise ConfigError(where, f"invalid JSON record: {exc}") from None
        text = record.get(text_field) if isinstance(record, dict) else None
        if not isinstance(text, str):
            where = f"{chunk.path}:{_line_number(chunk.path, here)}"
            raise ConfigError(where, f"record has no string field {text_field!r}")
        texts.append(text)
    return texts
