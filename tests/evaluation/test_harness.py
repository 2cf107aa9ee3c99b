"""lm-evaluation-harness on local files with the tiny trained model (slow: lm-eval's startup is heavy)."""

import json
from pathlib import Path

import pytest

from infir.config import ConfigError
from infir.evaluation import harness, shipped

MC = Path(__file__).resolve().parents[2] / "data" / "eval" / "mc_handwritten.jsonl"


def test_task_config_points_at_local_files(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text("{}\n")
    shots = tmp_path / "dev.jsonl"
    shots.write_text("{}\n")
    cfg = harness.task_config("mmlu", f, shots, 5)
    assert cfg["dataset_path"] == "json" and cfg["dataset_kwargs"]["data_files"]["test"] == str(f)
    assert (
        cfg["num_fewshot"] == 5
        and cfg["output_type"] == "multiple_choice"
        and cfg["fewshot_split"] == "train"
    )
    # the test file as its own few-shot source: refused, or one split (lm-eval then leaves the item out)
    for same in (None, f):
        with pytest.raises(ConfigError) as err:
            harness.task_config("mmlu", f, same, 5)
        assert err.value.path == "fewshot_data"
    one = harness.task_config("mmlu", f, None, 5, fewshot_from_test=True)
    assert one["fewshot_split"] == one["test_split"] == "test" and list(
        one["dataset_kwargs"]["data_files"]
    ) == ["test"]
    assert harness.task_config("mmlu", f, None, 0)["num_fewshot"] == 0  # zero-shot needs no examples
    with pytest.raises(FileNotFoundError, match="local dataset file"):
        harness.task_config("gsm8k", tmp_path / "missing.jsonl", None, 8)


@pytest.mark.slow
def test_harness_mmlu_style_on_tiny_model(tiny_model, tmp_path):
    # hand-written items in MMLU's layout (data/eval/README.md), not real MMLU questions
    rows = [json.loads(x) for x in MC.open()]
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"question": r["question"], "choices": r["choices"],
                                        "answer": "ABCD".index(r["answer"]) if isinstance(r["answer"], str) else r["answer"]}) + "\n"
                            for r in rows))  # fmt: skip
    with pytest.raises(ConfigError, match="fewshot_data.*would come from the test file"):
        harness.run_harness(tiny_model, "mmlu", test, num_fewshot=2, limit=3, device="cpu")
    res = harness.run_harness(tiny_model, "mmlu", test, num_fewshot=2, limit=3, batch_size=4, device="cpu",
                              fewshot_from_test=True)  # fmt: skip
    assert res["items"] == 3 and 0.0 <= res["acc"] <= 1.0 and res["num_fewshot"] == 2
    # lm-eval built each prompt from two OTHER items: the item's own question appears once (as the
    # question), never among its shots
    for sample in res["samples"]:
        own = rows[sample["doc_id"]]["question"].strip()
        others = [r["question"].strip() for i, r in enumerate(rows) if i != sample["doc_id"]]
        assert sample["prompt"].count(own) == 1, sample["prompt"]
        assert sum(q in sample["prompt"] for q in others) == 2


@pytest.mark.slow
@pytest.mark.parametrize("benchmark", ["gsm8k", "math", "mbpp"])
def test_harness_generation_on_real_items(tiny_model, tmp_path, benchmark):
    # real items that lm-eval's wheel ships (shipped.py): test on the last ones, few-shot from the first
    (path,) = shipped.export(tmp_path, [benchmark]).values()
    rows = path.read_text().splitlines()
    test, shots = tmp_path / "test.jsonl", tmp_path / "train.jsonl"
    test.write_text("\n".join(rows[-2:]) + "\n")
    shots.write_text("\n".join(rows[:1]) + "\n")
    res = harness.run_harness(tiny_model, benchmark, test, shots, num_fewshot=1, limit=2, batch_size=2,
                              max_gen_toks=24, device="cpu")  # fmt: skip
    assert res["items"] == 2 and res["num_fewshot"] == 1 and len(res["samples"]) == 2
    # a 2-layer toy model gets nothing right; the point is that each scorer ran on every item
    if benchmark == "mbpp":
        assert res["passed"] == 0 and res["pass@1"] == 0.0
    else:
        key = "exact_match" if benchmark == "math" else "exact_match_strict-match"
        assert res[key] == 0.0


