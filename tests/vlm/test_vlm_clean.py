"""Cleaning drops low-similarity pairs (tiny colour embedder), keeps matching ones, writes the histogram."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from infir.recipes.vlm.clean import ColourEmbedder, clean_file, cosine, load_embedder


def _square(path, rgb):
    img = Image.new("RGB", (32, 32), "white")
    ImageDraw.Draw(img).rectangle((6, 6, 26, 26), fill=rgb)
    img.save(path)


@pytest.fixture
def pairs(tmp_path):
    _square(tmp_path / "red.png", (220, 30, 30))
    _square(tmp_path / "blue.png", (30, 40, 220))
    rows = [
        {"image": "red.png", "text": "a red square"},  # match
        {"image": "blue.png", "text": "a blue square"},  # match
        {"image": "red.png", "text": "a blue square"},  # mismatch
        {"image": "blue.png", "messages": [{"role": "assistant", "content": "something green"}]},  # mismatch
        {"image": "blue.png", "text": "a plain shape"},  # no colour word: similarity 0
        {"image": "missing.png", "text": "a red square"},
        {"image": "red.png", "text": "   "},
    ]
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    return src


def test_clean_drops_low_similarity_and_writes_histogram(pairs, tmp_path):
    out = tmp_path / "out"
    res = clean_file(pairs, out, ColourEmbedder(), threshold=0.5, force=True)  # 3 of 5 dropped: forced
    kept = [json.loads(x) for x in (out / "kept.jsonl").read_text().splitlines()]
    assert [(r["image"], r["text"]) for r in kept] == [
        ("red.png", "a red square"),
        ("blue.png", "a blue square"),
    ]
    assert res.total == 8 and res.kept == 2
    assert res.rejected == {"low_similarity": 3, "unreadable_image": 1, "empty_text": 1, "malformed_json": 1}
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    low = [r for r in rejects if r["reason"] == "low_similarity"]
    assert all(r["similarity"] < 0.5 for r in low)
    assert {r["where"].rsplit(":", 1)[1] for r in rejects} == {"3", "4", "5", "6", "7", "8"}
    png = (out / "similarity_hist.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert json.loads((out / "summary.json").read_text())["kept"] == 2


def test_threshold_is_respected(pairs, tmp_path):
    res = clean_file(pairs, tmp_path / "o2", ColourEmbedder(), threshold=-1.0)
    assert res.kept == 5  # every readable pair with text passes a threshold of -1


def test_cosine_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    want = [x @ y / np.linalg.norm(x) / np.linalg.norm(y) for x, y in zip(a, b)]
    assert np.allclose(cosine(a, b), want)


def test_load_embedder_rejects_unknown(tmp_path):
    from infir.config import ConfigError

    assert isinstance(load_embedder("builtin:colour"), ColourEmbedder)
    with pytest.raises(ConfigError, match="embedder"):
        load_embedder(str(tmp_path / "nope"))


def _tiny_clip(folder):
    """A randomly initialised CLIP with a word-level tokenizer, saved like a hub checkpoint (offline).

    eos_token_id=2 selects CLIP's legacy pooling (the highest token id), which needs no EOS token.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "a", "red", "blue", "square", "plain", "shape", "something", "green"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    text = {
        "vocab_size": len(words),
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 64,
        "pad_token_id": 0,
        "eos_token_id": 2,
        "bos_token_id": 2,
    }
    vision = {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    }
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)).save_pretrained(folder)
    fast.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        folder
    )


def test_hf_dual_encoder_from_local_path(pairs, tmp_path):
    model_dir = tmp_path / "clip"
    _tiny_clip(model_dir)
    emb = load_embedder(str(model_dir))
    imgs = emb.embed_images([Image.open(pairs.parent / "red.png")] * 2)
    txts = emb.embed_texts(["a red square", "a blue square"])
    assert imgs.shape == (2, 8) and txts.shape == (2, 8) and np.isfinite(imgs).all()
    assert not np.allclose(txts[0], txts[1])
    res = clean_file(pairs, tmp_path / "hf", emb, threshold=0.5, force=True)  # random weights: may drop all
    # random weights: which pairs survive is arbitrary, but the split must follow the similarities exactly
    assert res.kept == sum(s >= 0.5 for s in res.similarities) and len(res.similarities) == 5


