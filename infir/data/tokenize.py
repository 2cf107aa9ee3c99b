"""`infir tokenize`: curated JSONL shards -> one Megatron indexed dataset (.bin/.idx) per source.

How it is fast and still byte-identical to the naive path (one `add_document` per document):
- shards are cut into byte ranges at line boundaries (`chunk_mb`), independent of the worker count;
- each worker encodes its range in batches with the Rust tokenizer (`encode_batch_fast`), appends EOS,
  flattens the batch with numpy and writes one partial dataset through megatron-core's builder;
- the parent concatenates the partials in plan order with the builder's own `add_index`.
So the output depends only on the inputs and the tokenizer, never on `workers`. Finished partials stay in
`<out>/.parts/<source>/` until the merge, so an interrupted run resumes chunk by chunk; a source already
recorded as complete in `token_counts.json` is skipped.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infir.config import ConfigError, fail
from infir.data.shards import Chunk, plan_chunks, read_texts, resolve_inputs


@dataclass
class TokenizeConfig:
    inputs: list[str]
    output: str
    tokenizer: str
    source: str | None = None
    workers: int = field(default=1, metadata={"ge": 1})
    text_field: str = "text"
    chunk_mb: float = field(default=64.0, metadata={"gt": 0})
    batch_docs: int = field(default=512, metadata={"ge": 1})
    append_eos: bool = True
    add_bos: bool = False
    overwrite: bool = False

    def validate(self) -> None:
        if not self.inputs:
            fail("inputs", "give at least one input folder or file")
        if not self.source and not default_source(self.inputs):
            fail("source", "cannot derive a source name from the inputs; pass --source")


def default_source(inputs: list[str]) -> str:
    """`data/curated/web/kept` -> `web`, `shards/math` -> `math`, `x/code-00.jsonl` -> `x`."""
    first = Path(inputs[0])
    folder = first if first.is_dir() or not first.suffix else first.parent
    if folder.name == "kept":
        folder = folder.parent
    return folder.resolve().name


@dataclass
class TokenizerInfo:
    path: str
    eos_id: int
    bos_id: int | None
    vocab_size: int
    dtype: type

    @classmethod
    def load(cls, path: str) -> TokenizerInfo:
        from transformers import AutoTokenizer

        folder = Path(path)
        if not (folder / "tokenizer.json").is_file():
            raise ConfigError(
                "tokenizer", f"{folder}: not a Hugging Face fast tokenizer folder (no tokenizer.json)"
            )
        tok = AutoTokenizer.from_pretrained(str(folder))
        if tok.eos_token_id is None:
            raise ConfigError("tokenizer", f"{folder}: the tokenizer defines no eos_token")
        vocab = max(len(tok), tok.vocab_size)
        # Megatron's own rule (tools/preprocess_data.py): uint16 below 65500 ids, int32 above.
        dtype = megatron_indexed().DType.optimal_dtype(vocab)
        return cls(str(folder.resolve()), int(tok.eos_token_id), tok.bos_token_id, vocab, dtype)


def megatron_indexed() -> Any:
    """megatron.core.datasets.indexed_dataset, imported on first use without its CPU-only warnings."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Transformer Engine and Apex.*")
        from megatron.core.datasets import indexed_dataset
    return indexed_dataset


# ---- worker side -------------------------------------------------------------------------------------

_WORKER_TOKENIZER: Any = None


def _tokenizer(path: str) -> Any:
    """One Rust tokenizer per process, loaded after fork (never shared across processes)."""
    global _WORKER_TOKENIZER
    if _WORKER_TOKENIZER is None or _WORKER_TOKENIZER[0] != path:
        from tokenizers import Tokenizer

        _WORKER_TOKENIZER = (path, Tokenizer.from_file(str(Path(path) / "tokenizer.json")))
    return _WORKER_TOKENIZER[1]


