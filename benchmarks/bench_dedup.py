"""Benchmark 2: MinHash near-dedup, ours vs datatrove's MinHash pipeline, speed and F1 on one corpus.

Corpus: every real document of the shipped demo corpus (web, code, math, valid; data/demo) plus planted
near copies (a word in every 20..120 replaced, so some copies land on either side of the threshold) in
other shards; the math docstrings also hold natural near-duplicates. Both tools read the same documents
from memory, use 5-word shingles and 14 bands x 8 rows, and run in this one process.

Ground truth: exact Jaccard of every pair's 5-shingle sets (our normalisation: lowercase `\\w+` words),
computed with a sparse doc x shingle product; pairs >= 0.75 are linked and the linked components are the
true clusters. Score: pairwise F1 of "same cluster" (independent of which copy survives).
Speed: documents per CPU-second of this process (docs/s/core), all stages (signatures, buckets, clusters,
filter) included.

    .venv/bin/python benchmarks/bench_dedup.py [--tokenizer spacy|whitespace] [--plant 0.3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # datatrove's progress bars would break the table
REPO = Path(__file__).resolve().parents[1]
THRESHOLD, SHARDS = 0.75, 4


def build_corpus(plant: float, seed: int = 0) -> list[list[dict]]:
    docs = []
    for folder in ("web", "code", "math", "valid"):
        for path in sorted((REPO / "data" / "demo" / folder).glob("*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if "planted" not in rec and rec.get("text", "").strip():
                    docs.append({"id": rec["id"], "text": rec["text"]})
    rng = random.Random(seed)
    for src in rng.sample(docs, int(plant * len(docs))):
        words = src["text"].split(" ")
        every = rng.randint(20, 120)
        for i in range(0, len(words), every):
            words[rng.randrange(i, min(i + every, len(words)))] = rng.choice(words) + "z"
        docs.append({"id": f"{src['id']}-near", "text": " ".join(words)})
    rng.shuffle(docs)
    return [docs[i::SHARDS] for i in range(SHARDS)]


def ground_truth(docs: list[dict]) -> np.ndarray:
    """Component label per document of the exact-Jaccard >= THRESHOLD graph."""
    from scipy.sparse import csr_matrix, triu
    from scipy.sparse.csgraph import connected_components

    from infir.curation.dedup.minhash import shingle_set

    sets = [shingle_set(d["text"], 5) for d in docs]
    sizes = np.array([len(s) for s in sets])
    _, cols = np.unique(np.concatenate(sets), return_inverse=True)
    x = csr_matrix((np.ones(len(cols), np.int32), cols, np.r_[0, np.cumsum(sizes)]))
    inter = triu(x @ x.T, k=1).tocoo()
    jac = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    keep = jac >= THRESHOLD
    graph = csr_matrix((np.ones(keep.sum()), (inter.row[keep], inter.col[keep])), shape=(len(docs),) * 2)
    return connected_components(graph, directed=False)[1]


def pairwise_f1(pred: np.ndarray, true: np.ndarray) -> tuple[float, float, float]:
    def pairs(*labels):
        _, counts = np.unique(np.stack(labels, 1), axis=0, return_counts=True)
        return int((counts * (counts - 1) // 2).sum())

    tp, npred, ntrue = pairs(pred, true), pairs(pred), pairs(true)
    p, r = tp / max(npred, 1), tp / max(ntrue, 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def run_ours(shards: list[list[dict]], work: Path) -> tuple[float, dict[str, str]]:
    from infir.curation.dedup.minhash import MinHashDedup

    step = MinHashDedup()
    t0 = time.process_time()
    step.fit({f"s{i}": (lambda s=s: iter(s)) for i, s in enumerate(shards)}, work)
    survivor = {}
    for shard in shards:
        for doc in shard:
            if step.filter(doc):
                survivor[doc["id"]] = doc["_near_duplicate_of"]
    return time.process_time() - t0, survivor


def run_datatrove(shards: list[list[dict]], work: Path, tokenizer: str) -> tuple[float, dict[str, int]]:
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.utils.word_tokenizers import SpaCyTokenizer, WordTokenizer

    class Whitespace(WordTokenizer):  # datatrove's fast configuration: split on whitespace
        def word_tokenize(self, text):
            return text.split()

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            raise NotImplementedError

    from loguru import logger

    logger.remove()  # datatrove logs a line per bucket; keep the benchmark output a table
    tok = SpaCyTokenizer("en") if tokenizer == "spacy" else Whitespace("en")
    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
    drain = lambda out: out is not None and [None for _ in out]  # noqa: E731 (steps may be generators)
    t0 = time.process_time()
    sig = MinhashDedupSignature(output_folder=str(work / "sigs"), config=cfg, language=tok)
    for rank, shard in enumerate(shards):
        drain(sig.run((Document(text=d["text"], id=d["id"]) for d in shard), rank, len(shards)))
    buckets = MinhashDedupBuckets(
        input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=cfg
    )
    for b in range(cfg.num_buckets):
        drain(buckets.run(None, b, cfg.num_buckets))
    cluster = MinhashDedupCluster(
        input_folder=str(work / "buckets"),
        output_folder=str(work / "remove"),
        config=cfg,
        save_cluster_id=True,
    )
    drain(cluster.run(None, 0, 1))
    filt = MinhashDedupFilter(input_folder=str(work / "remove"))
    for rank, shard in enumerate(shards):
        drain(filt.run((Document(text=d["text"], id=d["id"]) for d in shard), rank, len(shards)))
    seconds = time.process_time() - t0
    labels = {}
    for rank, shard in enumerate(shards):
        path = work / "remove" / f"{rank:06d}.clusters"
        raw = path.read_bytes() if path.exists() else b""
        for doc, cid in struct.iter_unpack("<II", raw):
            labels[shard[doc]["id"]] = cid
    return seconds, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer", choices=["spacy", "whitespace", "both"], default="both")
    ap.add_argument("--plant", type=float, default=0.3, help="fraction of documents given a near copy")
    args = ap.parse_args()
    shards = build_corpus(args.plant)
    docs = [d for s in shards for d in s]
    index = {d["id"]: i for i, d in enumerate(docs)}
    true = ground_truth(docs)
    print(
        f"corpus: {len(docs)} docs in {SHARDS} shards, {sum(len(d['text']) for d in docs) / 1e6:.1f} MB; "
        f"{len(docs) - len(set(true))} removable by exact-Jaccard >= {THRESHOLD}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        secs, survivor = run_ours(shards, Path(tmp) / "ours")
        pred = np.arange(len(docs))
        for doc_id, surv in survivor.items():
            pred[index[doc_id]] = index[surv]
        rows.append(("ours (numpy MinHash + Jaccard check)", secs, len(survivor), *pairwise_f1(pred, true)))
        tokenizers = ["whitespace", "spacy"] if args.tokenizer == "both" else [args.tokenizer]
        for tok in tokenizers:
            try:
                dsecs, labels = run_datatrove(shards, Path(tmp) / f"dt-{tok}", tok)
            except ImportError as exc:
                print(f"datatrove ({tok}) skipped: {exc}")
                continue
            pred = np.arange(len(docs)) + len(docs)
            for doc_id, cid in labels.items():
                pred[index[doc_id]] = cid
            removed = len(labels) - len(set(labels.values()))
            rows.append((f"datatrove 0.10 MinHash ({tok} words)", dsecs, removed, *pairwise_f1(pred, true)))
    ours = len(docs) / rows[0][1]
    print(f"\n{'pipeline':<40} {'docs/s/core':>11} {'ratio':>7} {'removed':>8} {'P':>6} {'R':>6} {'F1':>6}")
    for name, secs, removed, p, r, f1 in rows:
        rate = len(docs) / secs
        print(f"{name:<40} {rate:>11,.0f} {ours / rate:>6.2f}x {removed:>8} {p:>6.3f} {r:>6.3f} {f1:>6.3f}")
    print("ratio = our docs/s/core over that row's (CPU seconds of this process; same corpus, same run)")


if __name__ == "__main__":
    main()
