"""Benchmark 4: tokens/s of `infir tokenize` vs megatron-core's builder fed one document at a time.

Both paths use the same tokenizer and write the same Megatron .bin/.idx (checked byte for byte):
- naive: for each JSONL line, json.loads -> HF tokenizer call -> `IndexedDatasetBuilder.add_document`
  (what Megatron's tools/preprocess_data.py does per document, here in one process);
- ours: `tokenize_shards` (byte-range chunks, batch Rust encoding, numpy flattening, bulk builder writes,
  worker processes).

    .venv/bin/python benchmarks/bench_tokenize.py [--tokenizer DIR] [--copies 3] [--workers N]

The naive peer is single-process, so ours runs twice: with 1 worker (the per-core ratio) and with
--workers (default: all cores; printed as throughput ratio and that ratio divided by the workers).

Without --tokenizer it trains a 8k-vocab Llama-3-style BPE on the corpus first (not timed). The corpus is
the shipped demo web/code/math shards, repeated --copies times, once as whole documents and once split into
paragraphs (short documents, where per-call overhead shows). About 25 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


def build_corpus(root: Path, copies: int, paragraphs: bool = False) -> list[Path]:
    """Valid records of the demo shards, `copies` times, in 4 shards (the planted bad line is skipped).

    `paragraphs` makes every paragraph its own document: short documents, where per-call overhead shows.
    """
    texts = []
    for folder in ("web", "code", "math"):
        for shard in sorted((REPO / "data" / "demo" / folder).glob("*.jsonl")):
            for line in shard.read_text().splitlines():
                try:
                    texts.append(json.loads(line)["text"])
                except ValueError:
                    continue
    if paragraphs:
        texts = [p for t in texts for p in t.split("\n\n") if p.strip()]
    lines = [json.dumps({"text": t}) for t in texts] * copies
    root.mkdir(parents=True, exist_ok=True)
    shards = []
    for i in range(4):
        path = root / f"shard-{i:02d}.jsonl"
        path.write_text("\n".join(lines[i::4]) + "\n")
        shards.append(path)
    return shards


def naive(shards: list[Path], tokenizer_dir: Path, prefix: str) -> tuple[int, float]:
    import torch
    from transformers import AutoTokenizer

    from infir.data.tokenize import megatron_indexed

    idx = megatron_indexed()
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    dtype = idx.DType.optimal_dtype(len(tok))
    t0 = time.perf_counter()
    builder = idx.IndexedDatasetBuilder(prefix + ".bin", dtype=dtype)
    tokens = 0
    for shard in shards:
        with open(shard) as fh:
            for line in fh:
                ids = tok(json.loads(line)["text"], add_special_tokens=False)["input_ids"] + [
                    tok.eos_token_id
                ]
                builder.add_document(torch.tensor(ids), [len(ids)])
                tokens += len(ids)
    builder.finalize(prefix + ".idx")
    return tokens, time.perf_counter() - t0


def ours(shards: list[Path], tokenizer_dir: Path, out: Path, workers: int) -> tuple[int, float]:
    from infir.data.tokenize import tokenize_shards

    t0 = time.perf_counter()
    entry = tokenize_shards(shards, out, tokenizer_dir, source_name="bench", workers=workers, chunk_mb=1.0,
                            log=lambda line: None)  # fmt: skip
    return entry["tokens"], time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, help="HF tokenizer folder (default: train an 8k BPE)")
    parser.add_argument("--copies", type=int, default=3, help="times the demo corpus is repeated")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_tokenize_"))
    try:
        tokenizer = args.tokenizer
        if tokenizer is None:
            from infir.data.tokenizer import train_bpe

            first = build_corpus(work / "train", 1)[0]
            texts = (json.loads(line)["text"] for line in first.read_text().splitlines())
            tokenizer = train_bpe(texts, 8192, work / "tokenizer")
        print(f"tokenizer: {tokenizer}; ours with 1 and {args.workers} workers; demo corpus x{args.copies}")
        # the peer is one process: only the 1-worker ratio (and the N-worker ratio per core) compare like
        # with like; the N-worker throughput ratio also contains the parallelism
        print(f"{'corpus':<20}{'docs':>7}{'tokens':>10}{'naive tok/s':>12}{'1w tok/s':>11}{'ratio':>7}"
              f"{f'{args.workers}w tok/s':>11}{'ratio':>7}{'/core':>7}  identical")  # fmt: skip
        for name, paragraphs in (("documents", False), ("paragraphs (short)", True)):
            shards = build_corpus(work / name, args.copies, paragraphs)
            docs = sum(1 for s in shards for _ in s.open())
            n_naive, t_naive = naive(shards, tokenizer, str(work / f"naive-{paragraphs}"))
            rates, same = [], True
            for workers in (1, args.workers):
                out = work / f"ours-{paragraphs}-{workers}"
                n_ours, t_ours = ours(shards, tokenizer, out, workers)
                assert n_naive == n_ours, (n_naive, n_ours)
                rates.append(n_ours / t_ours)
                same &= all(
                    (work / f"naive-{paragraphs}{ext}").read_bytes()
                    == (out / f"bench_text_document{ext}").read_bytes()
                    for ext in (".bin", ".idx")
                )
            rate_naive = n_naive / t_naive
            one, many = rates[0] / rate_naive, rates[1] / rate_naive
            print(f"{name:<20}{docs:>7,}{n_naive:>10,}{rate_naive:>12,.0f}{rates[0]:>11,.0f}{one:>6.2f}x"
                  f"{rates[1]:>11,.0f}{many:>6.2f}x{many / args.workers:>6.2f}x  {same}")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
