"""Shard files: JSONL and Parquet readers that never stop on a bad record, and atomic JSONL writers.

A malformed JSON line (or a record without a string text field, unless `text_field` is empty: rows
that a step turns into text) is not an error that ends the run: the
reader yields it as a reject carrying `_source` = "file:line" and reason `malformed`, so one bad line in
a 10 GB shard costs one line, not the shard.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Doc = dict[str, Any]

SHARD_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")
MALFORMED = "malformed"


@dataclass(frozen=True)
class Shard:
    name: str
    path: Path
    #: the source this shard belongs to when the input was given as `LABEL=PATH` (a multi-source run)
    label: str | None = None


def shard_name(path: Path) -> str:
    name = path.name
    for suffix in SHARD_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


_LABEL = re.compile(r"([A-Za-z0-9_.-]+)=(.+)")


def find_shards(inputs: Iterable[Path | str]) -> list[Shard]:
    """Files as given, folders expanded to their shard files (sorted); names must be unique.

    An input `LABEL=PATH` marks its shards as source LABEL: they are named `LABEL/<shard>` (so outputs land
    in `kept/LABEL/`), and each document gets `_input: LABEL` and the id `LABEL/<id>`, unique across sources
    (dedup's removal lists are keyed by id). Sources are listed in the order given: on a duplicate across
    sources, the document of the source listed first survives.
    """
    files: list[tuple[Path, str | None]] = []
    for item in inputs:
        path, label = Path(item), None
        labelled = _LABEL.fullmatch(str(item))
        if labelled and not path.exists():
            label, path = labelled[1], Path(labelled[2])
        if path.is_dir():
            files += [
                (p, label) for p in sorted(path.iterdir()) if p.is_file() and p.name.endswith(SHARD_SUFFIXES)
            ]
        elif path.is_file():
            files.append((path, label))
        else:
            raise FileNotFoundError(f"input {path} does not exist")
    shards: dict[str, Shard] = {}
    for f, label in files:
        name = shard_name(f) if label is None else f"{label}/{shard_name(f)}"
        if name in shards:
            raise ValueError(f"two input shards share the name {name!r}: {shards[name].path} and {f}")
        shards[name] = Shard(name, f, label)
    if not shards:
        raise FileNotFoundError(f"no shard files ({', '.join(SHARD_SUFFIXES)}) in {list(map(str, inputs))}")
    return list(shards.values())


def malformed_record(source: str, raw: str, why: str) -> Doc:
    return {"_source": source, "_raw": raw[:2000], "_error": why, "_step": "read", "_reason": MALFORMED}


def _normalise(rec: Any, source: str, text_field: str, id_field: str, fallback_id: str) -> Doc | str:
    """The record as a pipeline doc (`id`, `text`), or a string saying why it is malformed."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    doc = dict(rec)
    if not text_field:
        # rows that carry no text yet (APPS / CodeContests problems): a step such as
        # one_solution_per_problem builds `text`, so a missing one starts empty
        doc.setdefault("text", "")
        text_field = "text"
    text = doc.get(text_field)
    if not isinstance(text, str):
        return f"field {text_field!r} missing or not a string"
    if text_field != "text":
        doc["text"] = doc.pop(text_field)
    if doc.get("id") is None or id_field != "id":  # a null id is no id: it would collide as "None"
        doc["id"] = str(rec.get(id_field) if rec.get(id_field) is not None else fallback_id)
    return doc


def _no_lone_surrogates(doc: Doc) -> Doc | str:
    """JSON can spell a lone surrogate (`"\\ud83d"`, common in crawls); Python decodes it into a str that
    no UTF-8 writer, tokenizer or spaCy accepts, and the run would crash on it (again on every rerun). Such a
    record is malformed: say where, as a reject."""
    for key, value in doc.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"field {key!r}: lone surrogate U+{ord(value[exc.start]):04X} at character {exc.start}"
    return doc


def read_shard(
    shard: Shard, text_field: str = "text", id_field: str = "id"
) -> Iterator[tuple[Doc | None, Doc | None]]:
    """Yield (doc, None) for good records and (None, reject) for malformed ones, in file order."""
    records = _read_records(shard, text_field, id_field)
    if shard.label is None:
        return records
    return ((None if d is None else {**d, "id": f"{shard.label}/{d['id']}", "_input": shard.label}, r)
            for d, r in records)  # fmt: skip


def _read_records(shard: Shard, text_field: str, id_field: str) -> Iterator[tuple[Doc | None, Doc | None]]:
    path = shard.path
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        line = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            for rec in batch.to_pylist():
                line += 1
                src = f"{path}:{line}"
                doc = _normalise(rec, src, text_field, id_field, f"{shard.name}-{line}")
                if isinstance(doc, str):
                    yield None, malformed_record(src, json.dumps(rec, default=str), doc)
                else:
                    yield doc, None
        return
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for line, raw_bytes in enumerate(fh, 1):
            if not raw_bytes.strip():
                continue  # blank lines carry no record
            src = f"{path}:{line}"
            try:
                raw = raw_bytes.decode("utf-8")
            except UnicodeDecodeError as exc:
                # never decoded with U+FFFD behind the funnel's back: the line is a counted reject
                shown = raw_bytes.decode("utf-8", errors="replace").rstrip("\n")
                yield None, malformed_record(src, shown, f"invalid UTF-8 at byte {exc.start} of the line")
                continue
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield None, malformed_record(src, raw.rstrip("\n"), f"invalid JSON: {exc.msg}")
                continue
            doc = _normalise(rec, src, text_field, id_field, f"{shard.name}-{line}")
            if isinstance(doc, dict):
                doc = _no_lone_surrogates(doc)
            if isinstance(doc, str):
                yield None, malformed_record(src, raw.rstrip("\n"), doc)
            else:
                yield doc, None


def dumps(doc: Doc) -> str:
    return json.dumps(doc, ensure_ascii=False) + "\n"


def read_jsonl(path: Path) -> Iterator[Doc]:
    """Read a file this runner wrote (trusted: every line is a JSON object)."""
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            yield json.loads(raw)


def write_jsonl_atomic(path: Path, docs: Iterable[Doc]) -> int:
    """Write to a temporary name then rename, so a killed run never leaves a half file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(dumps(doc))
            n += 1
    os.replace(tmp, path)
    return n


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