def test_clean_cli_yaml_layer_and_precedence(pairs, tmp_path):
    from click.testing import CliRunner
    from typer.main import get_command

    from infir.recipes.vlm.cli import app

    cli = get_command(app)
    shipped = Path(__file__).resolve().parents[2] / "conf" / "vlm" / "clean.yaml"
    layer = tmp_path / "clean.yaml"
    layer.write_text("embedder: builtin:colour\nthreshold: 0.9\n")
    base = ["clean", "--config", str(layer), "--input", str(pairs), "--output", str(tmp_path / "o")]
    # defaults < YAML < options/overrides
    assert "threshold: 0.9" in CliRunner().invoke(cli, [*base, "--dry-run"]).output
    assert "threshold: 0.2" in CliRunner().invoke(cli, [*base, "threshold=0.2", "--dry-run"]).output
    assert "threshold: 0.5" in CliRunner().invoke(cli, ["clean", "--config", str(shipped), "input=x",
                                                        "output=y", "--dry-run"]).output  # fmt: skip
    layer.write_text("embedder: builtin:colour\nthreshhold: 0.9\n")
    bad = CliRunner().invoke(cli, [*base, "--dry-run"])
    assert bad.exit_code != 0 and "threshhold" in str(bad.exception or bad.output)
    # a dry run resolves without the input and names it; a real run refuses
    dry = CliRunner().invoke(cli, ["clean", "--output", "o", "--embedder", "builtin:colour", "--dry-run"])
    assert dry.exit_code == 0 and "# missing at run time: input" in dry.output
    missing = CliRunner().invoke(cli, ["clean", "--output", "o", "--embedder", "builtin:colour"])
    assert missing.exit_code != 0 and "input" in str(missing.exception or missing.output)


def test_calibrate_sets_the_cut_at_the_5th_percentile_and_clean_refuses_a_foreign_threshold(tmp_path):
    """The paper calibrated 0.5 for its embedder: "less than 5% of [2,500 COCO] image-text pairs have a
    similarity lower than 0.5". `calibrate` puts the cut where 5% of matched pairs fall below for the embedder
    in use; a threshold that drops more than half the pairs is refused (nothing written) without force."""
    from typer.testing import CliRunner

    from infir.config import ConfigError
    from infir.recipes.vlm.cli import app

    colours = {"red": (220, 30, 30), "blue": (30, 40, 220), "green": (30, 200, 40)}
    rows = []
    for i in range(40):  # matched pairs: the shade varies, the word is right
        name = list(colours)[i % 3]
        r, g, b = colours[name]
        _square(tmp_path / f"m{i}.png", (r, g, b) if i % 10 else (120, 110, 100))  # every 10th: a dull one
        rows.append({"image": f"m{i}.png", "text": f"a {name} square"})
    matched = tmp_path / "matched.jsonl"
    matched.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(app, ["calibrate", "--input", str(matched), "--embedder", "builtin:colour", "--output",
                                   str(tmp_path / "cal")])  # fmt: skip
    assert res.exit_code == 0, res.output
    cal = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert cal["pairs"] == 40 and cal["below"] <= 2  # 5% of 40
    assert (tmp_path / "cal" / "calibration_hist.png").stat().st_size > 2000
    kept = clean_file(matched, tmp_path / "ok", ColourEmbedder(), threshold=cal["threshold"])
    assert kept.kept >= 38  # the calibrated cut keeps ~95% of matched pairs
    above_all = round(max(kept.similarities) + 0.01, 4)  # a cut from an embedder with another scale
    with pytest.raises(ConfigError, match=r"threshold: .* drops 40 of 40 pairs.*infir vlm calibrate"):
        clean_file(matched, tmp_path / "refused", ColourEmbedder(), threshold=above_all)
    assert not (tmp_path / "refused" / "kept.jsonl").exists()