def encode_documents(texts: list[str], tok: Any, info: TokenizerInfo, cfg: TokenizeConfig, batch: int):
    """Encode `texts` in batches; return (flat token array, per-document lengths), EOS per document."""
    pieces: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    extra = int(cfg.append_eos) + int(cfg.add_bos and info.bos_id is not None)
    for start in range(0, len(texts), batch):
        encs = tok.encode_batch_fast(texts[start : start + batch], add_special_tokens=False)
        ids = [e.ids for e in encs]
        lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)) + extra
        flat = np.empty(int(lens.sum()), dtype=info.dtype)
        ends = np.cumsum(lens)
        body = np.ones(flat.size, dtype=bool)
        if cfg.append_eos:
            flat[ends - 1] = info.eos_id
            body[ends - 1] = False
        if cfg.add_bos and info.bos_id is not None:
            flat[ends - lens] = info.bos_id
            body[ends - lens] = False
        # One native pass copies every document's ids into the slots left between BOS/EOS.
        flat[body] = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(body.sum()))
        pieces.append(flat)
        lengths.append(lens)
    if not pieces:
        return np.empty(0, dtype=info.dtype), np.empty(0, dtype=np.int64)
    return np.concatenate(pieces), np.concatenate(lengths)


def write_dataset(prefix: str, tokens: np.ndarray, lengths: np.ndarray, dtype: type) -> None:
    """Write documents (one sequence each) through megatron-core's IndexedDatasetBuilder, in bulk.

    `add_document` takes one document per call; the builder keeps the index as public lists, so a whole
    batch is one write to the .bin plus two list extends, giving exactly the index per-document calls give.
    """
    builder = megatron_indexed().IndexedDatasetBuilder(prefix + ".bin.tmp", dtype=dtype)
    builder.data_file.write(np.ascontiguousarray(tokens, dtype=dtype).tobytes(order="C"))
    first = len(builder.sequence_lengths)
    builder.sequence_lengths.extend(lengths.tolist())
    builder.document_indices.extend(range(first + 1, first + len(lengths) + 1))
    builder.finalize(prefix + ".idx.tmp")
    os.replace(prefix + ".bin.tmp", prefix + ".bin")
    os.replace(prefix + ".idx.tmp", prefix + ".idx")


def _run_chunk(job: tuple[Chunk, str, TokenizerInfo, TokenizeConfig]) -> dict[str, Any]:
    chunk, part_prefix, info, cfg = job
    t0 = time.perf_counter()
    try:
        texts = read_texts(chunk, cfg.text_field)
    except ConfigError as exc:  # ConfigError does not survive pickling: the parent re-raises it
        return {"index": chunk.index, "error": [exc.path, exc.message]}
    tokens, lengths = encode_documents(texts, _tokenizer(info.path), info, cfg, cfg.batch_docs)
    write_dataset(part_prefix, tokens, lengths, info.dtype)
    stats = {"documents": len(lengths), "tokens": int(tokens.size), "bytes": chunk.end - chunk.start}
    stats["seconds"] = time.perf_counter() - t0
    Path(part_prefix + ".json").write_text(json.dumps(stats))  # written last: marks the part complete
    return {"index": chunk.index, **stats}


# ---- parent side -------------------------------------------------------------------------------------