@pytest.mark.slow
def test_context_continuation_split_is_lm_evals(tiny_model):
    """Our (context, continuation) token split equals lm-eval's HFLM._encode_pair, including pairs whose
    boundary falls inside a token, where encoding the two strings apart gives different ids."""
    from lm_eval.models.huggingface import HFLM

    from infir.evaluation.model import encode_pair, load_lm

    ours = load_lm(tiny_model, device="cpu")
    ref = HFLM(pretrained=str(tiny_model), device="cpu", batch_size=1)
    pairs = [("Question: what is 2+2?\nAnswer:", " 4"), ("The cat sat on the", " mat."), ("ab", "cdef"),
             ("Answer: ", "Paris"), ("x = 1", "0\n"), ("def f():\n   ", " return 1"), ("", "hello")]  # fmt: skip
    split_inside_a_token = 0
    for context, cont in pairs:
        got = encode_pair(ours, context, cont)
        if context:
            want = ref._encode_pair(context, cont)
            assert (list(got[0]), list(got[1])) == (list(want[0]), list(want[1])), (context, cont)
            split_inside_a_token += ours.encode(cont.lstrip() if context.endswith(" ") else cont) != list(
                want[1]
            )
        else:
            assert got == ([], ours.encode(cont))
    assert split_inside_a_token > 0  # at least one pair where encoding apart would have differed


@pytest.mark.slow
def test_instruct_protocol_is_zero_shot_through_the_chat_template(tiny_model, tmp_path):
    """conf/eval/instruct_gsm8k.yaml on real GSM8K items: no few-shot examples, the question as a user turn
    of the tokenizer's chat template; a tokenizer without a template is refused (not silently plain)."""
    import shutil

    from transformers import AutoTokenizer

    from infir.data.tokenizer import LLAMA3_CHAT_TEMPLATE
    from infir.evaluation.suites import load_suite

    instruct = tmp_path / "instruct"
    shutil.copytree(tiny_model, instruct)
    tok = AutoTokenizer.from_pretrained(instruct)
    tok.chat_template = LLAMA3_CHAT_TEMPLATE
    tok.save_pretrained(instruct)
    (path,) = shipped.export(tmp_path, ["gsm8k"]).values()
    cfg = load_suite("instruct_gsm8k", [f"data={path}"])
    assert cfg.num_fewshot == 0 and cfg.chat_template and cfg.fewshot_data is None
    res = harness.run_harness(instruct, "gsm8k", path, None, cfg.num_fewshot, limit=2, batch_size=2,
                              max_gen_toks=8, device="cpu", chat_template=True)  # fmt: skip
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    for sample in res["samples"]:
        prompt = sample["prompt"]
        assert prompt.startswith("<s><|start_header_id|>user<|end_header_id|>\n\n"), prompt
        assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
        # zero-shot: the item's own "Q: ... A:" (lm-eval's gsm8k_cot format) and no exemplar
        assert prompt.count("Q: ") == 1 and "The answer is" not in prompt
        assert rows[sample["doc_id"]]["question"].strip() in prompt
    with pytest.raises(ConfigError, match="no chat template"):
        harness.run_harness(tiny_model, "gsm8k", path, None, 0, limit=1, device="cpu", chat_template=True)


