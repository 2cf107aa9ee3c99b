"""Synthesis steps through the real curation runner, with scripted engines pinning the selection logic:
bad generations become counted rejects, judge/domain/difficulty parsing, and diversity sampling's quotas
and medium+ preference."""

from __future__ import annotations

import json

import pytest

from infir.config import ConfigError
from infir.curation.pipeline import run_pipeline
from infir.synth.base import bad_generation
from infir.synth.select import choose

from .helpers import read_dir, write_pipeline, write_rules, write_seeds


def test_bad_generations_are_counted_rejects_with_their_reason(tmp_path):
    rules = write_rules(tmp_path / "rules.jsonl", [
        {"match": "empty", "outputs": ["", "   \n"]},
        {"match": "surrogate", "outputs": ["half \ud800 a pair"]},  # what a server's escaped JSON can carry
        {"match": "lossy", "outputs": ["bad bytes \ufffd here"]},   # left by a lossy decode of bad UTF-8
        {"match": "mixed", "outputs": ["", "a usable answer"]},
        {"match": "fine", "outputs": ["fine answer"]},
    ])  # fmt: skip
    cfg = write_pipeline(tmp_path / "p.yaml", {"t": {"backend": "scripted", "model": str(rules)}},
                         [{"type": "answer", "engine": "t", "n": 2}])  # fmt: skip
    write_seeds(
        tmp_path / "in" / "a.jsonl", ["empty one", "surrogate one", "lossy one", "mixed one", "fine one"]
    )
    report = run_pipeline(cfg, [tmp_path / "in"], tmp_path / "out", quiet=True)
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    dropped = {k: v for s in funnel["steps"] if s["step"] == "answer" for k, v in s["dropped_docs"].items()}
    assert dropped == {"empty_generation": 1, "not_utf8": 2}
    kept = read_dir(tmp_path / "out" / "kept")
    assert [d["id"] for d in kept] == ["s003", "s004"] and report.docs_out == 2
    assert kept[0]["candidates"] == ["a usable answer"] and kept[0]["bad_samples"] == 1
    rejects = read_dir(tmp_path / "out" / "rejects")
    assert sorted((r["id"], r["_reason"]) for r in rejects) == [
        ("s000", "empty_generation"), ("s001", "not_utf8"), ("s002", "not_utf8")]  # fmt: skip


@pytest.mark.parametrize("text, reason", [("", "empty_generation"), (" \t\n", "empty_generation"),
                                          ("x\udcff", "not_utf8"), ("\ufffd", "not_utf8"), ("ok", None)])  # fmt: skip
def test_bad_generation_reasons(text, reason):
    assert bad_generation(text) == reason


def test_evolve_judge_domain_and_difficulty_parse_their_outputs(tmp_path):
    rules = write_rules(tmp_path / "rules.jsonl", [
        # evolve (prompt file evolve.txt quotes the seed after "Instruction:")
        {"match": "Rewrite the instruction below", "outputs": ["EVOLVED: harder question"]},
        {"match": "EVOLVED: harder question\n\nAnswer step by step", "outputs": ["the answer"]},
        {"match": "Score: N", "outputs": ["Reasoning... Score: 3 at first, but overall Score: 8"]},
        {"match": "Which domain", "outputs": ["Probably Code, maybe math."]},
        {"match": "how hard", "outputs": ["This is MEDIUM."]},
    ])  # fmt: skip
    cfg = write_pipeline(tmp_path / "p.yaml", {"t": {"backend": "scripted", "model": str(rules)}}, [
        {"type": "evolve", "engine": "t"}, {"type": "answer", "engine": "t"},
        {"type": "judge", "engine": "t", "min_score": 6}, {"type": "label_domain", "engine": "t"},
        {"type": "difficulty", "engine": "t", "mode": "judge"},
    ])  # fmt: skip
    write_seeds(tmp_path / "in" / "a.jsonl", ["a seed question"])
    run_pipeline(cfg, [tmp_path / "in"], tmp_path / "out", quiet=True)
    (doc,) = read_dir(tmp_path / "out" / "kept")
    assert doc["seed_prompt"] == "a seed question" and doc["prompt"] == "EVOLVED: harder question"
    assert doc["response"] == "the answer" and doc["text"] == "EVOLVED: harder question\n\nthe answer"
    assert doc["judge_score"] == 8.0  # the last score the judge gives is its verdict
    assert doc["domain"] == "code"  # the label named first, whatever its case
    assert doc["difficulty"] == "medium"


