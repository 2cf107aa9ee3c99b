"""`infir vlm assemble`: a real HF LLaVA checkpoint from a SigLIP and a Llama folder, weights carried over
exactly, one <image> token per patch through its own processor, and bad inputs as one clear error."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from infir.config import ConfigError
from infir.recipes.vlm.cli import app


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A full (text + vision) SigLIP, as google/siglip-so400m-patch14-384 ships, and a tiny Llama."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, SiglipConfig, SiglipModel

    from infir.data.tokenizer import train_bpe

    root = tmp_path_factory.mktemp("parts")
    tok_dir = train_bpe(
        ["the cat sat on the mat", "user assistant what is it? a red box"] * 40, 300, root / "tok"
    )
    tok = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
                     ).save_pretrained(root / "llm")  # fmt: skip
    tok.save_pretrained(root / "llm")
    siglip = SiglipConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "vocab_size": 50},
        vision_config={"hidden_size": 24, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 28, "patch_size": 7},
    )  # fmt: skip
    SiglipModel(siglip).save_pretrained(root / "siglip")
    return root


def test_assemble_builds_a_llava_checkpoint_from_the_two_parts(parts, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    res = CliRunner().invoke(app, ["assemble", "--vision", str(parts / "siglip"), "--llm", str(parts / "llm"),
                                   "--output", str(tmp_path / "vl")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "llm.init_path=" in res.output and not (tmp_path / "vl.tmp").exists()
    model = LlavaForConditionalGeneration.from_pretrained(tmp_path / "vl").eval()
    cfg = model.config
    assert (cfg.vision_feature_select_strategy, cfg.vision_feature_layer, cfg.projector_hidden_act) == (
        "full",
        -1,
        "gelu",
    )
    assert not cfg.vision_config.vision_use_head
    # the parts' weights, unchanged (the vision half of the full SigLIP; the Llama's)
    siglip = load_file(parts / "siglip" / "model.safetensors")
    llama = load_file(parts / "llm" / "model.safetensors")
    got = load_file(tmp_path / "vl" / "model.safetensors")
    vision = {k.removeprefix("vision_model."): v for k, v in siglip.items() if k.startswith("vision_model.")}
    vision = {k: v for k, v in vision.items() if not k.startswith("head.")}
    assert vision and all(torch.equal(got[f"vision_tower.{k}"], v) for k, v in vision.items())
    for k, v in llama.items():
        mine = (
            got[f"language_model.{k}"]
            if k != "lm_head.weight"
            else got.get("language_model.lm_head.weight", got.get("lm_head.weight"))
        )
        if k == "model.embed_tokens.weight":  # one more row: the <image> token
            assert torch.equal(mine[: v.shape[0]], v) and mine.shape[0] == v.shape[0] + 1
        elif mine is not None:
            assert torch.equal(mine, v), k
    # the processor turns one image into one <image> token per patch: (28 / 7)^2 = 16
    proc = AutoProcessor.from_pretrained(tmp_path / "vl")
    chat = [{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (50, 40), (200, 10, 10))},
                                          {"type": "text", "text": "what is it?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "a red box"}]}]  # fmt: skip
    batch = proc.apply_chat_template([chat], tokenize=True, return_dict=True, return_tensors="pt")
    assert int((batch["input_ids"] == cfg.image_token_index).sum()) == 16
    text = proc.tokenizer.decode(batch["input_ids"][0])
    assert text.startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<image>")
    assert text.endswith("assistant<|end_header_id|>\n\na red box<|eot_id|>")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(logits).all()


def test_assemble_refuses_what_is_not_siglip_or_llama(parts, tmp_path):
    from infir.recipes.vlm.assemble import assemble

    with pytest.raises(ConfigError, match=r"vision.*not SigLIP"):
        assemble(parts / "llm", parts / "llm", tmp_path / "x")
    with pytest.raises(ConfigError, match=r"llm.*no config.json"):
        assemble(parts / "siglip", tmp_path / "missing", tmp_path / "x")
    cfg = json.loads((parts / "siglip" / "config.json").read_text())
    assert cfg["model_type"] == "siglip" and not (tmp_path / "x").exists()
