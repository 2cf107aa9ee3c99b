"""ScreenSpot scoring vs hand cases, the Megatron-Bridge plan per stage, and the `infir vlm` CLI."""

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infir.config import ConfigError, load_yaml
from infir.recipes.registry import get_recipe
from infir.recipes.vlm.bridge import bridge_plan
from infir.recipes.vlm.cli import app
from infir.recipes.vlm.screenspot import run_suite, score_clicks


def test_score_clicks_hand_cases():
    targets = [(100, 100, 200, 200)] * 5
    preds = [(150, 150), (100, 200), (99, 150), (150, 201), None]  # inside, on the edge, left, below, none
    assert score_clicks(preds, targets) == pytest.approx(2 / 5)
    assert score_clicks([], []) == 0.0
    with pytest.raises(ValueError):
        score_clicks([(1, 1)], [])


def test_run_suite_scores_predictions_file(tmp_path):
    data = tmp_path / "ss.jsonl"
    data.write_text(
        "".join(
            json.dumps({"image": f"{i}.png", "instruction": "x", "bbox": [0, 0, 500, 500]}) + "\n"
            for i in range(4)
        )
    )
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        "\n".join(
            [
                json.dumps({"point": [10, 10]}),
                json.dumps({"answer": "<ref>a</ref><point>(600,1)</point>"}),
                json.dumps({"answer": "<ref>b</ref><box>(0,0),(100,100)</box>"}),
                json.dumps({"answer": "no idea"}),
            ]
        )
    )
    res = run_suite(
        {"kind": "screenspot", "data": str(data), "predictions": str(preds)}, "m", tmp_path / "out"
    )
    assert res["accuracy"] == 0.5 and res["n"] == 4 and res["unparsed"] == 1
    assert json.loads((tmp_path / "out" / "screenspot.json").read_text())["accuracy"] == 0.5
    with pytest.raises(ConfigError, match="predictions"):
        run_suite({"data": str(data)}, "m", tmp_path / "out")


def test_shipped_eval_yaml_is_valid():
    from pathlib import Path

    from infir.config import from_dict
    from infir.recipes.vlm.screenspot import ScreenSpotConfig

    cfg = from_dict(ScreenSpotConfig, load_yaml(Path(__file__).parents[2] / "conf/eval/screenspot.yaml"))
    assert cfg.kind == "screenspot"


@pytest.mark.parametrize(
    "name,flags",
    [
        ("vlm_stage1_projector", (True, True, False)),
        ("vlm_stage2_vit", (True, False, False)),
        ("vlm_stage3_full", (False, False, False)),
    ],
)
def test_bridge_plan_freeze_flags(name, flags):
    cfg = get_recipe(name)
    plan = bridge_plan(cfg)
    got = (
        plan["model.freeze_language_model"],
        plan["model.freeze_vision_model"],
        plan["model.freeze_vision_projection"],
    )
    assert got == flags
    assert plan["train.train_iters"] == cfg.steps and plan["train.global_batch_size"] == cfg.global_batch_size
    # absolute, so the next stage finds it whatever the container's workdir was
    prev = cfg.checkpoint.load
    assert plan["checkpoint.pretrained_checkpoint"] == (str(Path(prev).resolve()) if prev else None)
    assert plan["checkpoint.save"].startswith("/")
    # the batch splits evenly over the 64 GPUs of the paper's setup (stage 1: 256 = 4 x 64)
    assert cfg.dp == 64 and cfg.global_batch_size % (cfg.micro_batch_size * cfg.dp) == 0
    assert all(
        key.split(".")[0]
        in {"model", "dataset", "train", "optimizer", "scheduler", "checkpoint", "logger", "rng"}
        for key in plan
    )


def test_bridge_train_without_megatron_bridge_is_a_clear_error():
    from infir.recipes.vlm import bridge

    with pytest.raises(ConfigError, match="engine"):
        bridge.train(get_recipe("vlm_stage1_projector"))


@pytest.mark.gpu
def test_bridge_builds_container_on_gpu():
    """Inside the NVIDIA container with a local LLaVA-style checkpoint at the recipe's path."""
    from pathlib import Path

    pytest.importorskip("megatron.bridge")
    from infir.recipes.vlm.bridge import build_container

    cfg = get_recipe("vlm_stage1_projector")
    if not Path(cfg.llm.init_path).is_dir():
        pytest.skip(f"no local LLaVA-style checkpoint at {cfg.llm.init_path}")
    c = build_container(cfg)
    assert c.model.freeze_language_model and c.model.freeze_vision_model
    assert not c.model.freeze_vision_projection