def tokenize_shards(
    inputs: list[str | Path] | str | Path,
    out_dir: str | Path,
    tokenizer_path: str | Path,
    source_name: str | None = None,
    workers: int = 1,
    text_field: str = "text",
    log: Callable[[str], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Tokenize JSONL shards (folders or files) into `<out_dir>/<source>_text_document.{bin,idx}`.

    Returns the source's entry of `<out_dir>/token_counts.json` (tokens, documents, prefix, ...).
    `options` are the other TokenizeConfig fields (chunk_mb, batch_docs, append_eos, add_bos, overwrite);
    `log` receives the progress lines (default: stderr).
    """
    from infir.config import from_dict

    items = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    data = {"inputs": [str(p) for p in items], "output": str(out_dir), "tokenizer": str(tokenizer_path)}
    data.update(source=source_name, workers=workers, text_field=text_field, **options)
    return run_tokenize(from_dict(TokenizeConfig, data), log)


def run_tokenize(cfg: TokenizeConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    from infir.data.progress import Progress, counts_update, read_counts

    log = log or Progress.stderr
    source = cfg.source or default_source(cfg.inputs)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    prefix_name = f"{source}_text_document"
    prefix = str(out / prefix_name)
    info = TokenizerInfo.load(cfg.tokenizer)
    done = read_counts(out).get(source)
    outputs_exist = Path(prefix + ".idx").is_file() and Path(prefix + ".bin").is_file()
    if done and not cfg.overwrite and done.get("tokenizer") == info.path and outputs_exist:
        log(f"[{source}] already complete ({done['tokens']:,} tokens in {prefix}.bin); skipping")
        return {**done, "source": source, "skipped": True}
    if done and not cfg.overwrite and done.get("tokenizer") != info.path:
        log(f"[{source}] was tokenized with {done.get('tokenizer')}; redoing it with {info.path}")

    files = resolve_inputs(cfg.inputs)
    chunks = plan_chunks(files, int(cfg.chunk_mb * 2**20))
    parts = _parts_dir(out / ".parts" / source, files, chunks, info, cfg)
    part_prefixes = [str(parts / f"part-{c.index:06d}") for c in chunks]
    todo = [(c, p, info, cfg) for c, p in zip(chunks, part_prefixes) if not Path(p + ".json").is_file()]

    progress = Progress(
        source, total_bytes=sum(c.end - c.start for c in chunks), total_chunks=len(chunks), log=log
    )
    for p in part_prefixes:
        if Path(p + ".json").is_file():
            progress.resumed(json.loads(Path(p + ".json").read_text()))
    t0 = time.perf_counter()
    if cfg.workers > 1 and len(todo) > 1:
        with mp.get_context("fork").Pool(min(cfg.workers, len(todo))) as pool:
            for stats in pool.imap_unordered(_run_chunk, todo):
                _check(stats)
                progress.update(stats, chunks[stats["index"]])
    else:
        for job in todo:
            progress.update(_check(_run_chunk(job)), job[0])

    _merge(prefix, part_prefixes, info.dtype)
    totals = [json.loads(Path(p + ".json").read_text()) for p in part_prefixes]
    entry = {
        "tokens": sum(t["tokens"] for t in totals),
        "documents": sum(t["documents"] for t in totals),
        "prefix": prefix_name,
        "dtype": np.dtype(info.dtype).name,
        "vocab_size": info.vocab_size,
        "eos_id": info.eos_id,
        "tokenizer": info.path,
        "files": [str(f) for f in files],
        "seconds": round(time.perf_counter() - t0, 3),
    }
    counts_update(out, source, entry)
    shutil.rmtree(parts, ignore_errors=True)
    if not any(parts.parent.iterdir()):
        parts.parent.rmdir()
    return {**entry, "source": source, "skipped": False}


def _parts_dir(parts: Path, files: list[Path], chunks: list[Any], info: Any, cfg: TokenizeConfig) -> Path:
    """The folder of per-chunk partial outputs, kept across an interrupted run only while the plan (input
    files with sizes and mtimes, chunking, tokenizer, options) is the same: a changed shard replans."""
    plan = {
        "files": [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files],
        "chunks": len(chunks),
        "tokenizer": info.path,
    }
    plan.update(append_eos=cfg.append_eos, add_bos=cfg.add_bos, text_field=cfg.text_field)
    plan_file = parts / "plan.json"
    if cfg.overwrite or not plan_file.is_file() or json.loads(plan_file.read_text()) != plan:
        shutil.rmtree(parts, ignore_errors=True)  # a different plan: old partials are not reusable
    parts.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps(plan))
    return parts


def _check(stats: dict[str, Any]) -> dict[str, Any]:
    if "error" in stats:
        raise ConfigError(*stats["error"])
    return stats


def _merge(prefix: str, part_prefixes: list[str], dtype: type) -> None:
    """Concatenate the partials in plan order with megatron-core's `add_index`; atomic rename at the end."""
    import gc

    builder = megatron_indexed().IndexedDatasetBuilder(prefix + ".bin.tmp", dtype=dtype)
    # add_index runs gc.collect() per part, which walks every object torch/transformers created (~0.15 s
    # each); frozen objects are skipped, so the collection only sees what the merge itself allocates.
    gc.freeze()
    try:
        for part in part_prefixes:
            builder.add_index(part)
    finally:
        gc.unfreeze()
    builder.finalize(prefix + ".idx.tmp")
    os.replace(prefix + ".bin.tmp", prefix + ".bin")
    os.replace(prefix + ".idx.tmp", prefix + ".idx")