@pytest.mark.slow
def test_mmlu_runs_per_subject_with_lm_evals_subject_line_and_same_subject_shots(tiny_model, tmp_path):
    """Real MMLU items (lm-eval's wheel): per subject, the first 2 are the dev split, the rest the test.
    Each prompt opens with lm-eval's own subject line and shows that subject's dev items, no other's."""
    rows = [r for r in shipped.mmlu() if r["subject"] in ("anatomy", "astronomy", "virology")]
    by_subject: dict[str, list[dict]] = {}
    for r in rows:
        by_subject.setdefault(r["subject"], []).append(r)
    dev, test = tmp_path / "dev.jsonl", tmp_path / "test.jsonl"
    dev.write_text("".join(json.dumps(r) + "\n" for rs in by_subject.values() for r in rs[:2]))
    test.write_text("".join(json.dumps(r) + "\n" for rs in by_subject.values() for r in rs[2:]))
    res = harness.run_harness(tiny_model, "mmlu", test, dev, num_fewshot=2, batch_size=4, device="cpu")
    n_test = sum(len(rs) - 2 for rs in by_subject.values())
    assert res["subjects"] == 3 and res["items"] == n_test and len(res["samples"]) == n_test
    per = res["acc_per_subject"]
    weighted = sum(per[s] * (len(rs) - 2) for s, rs in by_subject.items()) / n_test
    assert res["acc"] == pytest.approx(weighted)  # lm-eval's weight_by_size: an average over items
    for sample in res["samples"]:
        subject = sample["subject"]
        line = (
            f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}."
        )
        assert sample["prompt"].startswith(line + "\n\n"), sample["prompt"][:200]
        for s, rs in by_subject.items():
            for r in rs[:2]:  # the dev items: shots of their own subject only
                assert (r["question"].strip() in sample["prompt"]) == (s == subject)
    with pytest.raises(ConfigError, match="needs the dev split"):
        harness.run_harness(tiny_model, "mmlu", test, None, num_fewshot=2, device="cpu")


def test_mmlu_items_the_a_to_d_template_cannot_score_are_skipped_with_file_and_line(tmp_path):
    """lm-eval's MMLU template scores letters A-D: the shipped college_chemistry item with 5 choices
    (answer E) would be scored against a missing letter, or crash lm-eval when drawn as a shot."""
    from infir.evaluation import mmlu

    rows = [r for r in shipped.mmlu() if r["subject"] == "college_chemistry"]
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in rows))
    five = next(i for i, r in enumerate(rows) if len(r["choices"]) == 5)
    skipped: list[dict] = []
    configs = mmlu.task_configs(test, None, 2, fewshot_from_test=True, skipped=skipped)
    assert skipped == [{"where": f"{test}:{five + 1}", "reason": "5 choices; MMLU's template scores A-D"}]
    written = Path(configs[0]["dataset_kwargs"]["data_files"]["test"]).read_text().splitlines()
    assert len(written) == len(rows) - 1 and all(len(json.loads(x)["choices"]) == 4 for x in written)
    with pytest.raises(ConfigError, match="at most 2 shots"):
        mmlu.task_configs(test, None, 3, fewshot_from_test=True)


def test_mmlu_dev_file_equal_to_test_file_never_shows_an_item_itself(tiny_model, tmp_path):
    """Passing the test file again as the dev split (e.g. data=fewshot_data=pkg:lm-eval:mmlu) would make
    each item one of its own shots: refused, and with fewshot_from_test the item is left out of its shots."""
    rows = [r for r in shipped.mmlu() if r["subject"] == "virology"]
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ConfigError, match="also the test file"):
        harness.run_harness(tiny_model, "mmlu", test, test, num_fewshot=2, device="cpu")
    with pytest.raises(ConfigError, match=f"at most {len(rows) - 1} shots"):
        harness.run_harness(tiny_model, "mmlu", test, test, num_fewshot=len(rows), device="cpu",
                            fewshot_from_test=True)  # fmt: skip
    res = harness.run_harness(tiny_model, "mmlu", test, test, num_fewshot=len(rows) - 1, batch_size=4,
                              device="cpu", fewshot_from_test=True)  # fmt: skip
    assert res["items"] == len(rows)
    for sample in res["samples"]:
        own = rows[sample["doc_id"]]
        others = [r for r in rows if r is not own]
        body = sample["prompt"].rsplit(own["question"].strip(), 1)[0]  # the shots, before the item's question
        assert own["question"].strip() not in body
        assert all(r["question"].strip() in body for r in others)


