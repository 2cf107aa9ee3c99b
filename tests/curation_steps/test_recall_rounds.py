"""DeepSeekMath-style recall rounds through `infir curate recall-rounds`, on the shipped real text (sympy's
math docstrings, Python's docs, CPython code) given URLs: the paper trains one fastText model per domain
and recalls "from the remaining corpus", iterating (DeepSeekMath: 4 rounds, adding pages of web domains
where over 10% of pages were recalled)."""

import json
import subprocess
import sys
from pathlib import Path

from infir.curation.registry import build_step

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def _texts(domain: str) -> list[str]:
    out = []
    for f in sorted((DEMO / domain).glob("*.jsonl")):
        for line in f.read_text().splitlines():
            try:  # the demo corpus carries malformed lines on purpose
                out.append(json.loads(line)["text"])
            except (ValueError, KeyError, TypeError):
                pass
    return out


def _setup(tmp_path):
    math, web, code = _texts("math"), _texts("web"), _texts("code")
    pos, neg = tmp_path / "pos.jsonl", tmp_path / "neg.jsonl"
    pos.write_text("".join(json.dumps({"text": t}) + "\n" for t in math[:120]))
    neg.write_text("".join(json.dumps({"text": t}) + "\n" for t in web[:120] + code[:80]))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = [{"id": f"m{i}", "text": t, "url": f"https://{'sympy.org' if i % 2 else 'www.mathworld.example'}/p/{i}"}
            for i, t in enumerate(math[120:240])]  # fmt: skip
    rows += [
        {"id": f"w{i}", "text": t, "url": f"https://docs.python.org/3/{i}"}
        for i, t in enumerate(web[120:220])
    ]
    rows += [
        {"id": f"b{i}", "text": t, "url": f"http://blog.example/{i}"} for i, t in enumerate(web[220:260])
    ]
    rows += [
        {"id": "b-math", "text": math[240], "url": "http://blog.example/math"}
    ]  # 1 of 41 pages: not topical
    rows += [{"id": "seed-copy", "text": math[0], "url": "https://sympy.org/seed"}]  # a seed: never recalled
    for s in range(2):
        (corpus / f"part-{s}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[s::2]))
    return pos, neg, corpus


def test_recall_rounds_through_the_cli(tmp_path):
    pos, neg, corpus = _setup(tmp_path)
    out = tmp_path / "math_recall"
    cmd = [sys.executable, "-m", "infir.cli", "curate", "recall-rounds", "--domain", "math", "--positives", str(pos),
           "--negatives", str(neg), "--corpus", str(corpus), "--out", str(out), "rounds=3", "train.min_count=1",
           "train.epochs=10", "train.bucket=20000", "train.heldout=0.2", "train.word_ngrams=1"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rounds = json.loads((out / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == list(range(1, len(rounds) + 1)) and len(rounds) >= 2
    first = rounds[0]
    assert first["positives"] == 120 and first["precision"] > 0.7 and first["recall"] > 0.7, first
    recalled = {json.loads(x)["id"] for x in (out / "round_1" / "recalled.jsonl").read_text().splitlines()}
    assert "seed-copy" not in recalled  # recall runs on the rest of the corpus, not the seeds
    math_hits = sum(i.startswith("m") for i in recalled)
    assert math_hits >= 90 and math_hits / len(recalled) > 0.85, (math_hits, len(recalled))
    # the host rule, checked against round 1's own recall: a host whose recalled share reaches 10% is
    # topical and all its pages join the positives; both math hosts are, docs.python.org (4%-ish) is not
    rows = [json.loads(x) for f in sorted(corpus.glob("*.jsonl")) for x in f.read_text().splitlines()]
    host = {r["id"]: r["url"].split("/")[2].removeprefix("www.") for r in rows if r["id"] != "seed-copy"}
    pages = {h: sum(v == h for v in host.values()) for h in set(host.values())}
    share = {h: sum(host.get(i) == h for i in recalled) / n for h, n in pages.items()}
    topical = {h for h, x in share.items() if x >= 0.1}
    assert {"sympy.org", "mathworld.example"} <= topical and "docs.python.org" not in topical, share
    assert first["topic_hosts"] == len(topical) and first["new_positives"] == sum(pages[h] for h in topical)
    assert rounds[1]["positives"] == 120 + first["new_positives"]
    assert "| round | positives | precision |" in (out / "rounds.md").read_text() and "rounds)" in run.stdout
    # the final model is what a `recall` step loads
    step = build_step({"type": "recall", "model": str(out / "model.bin"), "threshold": 0.5})
    step.setup()
    docs = [{"id": "a", "text": t} for t in _texts("math")[500:520]] + [
        {"id": "b", "text": t} for t in _texts("web")[270:290]
    ]
    step.filter_batch(docs)  # held-out texts: the math ones score above the web ones on average
    mean = {k: sum(d["recall_score"] for d in docs if d["id"] == k) / 20 for k in "ab"}
    assert mean["a"] > mean["b"], mean


def test_recall_rounds_bad_input_is_one_line(tmp_path):
    pos, neg, _ = _setup(tmp_path)
    cmd = [sys.executable, "-m", "infir.cli", "curate", "recall-rounds", "--domain", "math", "--positives", str(pos),
           "--negatives", str(neg), "--corpus", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "nowhere" in run.stderr and "Traceback" not in run.stderr
    run = subprocess.run(
        [*cmd[:-2], "--out", str(tmp_path / "o"), "roundz=2"], capture_output=True, text=True
    )
    assert run.returncode == 2 and "roundz" in run.stderr


def test_one_recall_step_with_a_model_per_domain(tmp_path):
    """web.yaml's recall with the paper's per-domain models (recall_models.<domain>=PATH): a page is kept when
    any domain recalls it, and `recall_domain` says which."""
    from infir.curation.pipeline import PipelineConfig, run_pipeline
    from infir.curation.recall import TrainConfig, train_recall

    math, web, code = _texts("math"), _texts("web"), _texts("code")
    cfg = TrainConfig(dim=64, word_ngrams=1, min_count=1, bucket=20_000, epochs=10, heldout=0.0)
    train_recall(math[:150], web[:100] + code[:100], tmp_path / "math.bin", cfg)
    train_recall(code[:100], web[:100] + math[:150], tmp_path / "code.bin", cfg)
    src = tmp_path / "in"
    src.mkdir()
    rows = [{"id": f"m{i}", "text": t} for i, t in enumerate(math[600:640])]
    rows += [{"id": f"c{i}", "text": t} for i, t in enumerate(code[150:190])]
    rows += [{"id": f"w{i}", "text": t} for i, t in enumerate(web[250:290])]
    (src / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pipe = PipelineConfig(name="r", steps=[{"type": "recall"}],
                          recall_models={"math": str(tmp_path / "math.bin"), "code": str(tmp_path / "code.bin")})  # fmt: skip
    run_pipeline(pipe, src, tmp_path / "out", quiet=True)
    kept = {
        json.loads(x)["id"]: json.loads(x)
        for x in (tmp_path / "out" / "kept" / "s.jsonl").read_text().splitlines()
    }
    # each model's own scores decide: kept = some domain reaches 0.5, recall_domain = the best domain
    import fasttext

    from infir.curation.recall import POS
    from infir.curation.scorers import fasttext_scores

    texts = [r["text"] for r in rows]
    per = {
        k: fasttext_scores(fasttext.load_model(str(tmp_path / f"{k}.bin")), texts, POS)
        for k in ("math", "code")
    }
    for i, r in enumerate(rows):
        best = max(per, key=lambda k: per[k][i])
        assert (r["id"] in kept) == (per[best][i] >= 0.5), r["id"]
        if r["id"] in kept:
            assert kept[r["id"]]["recall_domain"] == best and kept[r["id"]]["recall_score"] == per[best][i]
    n = {p: sum(i.startswith(p) for i in kept) for p in "mcw"}
    assert n["m"] > n["w"] and n["c"] > n["w"] and n["m"] + n["c"] >= 40, n
    import pytest

    from infir.config import ConfigError

    with pytest.raises(ConfigError, match="top_k"):
        build_step({"type": "recall", "models": {"math": "m.bin"}, "top_k": 5})
    with pytest.raises(ConfigError, match="models"):
        build_step({"type": "recall", "models": {"math": "m.bin"}, "model": "x.bin"})
