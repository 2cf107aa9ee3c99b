"""Every registered step type in ONE pipeline (conf/curation/demo_all_steps.yaml) on the demo corpus, on CPU.

Both fastText models are trained here on demo shards the pipeline does not read (02, 03), and the
decontamination index is built from the installed HumanEval. The funnel must add up step by step, and
every dropped document must be in rejects with the step and reason the funnel counted.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from infir.curation.decontam_cli import build_index_cmd
from infir.curation.pipeline import load_config, run_pipeline
from infir.curation.recall import TrainConfig, train_recall, train_supervised
from infir.curation.registry import step_types

from .helpers import DEMO

CONF = Path(__file__).resolve().parents[2] / "conf" / "curation" / "demo_all_steps.yaml"
#: the anneal step turns problem rows into documents; the demo has none (tests/curation_runner/test_anneal.py)
ELSEWHERE = {"one_solution_per_problem", "python_repo_selection"}  # need fields the demo corpus lacks
# synthesis steps need engines (models): tests/synth runs each through the same runner
ELSEWHERE |= {"evolve", "answer", "best_of_n", "judge", "label_domain", "difficulty", "diversity_sample",
              "code_verify"}  # fmt: skip


def texts(domain: str, shards: tuple[str, ...] = ("02", "03")) -> list[str]:
    out = []
    for s in shards:
        for line in (DEMO / domain / f"{domain}-{s}.jsonl").read_text().splitlines():
            try:
                out.append(json.loads(line)["text"])
            except ValueError:  # the planted truncated line
                pass
    return out


def chunks(docs: list[str], n: int = 120) -> list[str]:
    """Training examples of n words: a few hundred documents give a few thousand examples."""
    return [" ".join(t.split()[i : i + n]) for t in docs for i in range(0, len(t.split()), n)]


def train_scorer(path: Path, labelled: list[tuple[int, str]]) -> Path:
    """A fastText 1-5 scorer (FineMath style, labels __label__1..__label__5)."""
    random.Random(0).shuffle(labelled)
    train = path.with_suffix(".txt")
    train.write_text("".join(f"__label__{y} {t}\n" for y, t in labelled))
    model = train_supervised(train, dim=256, epoch=20, lr=0.5, wordNgrams=1, minCount=1, bucket=20_000)
    model.save_model(str(path))
    return path


@pytest.mark.slow  # ~30 s on one core: spaCy tokenizes the web filters' ~200 documents
def test_every_step_type_in_one_pipeline_on_the_demo_corpus(tmp_path):
    web, code, math = chunks(texts("web")), chunks(texts("code")), chunks(texts("math"))
    recall = tmp_path / "recall.bin"
    cfg = TrainConfig(dim=256, word_ngrams=1, min_count=1, bucket=20_000, epochs=20, lr=0.5, heldout=0.2)
    assert train_recall(web + code, math, recall, cfg)["precision"] > 0.9
    scorer = train_scorer(
        tmp_path / "scorer.bin", [(5, t) for t in code] + [(4, t) for t in web] + [(1, t) for t in math]
    )
    index = tmp_path / "humaneval.npz"
    res = CliRunner().invoke(build_index_cmd, ["--humaneval", "--out", str(index)])
    assert res.exit_code == 0, res.output
    cfg = load_config(CONF, [f"decontam_index={index}", f"recall_model={recall}", f"quality_model={scorer}"])
    registered = {t for t in step_types() if not t.startswith("test_")}  # test-only helper steps
    assert {s["type"] for s in cfg.steps} == registered - ELSEWHERE

    inputs = [DEMO / d / f"{d}-{s}.jsonl" for d in ("web", "code", "math") for s in ("00", "01")]
    n_records = sum(1 for p in inputs for line in p.read_text().splitlines() if line.strip())
    out = tmp_path / "out"
    report = run_pipeline(cfg, inputs, out, quiet=True)
    steps = json.loads((out / "funnel.json").read_text())["steps"]
    assert [s["step"] for s in steps] == ["read"] + [s["type"] for s in cfg.steps]
    assert steps[0]["docs_in"] == n_records
    for prev, cur in zip(steps, steps[1:]):  # each step sees exactly what the previous one kept
        assert cur["docs_in"] == prev["docs_out"] > 0, cur["step"]
        assert cur["tokens_in"] == prev["tokens_out"], cur["step"]
    for s in steps:
        assert s["docs_in"] - s["docs_out"] == sum(s["dropped_docs"].values()), s["step"]
        assert s["tokens_in"] - s["tokens_out"] == sum(s["dropped_tokens"].values()), s["step"]
    by = {s["step"]: s for s in steps}
    # real work happened where the demo corpus plants it
    for step in ("exact_dedup", "minhash_dedup", "decontaminate", "recall", "code_language"):
        assert by[step]["docs_out"] < by[step]["docs_in"], step
    assert by["c4_quality"]["dropped_tokens"].get("lines_removed", 0) > 0

    def rows(folder: str) -> list[dict]:
        return [
            json.loads(x) for f in sorted((out / folder).glob("*.jsonl")) for x in f.read_text().splitlines()
        ]

    kept, rejects = rows("kept"), rows("rejects")
    assert len(kept) == report.docs_out == steps[-1]["docs_out"] > 0
    assert len(kept) + len(rejects) == n_records
    assert Counter((r["_step"], r["_reason"]) for r in rejects) == Counter(
        {(s["step"], reason): n for s in steps for reason, n in s["dropped_docs"].items()}
    )
    assert {r["id"] for r in rejects if "id" in r}.isdisjoint(d["id"] for d in kept)
    # planted HumanEval prompts: none is kept, and decontaminate names the item it matched
    planted = [r for r in rejects if str(r.get("planted", "")).startswith("contamination")]
    assert planted and not any(str(d.get("planted", "")).startswith("contamination") for d in kept)
    hits = [r for r in rejects if r["_step"] == "decontaminate"]
    assert hits and all(h.startswith("HumanEval/") for r in hits for h in r["_decontam_hits"])
    assert all(d["language"] in ("python", "javascript", "java", "c", "cpp") for d in kept)
    assert all(0 <= d["recall_score"] <= 1 and 1 <= d["quality_score"] <= 5 for d in kept)
