"""Freeze schedule per stage (frozen weights bitwise unchanged, trained ones changed) and stage chaining."""

import pytest
import torch
from safetensors.torch import load_file

from infir.config import ConfigError, from_dict, to_dict, validate
from infir.recipes.registry import get_recipe, recipes
from infir.recipes.vlm.config import VLMTrainConfig
from infir.recipes.vlm.model_cpu import GROUPS
from infir.recipes.vlm.recipes import TINY_STAGES
from infir.recipes.vlm.train_cpu import init_model, train

EXPECTED_FROZEN = {1: {"vision", "llm"}, 2: {"llm"}, 3: set()}  # docs/PAPER.md section 5


def _part(state: dict, group: str) -> dict:
    return {k: v for k, v in state.items() if k.startswith(group + ".")}


def _saved(folder) -> dict:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_frozen_parts_unchanged_trained_parts_changed(tiny_run, index):
    out, cfgs, results = tiny_run
    cfg = cfgs[index]
    start = init_model(cfg).state_dict()  # seeded init, or the previous stage's checkpoint
    end = _saved(out / f"{cfg.name}")
    assert set(end) <= set(start)
    for group in GROUPS:
        a, b = _part(start, group), _part(end, group)
        assert b and b.keys() <= a.keys()  # save_model keeps one copy of the LM's tied embedding
        same = all(torch.equal(a[k], b[k]) for k in b)
        if group in EXPECTED_FROZEN[cfg.stage]:
            assert same, f"stage {cfg.stage}: frozen {group} changed"
        else:
            assert not same, f"stage {cfg.stage}: trained {group} did not change"
    r = results[index]
    assert r.changed == {g: g not in EXPECTED_FROZEN[cfg.stage] for g in GROUPS}
    assert all((r.trainable[g] == 0) == (g in EXPECTED_FROZEN[cfg.stage]) for g in GROUPS)
    assert all(torch.isfinite(torch.tensor(r.losses)))


def test_stage_chaining_loads_previous_weights(tiny_run):
    out, cfgs, _ = tiny_run
    for prev, cfg in zip(cfgs, cfgs[1:]):
        assert cfg.checkpoint.load == prev.checkpoint.save
        prev_saved = _saved(out / prev.name)
        start = init_model(cfg).state_dict()
        for k, v in prev_saved.items():
            assert torch.equal(start[k], v), k
    # the final model differs from stage 1's in every part: the chain really trained all three
    first, last = _saved(out / cfgs[0].name), _saved(out / cfgs[2].name)
    assert any(not torch.equal(first[k], last[k]) for k in first if k.startswith("llm."))


def test_stage3_loss_decreases(tiny_run):
    _, _, results = tiny_run
    assert results[2].losses[-1] < results[2].losses[0]


def test_missing_previous_checkpoint_is_a_config_error(tmp_path):
    cfg = get_recipe("vlm_stage2_vit_tiny")
    cfg.checkpoint.load = str(tmp_path / "nope")
    with pytest.raises(ConfigError, match="checkpoint.load"):
        init_model(cfg)


def test_recipes_build_validate_and_round_trip():
    names = ["vlm_stage1_projector", "vlm_stage2_vit", "vlm_stage3_full", *TINY_STAGES]
    table = recipes()
    for name in names:
        assert name in table
        cfg = get_recipe(name)
        validate(cfg)
        assert from_dict(VLMTrainConfig, to_dict(cfg)) == cfg
        assert to_dict(cfg.freeze) == {
            p: p in EXPECTED_FROZEN[cfg.stage] for p in ("vision", "projector", "llm")
        }
    full = get_recipe("vlm_stage1_projector")
    assert full.engine == "megatron" and full.vision.patch == 14 and full.llm.hidden == 2048


def test_bad_config_names_field():
    with pytest.raises(ConfigError, match="freeze"):
        from_dict(VLMTrainConfig, {"freeze": {"vision": True, "projector": True, "llm": True}})
    with pytest.raises(ConfigError, match="vision.patch"):
        from_dict(VLMTrainConfig, {"vision": {"image_size": 30, "patch": 32}})
    with pytest.raises(ConfigError, match="engine"):
        from_dict(VLMTrainConfig, {"engine": "gpu"})


def test_bad_data_row_names_file_and_line(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"image": "a.png", "text": "x"}\n{"text": "no image"}\n')
    cfg = get_recipe("vlm_stage1_projector_tiny")
    cfg.data.train = str(data)
    with pytest.raises(ConfigError, match=r"d.jsonl:1.*image not found"):
        train(cfg)


def test_multi_turn_rows_keep_earlier_answers_in_the_prompt():
    from infir.recipes.vlm.train_cpu import _prompt_answer

    row = {"image": "x.png", "messages": [
        {"role": "user", "content": "what is on screen?"}, {"role": "assistant", "content": "a login form"},
        {"role": "user", "content": "click the button"}, {"role": "assistant", "content": "(512, 640)"}]}  # fmt: skip
    prompt, answer = _prompt_answer(row)
    assert answer == "(512, 640)"
    assert (
        prompt == "what is on screen?\na login form\nclick the button\n"
    )  # the earlier answer stays, in order
    single = {
        "image": "x.png",
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    }
    assert _prompt_answer(single) == ("q\n", "a")  # single-turn rows (and ScreenSpot's prompts) unchanged
