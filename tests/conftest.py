"""Suite-wide settings: offline hubs, deterministic threads, the `gpu` marker's skip, and `tiny_model`: a
tiny *trained* Llama (BPE tokenizer + 2-layer LlamaForCausalLM, 30 AdamW steps on the shipped demo text,
built once per session in a few seconds) for the evaluation and synthesis tests."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    # torch is only imported to ask when a gpu test was collected: a run of CPU-only tests starts ~2 s sooner
    if not gpu_items or _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs CUDA (gpu marker); this machine has none")
    for item in gpu_items:
        item.add_marker(skip)


REPO = Path(__file__).resolve().parents[1]
DEMO_VALID = REPO / "data" / "demo" / "valid"


def demo_texts(limit: int = 80) -> list[str]:
    texts = []
    for f in sorted(DEMO_VALID.glob("*.jsonl")) + sorted((REPO / "data" / "demo" / "web").glob("*.jsonl")):
        for line in f.open():
            texts.append(json.loads(line)["text"][:2000])
            if len(texts) >= limit:
                return texts
    return texts


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_lm")
    texts = demo_texts()
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="</s>"
    )
    hf_tok.save_pretrained(out)
    cfg = LlamaConfig(
        vocab_size=hf_tok.vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    model = LlamaForCausalLM(cfg)
    ids = [0]
    for t in texts:
        ids.extend(hf_tok(t, add_special_tokens=False)["input_ids"] + [1])
    data = torch.tensor(ids[: (len(ids) // 65) * 65]).view(-1, 65)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(30):
        batch = data[torch.randint(0, len(data), (16,))]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    model.save_pretrained(out)
    (out / "train_loss.txt").write_text(f"{loss.item():.4f}\n")
    return out