def test_cli_run_tiny_end_to_end(tmp_path):
    runner = CliRunner()
    dry = runner.invoke(app, ["run-tiny", "--output", str(tmp_path), "--dry-run"])
    assert dry.exit_code == 0 and dry.output.count("engine: cpu") == 3
    t0 = time.perf_counter()
    res = runner.invoke(app, ["run-tiny", "--output", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert time.perf_counter() - t0 < 60
    for stage in ("vlm_stage1_projector_tiny", "vlm_stage2_vit_tiny", "vlm_stage3_full_tiny"):
        assert (tmp_path / stage / "model.safetensors").is_file()
    assert "vlm_stage3_full_tiny" in res.output and "train*" in res.output
    # ScreenSpot on held-out synthetic screens: the stage-3 checkpoint generates the clicks itself
    from infir.recipes.vlm.screenspot import _point

    data = tmp_path / "data" / "screenspot.jsonl"
    out = run_suite({"kind": "screenspot", "data": str(data)}, str(tmp_path / "vlm_stage3_full_tiny"),
                    tmp_path / "ss")  # fmt: skip
    preds = [
        json.loads(x) for x in (tmp_path / "ss" / "screenspot_predictions.jsonl").read_text().splitlines()
    ]
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    assert out["n"] == len(preds) == len(rows) == 24 and all(isinstance(p["answer"], str) for p in preds)
    points = [_point(p) for p in preds]
    assert out["unparsed"] == sum(p is None for p in points)
    assert out["accuracy"] == score_clicks(points, [r["bbox"] for r in rows])
    assert all(0 <= v <= 1000 for r in rows for v in r["bbox"])


def test_cli_clean_and_gui_convert(tmp_path):
    from infir.recipes.vlm.synthetic import make_tiny_data

    paths = make_tiny_data(tmp_path / "d", n=6)
    runner = CliRunner()
    args = [
        "clean",
        "--input",
        str(paths["captions"]),
        "--output",
        str(tmp_path / "c"),
        "--embedder",
        "builtin:colour",
    ]
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0 and "threshold: 0.5" in dry.output
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    # captions name the shape's colour, so the colour embedder keeps every synthetic pair
    assert json.loads((tmp_path / "c" / "summary.json").read_text())["kept"] == 6
    ann = tmp_path / "a.jsonl"
    ann.write_text(
        json.dumps(
            {"image": "s.png", "width": 10, "height": 10, "instruction": "i", "element": "e", "point": [5, 5]}
        )
        + "\n"
    )
    res = runner.invoke(app, ["gui-convert", "--input", str(ann), "--output", str(tmp_path / "g.jsonl")])
    assert res.exit_code == 0 and "1 annotations -> 1 rows" in res.output


def test_run_suite_accepts_a_dispatcher_dataclass(tmp_path):
    from dataclasses import dataclass

    data = tmp_path / "ss.jsonl"
    data.write_text(json.dumps({"image": "a.png", "instruction": "x", "bbox": [0, 0, 10, 10]}) + "\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"point": [5, 5]}) + "\n")

    @dataclass
    class Suite:  # stands in for the eval dispatcher's suite config, which has fields of its own
        name: str
        kind: str
        data: str
        predictions: str

    assert run_suite(Suite("ss", "screenspot", str(data), str(preds)), None, tmp_path)["accuracy"] == 1.0


def test_stage_data_becomes_bridge_conversations(tmp_path):
    import dataclasses
    import json as _json

    from infir.recipes.vlm import bridge
    from infir.recipes.vlm.synthetic import make_tiny_data

    paths = make_tiny_data(tmp_path / "d", n=4)
    for split in ("captions", "sft1"):
        cfg = get_recipe("vlm_stage1_projector")
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train=str(paths[split])),
                                  checkpoint=dataclasses.replace(cfg.checkpoint, save=str(tmp_path / split)))  # fmt: skip
        out = bridge.stage_bridge_data(cfg)
        src = [_json.loads(x) for x in paths[split].read_text().splitlines()]
        rows = [_json.loads(x) for x in out.read_text().splitlines()]
        assert len(rows) == len(src) >= 4 and bridge_plan(cfg)["dataset.train_data_path"] == str(out)
        for s, r in zip(src, rows):
            first = r["conversation"][0]
            assert first["role"] == "user" and first["content"][0]["type"] == "image"
            image = Path(first["content"][0]["image"])
            assert image.is_absolute() and image.is_file() and image.name == Path(s["image"]).name
            answer = r["conversation"][-1]
            assert answer["role"] == "assistant"
            want = s["text"] if "text" in s else s["messages"][-1]["content"]
            assert answer["content"][-1]["text"] == want
    bad = paths["captions"].parent / "bad.jsonl"
    bad.write_text(
        paths["captions"].read_text().splitlines()[0] + '\n{"image": "missing.png", "text": "x"}\n'
    )
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train=str(bad)))
    with pytest.raises(ConfigError, match=r"bad.jsonl:2.*image not found"):
        bridge.stage_bridge_data(cfg)
