"""Dedup and decontamination across sources (`infir curate global`): labelled inputs keep their source in the
output layout and ids, exact and near duplicates are removed across sources (the source listed first keeps
its copy), a GSM8K item hidden in an instruction set is removed, and the colon rule touches only the math
web sources. Same outputs on 1 and 2 workers; a rerun does no work."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from infir.config import ConfigError
from infir.curation.io import find_shards
from infir.curation.registry import build_step
from infir.evaluation import shipped

from .helpers import write_corpus

STEPS = ["math_colon_ending", "decontaminate", "exact_dedup", "minhash_dedup"]


def _sources(tmp_path):
    web = write_corpus(tmp_path / "web", n_shards=2, docs_per_shard=30)
    rows = [json.loads(x) for x in (web / "shard-000.jsonl").read_text().splitlines()]
    gsm_file = shipped.export(tmp_path / "bench", ["gsm8k"])["gsm8k"]
    gsm = json.loads(gsm_file.read_text().splitlines()[0])
    flan = tmp_path / "flan"
    flan.mkdir()
    # the same id as web's first doc and the same text: an exact duplicate, not an id clash
    flan_rows = [
        {"id": rows[0]["id"], "text": rows[0]["text"]},
        {"id": "near", "text": rows[1]["text"] + " and one more closing remark"},
        {"id": "gsm", "text": f"Solve this. {gsm['question']} Show your work."},
        {"id": "colon", "text": "Instructions for the task below follow in the next message, read them all:"},
    ]
    (flan / "shard-000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in flan_rows))
    owm = tmp_path / "openwebmath"
    owm.mkdir()
    owm_rows = [{"id": "colon", "text": "The proof of the lemma about primes proceeds as follows:"},
                {"id": "ok", "text": "Every prime larger than two is odd, since two divides every even number."}]  # fmt: skip
    (owm / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in owm_rows))
    return web, flan, owm, rows, gsm_file


def _index(tmp_path, gsm_file):
    index = tmp_path / "bench.npz"
    cmd = [sys.executable, "-m", "infir.cli", "curate", "build-decontam-index", "--jsonl", f"gsm8k={gsm_file}",
           "--out", str(index), "--background", "none"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return index


def _run(out, web, flan, owm, index, *extra) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "infir.cli", "curate", "global", "--quiet", "--output", str(out),
           "--input", f"web={web}", "--input", f"flan={flan}", "--input", f"openwebmath={owm}",
           f"decontam_index={index}", *extra]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def digest(out) -> str:
    """Every output file under kept/ and rejects/ (per-source subfolders included) and the removal lists."""
    h = hashlib.sha256()
    files = [p for sub in ("kept", "rejects") for p in (out / sub).rglob("*.jsonl")]
    for p in sorted(files + list((out / "_state" / "global").rglob("removed.json"))):
        h.update(str(p.relative_to(out)).encode() + p.read_bytes())
    return h.hexdigest()


def _kept(out, source):
    return {
        d["id"]: d for p in sorted((out / "kept" / source).glob("*.jsonl")) for d in map(json.loads, p.open())
    }


def test_dedup_and_decontamination_across_sources(tmp_path):
    web, flan, owm, web_rows, gsm_file = _sources(tmp_path)
    index = _index(tmp_path, gsm_file)
    out = tmp_path / "out"
    run = _run(out, web, flan, owm, index)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (out / "kept").iterdir()) == ["flan", "openwebmath", "web"]
    web_kept, flan_kept, owm_kept = _kept(out, "web"), _kept(out, "flan"), _kept(out, "openwebmath")
    # web (listed first) keeps its copies; ids are qualified by source, so web's d000000 and flan's clash-free
    assert f"web/{web_rows[0]['id']}" in web_kept and f"web/{web_rows[1]['id']}" in web_kept
    assert all(d["_input"] == "web" for d in web_kept.values())
    # flan loses the exact copy, the near copy and the GSM8K item; its colon-ending text is not math web
    assert set(flan_kept) == {"flan/colon"}
    assert set(owm_kept) == {"openwebmath/ok"}  # the colon rule ran on the math web source
    rejects = {d["id"]: d for p in (out / "rejects").rglob("*.jsonl") for d in map(json.loads, p.open())}
    assert rejects[f"flan/{web_rows[0]['id']}"]["_reason"] == "exact_duplicate"
    assert rejects[f"flan/{web_rows[0]['id']}"]["_duplicate_of"] == f"web/{web_rows[0]['id']}"
    assert rejects["flan/near"]["_reason"] == "near_duplicate"
    assert rejects["flan/gsm"]["_reason"] == "benchmark_contamination"
    assert rejects["openwebmath/colon"]["_reason"] == "ends_with_colon"

    # the same result on 2 workers; a rerun of a finished run does nothing and changes nothing
    two = tmp_path / "two"
    assert _run(two, web, flan, owm, index, "--workers", "2").returncode == 0
    assert digest(out) == digest(two)
    before = digest(out)
    again = _run(out, web, flan, owm, index)
    assert again.returncode == 0 and digest(out) == before


def test_labelled_inputs_and_source_restricted_steps(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jsonl").write_text("{}\n")
    shards = find_shards([f"src={tmp_path / 'a'}", tmp_path / "a" / "x.jsonl"])
    assert [(s.name, s.label) for s in shards] == [("src/x", "src"), ("x", None)]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_shards([f"src={tmp_path / 'nowhere'}"])
    with pytest.raises(ConfigError, match=r"steps\[0\]\.sources"):
        build_step({"type": "exact_dedup", "sources": ["web"]}, "steps[0]")
    with pytest.raises(ConfigError, match=r"steps\[1\]\.sources"):
        build_step({"type": "math_colon_ending", "sources": "web"}, "steps[1]")
    step = build_step({"type": "math_colon_ending", "sources": ["owm"]}, "steps[0]")
    docs = [{"id": "a", "text": "x:", "_input": "owm"}, {"id": "b", "text": "x:", "_input": "web"},
            {"id": "c", "text": "x:"}]  # fmt: skip
    assert step.filter_batch(docs) == ["ends_with_colon", None, None]
