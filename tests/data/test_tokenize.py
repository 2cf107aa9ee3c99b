"""infir tokenize: JSONL -> Megatron .bin/.idx read back with megatron-core, EOS per doc, counts, resume."""

import json

import numpy as np
import pytest
import torch
from data_helpers import demo_texts, write_jsonl
from transformers import AutoTokenizer

from infir.config import ConfigError
from infir.data.tokenize import megatron_indexed, tokenize_shards


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three shards of real demo text plus edge cases: empty text, unicode, a very short doc."""
    root = tmp_path_factory.mktemp("shards") / "math"
    texts = demo_texts("math", 150) + ["", "ü∑ 東京", "x"]
    for i in range(3):
        write_jsonl(
            root / f"math-{i:02d}.jsonl", [{"id": f"{i}-{j}", "text": t} for j, t in enumerate(texts[i::3])]
        )
    ordered = [t for i in range(3) for t in texts[i::3]]  # shard order, then line order
    return root, ordered


def read_back(prefix: str) -> list[list[int]]:
    ds = megatron_indexed().IndexedDataset(prefix)
    assert len(ds.document_indices) == len(ds) + 1  # one sequence per document
    return [ds[i].tolist() for i in range(len(ds))]


def test_tokenize_round_trip_eos_and_counts(corpus, tokenizer_dir, tmp_path):
    root, texts = corpus
    out = tmp_path / "tok"
    entry = tokenize_shards([root], out, tokenizer_dir, workers=1, chunk_mb=0.01)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    docs = read_back(str(out / "math_text_document"))
    assert len(docs) == len(texts) == entry["documents"]
    for doc, text in zip(docs, texts):
        assert doc == tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    counts = json.loads((out / "token_counts.json").read_text())
    assert counts["math"]["tokens"] == sum(map(len, docs)) == entry["tokens"]
    assert counts["math"]["prefix"] == "math_text_document" and counts["math"]["dtype"] == "uint16"
    assert not (out / ".parts").exists()  # partials are removed once merged


def test_parallel_equals_serial_equals_naive_builder(corpus, tokenizer_dir, tmp_path):
    root, texts = corpus
    serial = tokenize_shards([root], tmp_path / "serial", tokenizer_dir, workers=1, chunk_mb=0.02)
    parallel = tokenize_shards([root], tmp_path / "parallel", tokenizer_dir, workers=2, chunk_mb=0.02)
    assert serial["tokens"] == parallel["tokens"]
    # the naive path: megatron-core's builder fed one document at a time
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    naive = str(tmp_path / "naive")
    builder = megatron_indexed().IndexedDatasetBuilder(naive + ".bin", dtype=np.uint16)
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        builder.add_document(torch.tensor(ids), [len(ids)])
    builder.finalize(naive + ".idx")
    for ext in (".bin", ".idx"):
        ours = (tmp_path / "serial" / f"math_text_document{ext}").read_bytes()
        assert ours == (tmp_path / "parallel" / f"math_text_document{ext}").read_bytes()
        assert ours == (tmp_path / f"naive{ext}").read_bytes()


def test_truncated_record_names_file_line_then_complete_source_is_skipped(tokenizer_dir, tmp_path):
    shards = tmp_path / "web"
    good = [{"text": t} for t in demo_texts("web", 40)]
    write_jsonl(shards / "a.jsonl", good[:20])
    bad = write_jsonl(shards / "b.jsonl", good[20:])
    bad.write_text(bad.read_text() + '{"text": "truncated\n')
    lines = []
    with pytest.raises(ConfigError, match=r"b\.jsonl:21: invalid JSON record"):
        tokenize_shards([shards], tmp_path / "out", tokenizer_dir, workers=2, chunk_mb=0.05, log=lines.append)
    write_jsonl(bad, good[20:])  # repair the shard
    first = tokenize_shards([shards], tmp_path / "out", tokenizer_dir, chunk_mb=0.05, log=lines.append)
    assert not first["skipped"] and first["documents"] == 40
    assert any("ETA" in line and "tok/s" in line for line in lines)
    again = tokenize_shards([shards], tmp_path / "out", tokenizer_dir, log=lines.append)
    assert again["skipped"] and again["tokens"] == first["tokens"]
    assert "already complete" in lines[-1]


def test_resume_reuses_finished_chunks(tokenizer_dir, tmp_path, monkeypatch):
    shards = tmp_path / "code"
    records = [{"text": t} for t in demo_texts("code", 12)]
    write_jsonl(shards / "a.jsonl", records[:6])
    write_jsonl(shards / "b.jsonl", records[6:])
    out = tmp_path / "out"
    full = tokenize_shards([shards], tmp_path / "ref", tokenizer_dir, chunk_mb=0.05)
    # a crash after the first chunk leaves one finished partial; the rerun must reuse it
    from infir.data import tokenize as tk

    calls = []
    real = tk._run_chunk

    def crash_after_first(job):
        if calls:
            raise RuntimeError("killed")
        calls.append(job[0].index)
        return real(job)

    monkeypatch.setattr(tk, "_run_chunk", crash_after_first)
    with pytest.raises(RuntimeError, match="killed"):
        tokenize_shards([shards], out, tokenizer_dir, chunk_mb=0.05)
    monkeypatch.setattr(tk, "_run_chunk", real)
    lines = []
    resumed = tokenize_shards([shards], out, tokenizer_dir, chunk_mb=0.05, log=lines.append)
    assert sum("resuming" in line for line in lines) == 1
    assert (out / "code_text_document.bin").read_bytes() == (
        tmp_path / "ref" / "code_text_document.bin"
    ).read_bytes()
    assert resumed["tokens"] == full["tokens"]


def test_bad_inputs_name_file_line_and_field(tokenizer_dir, tmp_path):
    write_jsonl(tmp_path / "s" / "x.jsonl", [{"text": "ok"}, {"body": "no text field"}])
    with pytest.raises(ConfigError, match=r"x\.jsonl:2: record has no string field 'text'"):
        tokenize_shards([tmp_path / "s"], tmp_path / "o", tokenizer_dir)
    with pytest.raises(ConfigError, match="no such file or folder"):
        tokenize_shards([tmp_path / "missing"], tmp_path / "o", tokenizer_dir)
    with pytest.raises(ConfigError, match="tokenizer.json"):
        tokenize_shards([tmp_path / "s"], tmp_path / "o", tmp_path)
    with pytest.raises(ConfigError, match="workers"):
        tokenize_shards([tmp_path / "s"], tmp_path / "o", tokenizer_dir, workers=0)


def test_curation_output_folder_uses_kept_and_names_the_source(tokenizer_dir, tmp_path):
    run = tmp_path / "curated" / "web"
    write_jsonl(run / "kept" / "web-00.jsonl", [{"text": "kept document"}])
    write_jsonl(run / "rejects" / "web-00.jsonl", [{"text": "rejected", "step": "gopher_quality"}])
    entry = tokenize_shards([run], tmp_path / "out", tokenizer_dir)
    assert entry["source"] == "web" and entry["documents"] == 1
    assert json.loads((tmp_path / "out" / "token_counts.json").read_text())["web"]["files"][0].endswith(
        "kept/web-00.jsonl"
    )