def test_judge_drops_low_and_unparsable_scores(tmp_path):
    rules = write_rules(tmp_path / "rules.jsonl", [
        {"match": "low", "outputs": ["Score: 5.5"]}, {"match": "edge", "outputs": ["score = 6"]},
        {"match": "none", "outputs": ["I refuse to grade."]},
    ])  # fmt: skip
    cfg = write_pipeline(tmp_path / "p.yaml", {"t": {"backend": "scripted", "model": str(rules)}},
                         [{"type": "judge", "engine": "t", "min_score": 6}])  # fmt: skip
    write_seeds(tmp_path / "in" / "a.jsonl", ["low", "edge", "none"], [{"response": "r"}] * 3)
    run_pipeline(cfg, [tmp_path / "in"], tmp_path / "out", quiet=True)
    assert [d["id"] for d in read_dir(tmp_path / "out" / "kept")] == ["s001"]  # 6 >= 6 is kept
    reasons = {r["id"]: r["_reason"] for r in read_dir(tmp_path / "out" / "rejects")}
    assert reasons == {"s000": "judge_low_score", "s002": "judge_unparsable"}


def test_pass_rate_difficulty_checks_samples_against_the_reference(tmp_path):
    rules = write_rules(tmp_path / "rules.jsonl", [
        {"match": "easy q", "outputs": ["so \\boxed{4}", "\\boxed{4}", "\\boxed{4}", "\\boxed{5}"]},  # 3/4
        {"match": "mid q", "outputs": ["\\boxed{1/2}", "\\boxed{0.5}", "\\boxed{7}", "no answer"]},  # 2/4
        {"match": "hard q", "outputs": ["\\boxed{-12}", "\\boxed{13}", "\\boxed{12}", "\\boxed{21}"]},  # 1/4
    ])  # fmt: skip
    cfg = write_pipeline(tmp_path / "p.yaml", {"t": {"backend": "scripted", "model": str(rules)}},
                         [{"type": "difficulty", "engine": "t", "prompt_file": "answer_math.txt", "k": 4}])  # fmt: skip
    write_seeds(tmp_path / "in" / "a.jsonl", ["easy q", "mid q", "hard q", "no ref q"],
                [{"answer": "4"}, {"answer": "\\boxed{\\frac{1}{2}}"}, {"answer": "12"}, {}])  # fmt: skip
    run_pipeline(cfg, [tmp_path / "in"], tmp_path / "out", quiet=True)
    got = {d["id"]: (d["pass_rate"], d["difficulty"]) for d in read_dir(tmp_path / "out" / "kept")}
    assert got == {"s000": (0.75, "easy"), "s001": (0.5, "medium"), "s002": (0.25, "hard")}
    assert [r["_reason"] for r in read_dir(tmp_path / "out" / "rejects")] == ["no_reference_answer"]


def test_choose_spreads_quotas_over_groups_and_prefers_hard_then_medium():
    rows = [(f"m{i}", "math", lvl) for i, lvl in enumerate(["easy"] * 6 + ["medium"] * 3 + ["hard"] * 2)]
    rows += [(f"c{i}", "code", "easy") for i in range(2)]  # a small group gives all it has
    rows += [(f"w{i}", "writing", lvl) for i, lvl in enumerate(["easy", "hard", "medium", "easy"])]
    picked = choose(rows, 8, ["hard", "medium"], seed=0)
    assert len(picked) == 8
    assert {"c0", "c1"} <= picked  # code's two, and its unused quota goes to the others
    math = {i for i in picked if i.startswith("m")}
    writing = {i for i in picked if i.startswith("w")}
    assert len(math) == 3 and len(writing) == 3
    assert {"m9", "m10"} <= math and len(math & {"m6", "m7", "m8"}) == 1  # both hard, then one medium
    assert writing == {"w1", "w2", next(iter(writing - {"w1", "w2"}))} and {"w1", "w2"} <= writing
    assert choose(list(reversed(rows)), 8, ["hard", "medium"], seed=0) == picked  # order-independent
    assert choose(rows, 100, ["hard"], seed=0) == {r[0] for r in rows}  # a target above the pool keeps all


def test_diversity_sample_is_a_global_step_over_every_shard(tmp_path):
    cfg = write_pipeline(tmp_path / "p.yaml", {}, [{"type": "diversity_sample", "target": 3}])
    write_seeds(tmp_path / "in" / "a.jsonl", ["p0", "p1"], [{"domain": "math", "difficulty": "easy"},
                                                            {"domain": "math", "difficulty": "hard"}])  # fmt: skip
    (tmp_path / "in" / "b.jsonl").write_text(
        "".join(
            json.dumps({"id": f"b{i}", "prompt": f"q{i}", "domain": "code", "difficulty": "medium"}) + "\n"
            for i in range(3)
        )
    )
    run_pipeline(cfg, [tmp_path / "in"], tmp_path / "out", quiet=True)
    kept = {d["id"] for d in read_dir(tmp_path / "out" / "kept")}
    assert len(kept) == 3 and "s001" in kept and "s000" not in kept  # math's quota (1) takes the hard one
    assert {r["_reason"] for r in read_dir(tmp_path / "out" / "rejects")} == {"not_sampled"}


