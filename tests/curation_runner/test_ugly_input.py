"""Crawled-text hazards through the real pipeline: lone surrogates, invalid UTF-8, a 20 MB document, a
step that drops everything. Each bad record is a counted reject naming file:line; nothing crashes, a
rerun does not crash either, and every written file is valid UTF-8."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from infir.curation.pipeline import PipelineConfig, run_pipeline

from .helpers import DEMO

ROOT = Path(__file__).resolve().parents[2]


def _demo_texts(n: int) -> list[str]:
    rows = [json.loads(x) for x in next((DEMO / "web").glob("*.jsonl")).read_text().splitlines()[:n]]
    return [r["text"] for r in rows]


def _ugly_shard(folder: Path) -> Path:
    folder.mkdir()
    good = _demo_texts(3)
    big = ("All work and no play makes a dull crawl. " * 512_000)[: 20 * 1024 * 1024]  # 20 MB of text
    lines = [
        json.dumps({"id": "g0", "text": good[0]}).encode(),
        b'{"id": "s1", "text": "an emoji cut in half \\ud83d by a crawler"}',  # valid JSON, lone surrogate
        json.dumps({"id": "g1", "text": good[1]}).encode(),
        b'{"id": "u2", "text": "latin-1 bytes \xe9t\xe9 in a UTF-8 file"}',  # invalid UTF-8
        json.dumps({"id": "big", "text": big}).encode(),
        b'{"id": "s3", "title": "\\udc80", "text": "the surrogate hides in another field"}',
        json.dumps({"id": "g2", "text": good[2]}, ensure_ascii=False).encode(),
    ]
    (folder / "crawl.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return folder


def _read_utf8_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().decode("utf-8").splitlines()]  # strict decode


def test_surrogates_and_bad_utf8_are_counted_rejects_and_reruns_finish(tmp_path):
    src = _ugly_shard(tmp_path / "in")
    cfg = PipelineConfig(name="ugly", steps=[{"type": "c4_quality"}, {"type": "exact_dedup"}])
    for attempt in (1, 2):  # the rerun resumes from markers and must not crash either
        report = run_pipeline(cfg, src, tmp_path / "out", quiet=True)
        assert report.docs_in == 7, attempt
    rejects = _read_utf8_jsonl(tmp_path / "out" / "rejects" / "crawl.jsonl")
    malformed = {r["_source"].rsplit(":", 1)[1]: r["_error"] for r in rejects if r["_reason"] == "malformed"}
    assert set(malformed) == {"2", "4", "6"}, malformed
    assert "lone surrogate U+D83D" in malformed["2"] and "field 'title'" in malformed["6"]
    assert malformed["4"].startswith("invalid UTF-8 at byte")
    kept = _read_utf8_jsonl(tmp_path / "out" / "kept" / "crawl.jsonl")
    assert {d["id"] for d in kept} <= {"g0", "g1", "g2", "big"}
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    assert funnel["docs_in"] == 7 and funnel["docs_out"] == len(kept)


def test_a_fasttext_probability_threshold_above_one_is_refused_and_a_total_drop_is_loud(tmp_path):
    from infir.config import ConfigError
    from infir.curation.fasttext_train import train_supervised
    from infir.curation.registry import build_step

    texts = _demo_texts(40)
    train = tmp_path / "t.txt"
    train.write_text("".join(f"__label__{'positive' if i % 2 else 'negative'} {' '.join(t.split()[:50])}\n"
                             for i, t in enumerate(texts)))  # fmt: skip
    train_supervised(train, dim=16, epoch=2, minCount=1).save_model(str(tmp_path / "m.bin"))
    step = build_step({"type": "quality_score", "model": str(tmp_path / "m.bin"), "threshold": 3.0})
    try:
        step.setup()
        raise AssertionError("a probability threshold of 3.0 was accepted")
    except ConfigError as err:
        assert err.path == "threshold" and "would keep no document" in str(err)
    default = build_step({"type": "quality_score", "model": str(tmp_path / "m.bin")})
    assert default.threshold() == 0.5  # the kind's own default
    # a step that removes every document says so, in the funnel report and on stderr
    yaml = tmp_path / "p.yaml"
    yaml.write_text("name: p\nsteps:\n  - {type: test_min_words, min_words: 100000}\n")
    run = subprocess.run(
        [sys.executable, "-m", "tests.curation_runner.helpers", "curate", str(yaml), "--input", str(DEMO / "web"),
         "--output", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "WARNING: step" in run.stderr and "removed all" in run.stderr
    assert "removed all" in (tmp_path / "o" / "funnel.md").read_text()