def _lm_eval_own_task(name: str, files: dict[str, str], **extra):
    """lm-eval's registered task `name`, built by its own TaskManager from its own YAML, with only the
    dataset swapped for local files: the reference our configs must reproduce."""
    from lm_eval.tasks import TaskManager

    tm = TaskManager()
    cfg = tm._factory._load_full_config(tm._entry(name), None)  # lm-eval's loader: includes, defaults
    cfg.update(task=f"ref_{name}", dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": files},
               **extra)  # fmt: skip
    for key in ("tag", "group"):
        cfg.pop(key, None)
    return cfg


@pytest.mark.slow
def test_gsm8k_and_mmlu_numbers_equal_lm_evals_own_tasks(tiny_model, tmp_path):
    """On the shipped items and the same tiny checkpoint, `infir eval`'s GSM8K (8-shot CoT) and MMLU
    (5-shot, per subject) give lm-eval's numbers: same prompts, same outputs, same metrics."""
    from lm_eval import evaluator
    from lm_eval.models.huggingface import HFLM

    paths = shipped.export(tmp_path, ["gsm8k", "mmlu"])
    gsm = paths["gsm8k"]
    ours = harness.run_harness(tiny_model, "gsm8k", gsm, limit=3, batch_size=3, max_gen_toks=16, device="cpu")
    lm = HFLM(pretrained=str(tiny_model), device="cpu", batch_size=3)
    ref = evaluator.simple_evaluate(
        model=lm, tasks=[_lm_eval_own_task("gsm8k_cot", {"test": str(gsm)},
                                           generation_kwargs={**harness.lm_eval_template("gsm8k")["generation_kwargs"],
                                                              "max_gen_toks": 16})],
        limit=3, log_samples=True, bootstrap_iters=0,
    )  # fmt: skip
    want = ref["results"]["ref_gsm8k_cot"]
    assert ours["num_fewshot"] == 8 and ours["items"] == 3
    assert ours["exact_match_strict-match"] == want["exact_match,strict-match"]
    assert ours["exact_match_flexible-extract"] == want["exact_match,flexible-extract"]
    theirs = {s["doc_id"]: s for s in ref["samples"]["ref_gsm8k_cot"]}
    for sample in ours["samples"]:
        ref_sample = theirs[sample["doc_id"]]
        assert (
            sample["prompt"] == harness._prompt(ref_sample) and sample["prompt"].count("The answer is") == 8
        )
        assert sample["output"] == ref_sample["filtered_resps"][0]

    # MMLU: two subjects, test on the last items of each, shots from the first (its dev split)
    rows = [json.loads(x) for x in paths["mmlu"].read_text().splitlines()]
    subjects = sorted({r["subject"] for r in rows})[:2]
    test, dev = tmp_path / "mmlu_test.jsonl", tmp_path / "mmlu_dev.jsonl"
    picked = {s: [r for r in rows if r["subject"] == s] for s in subjects}
    test.write_text("".join(json.dumps(r) + "\n" for s in subjects for r in picked[s][2:]))
    dev.write_text("".join(json.dumps(r) + "\n" for s in subjects for r in picked[s][:2]))
    ours = harness.run_harness(tiny_model, "mmlu", test, dev, num_fewshot=2, batch_size=4, device="cpu")
    for subject in subjects:
        files = {"test": str(tmp_path / f"{subject}_t.jsonl"), "dev": str(tmp_path / f"{subject}_d.jsonl")}
        Path(files["test"]).write_text("".join(json.dumps(r) + "\n" for r in picked[subject][2:]))
        Path(files["dev"]).write_text("".join(json.dumps(r) + "\n" for r in picked[subject][:2]))
        ref = evaluator.simple_evaluate(model=lm, tasks=[_lm_eval_own_task(f"mmlu_{subject}", files, num_fewshot=2)],
                                        log_samples=True, bootstrap_iters=0)  # fmt: skip
        assert ours["acc_per_subject"][subject] == ref["results"][f"ref_mmlu_{subject}"]["acc,none"], subject
        ref_prompts = sorted(harness._prompt(s) for s in ref["samples"][f"ref_mmlu_{subject}"])
        assert sorted(s["prompt"] for s in ours["samples"] if s["subject"] == subject) == ref_prompts