def test_engine_errors_name_the_field(tmp_path):
    rules = write_rules(tmp_path / "rules.jsonl", [])
    cases = [
        ({"t": {"backend": "scripted", "model": str(rules)}}, {"type": "answer", "engine": "x"}, "steps[0].engine"),
        ({"t": {"backend": "openai", "model": "m"}}, {"type": "answer", "engine": "t"}, "engines.t.url"),
        ({"t": {"backend": "vllm"}}, {"type": "answer", "engine": "t"}, "engines.t.model"),
        ({"t": {"backend": "scripted", "model": str(rules)}}, {"type": "best_of_n", "engine": "t"}, "engines.t.kind"),
        ({"t": {"backend": "vllm", "model": "m", "kind": "reward"}}, {"type": "best_of_n", "engine": "t"},
         "engines.t.backend"),
        ({"t": {"backend": "scripted", "model": str(rules)}},
         {"type": "answer", "engine": "t", "prompt_file": "nope.txt"}, "steps[0].prompt_file"),
        ({"t": {"backend": "scripted", "model": str(rules)}}, {"type": "judge", "engine": "t", "prompt_file": ""},
         "steps[0].prompt_file"),
        ({"t": {"backend": "scripted", "model": str(rules), "top_p": 0}}, {"type": "answer", "engine": "t"},
         "engines.t.top_p"),
        ({"t": {"backend": "scripted", "model": str(rules)}},
         {"type": "difficulty", "engine": "t", "easy_at": 0.2, "hard_at": 0.5}, "steps[0].hard_at"),
    ]  # fmt: skip
    for engines, step, field in cases:
        cfg = write_pipeline(tmp_path / "bad.yaml", engines, [step])
        with pytest.raises(ConfigError) as err:
            run_pipeline(cfg, [tmp_path], tmp_path / "never", quiet=True)
        assert err.value.path == field, (field, str(err.value))
    assert not (tmp_path / "never").exists()


def test_ray_shard_tasks_reserve_the_vllm_engines_gpus(tmp_path):
    from infir.curation.executors.nemo import make_shard_stage
    from infir.curation.pipeline import Layout, build_steps, load_config, split_phases

    cfg = write_pipeline(tmp_path / "p.yaml", {"big": {"backend": "vllm", "model": "/m", "tensor_parallel": 4},
                                               "rm": {"kind": "reward", "model": "/rm"}},
                         [{"type": "answer", "engine": "big"}, {"type": "best_of_n", "engine": "rm"}])  # fmt: skip
    conf = load_config(cfg)
    (phase,) = split_phases(build_steps(conf))
    assert make_shard_stage(Layout(tmp_path, 1), phase, conf, []).resources.gpus == 4
    cpu = write_pipeline(tmp_path / "c.yaml", {}, [{"type": "exact_dedup"}])
    conf = load_config(cpu)
    phases = split_phases(build_steps(conf))
    assert make_shard_stage(Layout(tmp_path, 2), phases[-1], conf, []).resources.gpus == 0


def test_evolve_drops_unchanged_and_rambling_rewrites(tmp_path):
    rules = write_rules(tmp_path / "rules.jsonl", [
        {"match": "same seed", "outputs": ["  same seed  "]}, {"match": "long seed", "outputs": ["x" * 101]},
        {"match": "ok seed", "outputs": ["x" * 100]},
    ])  # fmt: skip
    cfg = write_pipeline(tmp_path / "p.yaml", {"t": {"backend": "scripted", "model": str(rules)}},
                         [{"type": "evolve", "engine": "t", "max_chars": 100}])  # fmt: skip
    write_seeds(tmp_path / "in" / "a.jsonl", ["same seed", "long seed", "ok seed"])
    run_pipeline(cfg, [tmp_path / "in"], tmp_path / "out", quiet=True)
    assert [d["prompt"] for d in read_dir(tmp_path / "out" / "kept")] == ["x" * 100]
    reasons = {r["id"]: r["_reason"] for r in read_dir(tmp_path / "out" / "rejects")}
    assert reasons == {"s000": "unchanged_prompt", "s001": "too_long"}
