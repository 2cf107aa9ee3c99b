"""The Bridge build check: every GPU recipe built into the pinned Megatron-Bridge's real ConfigContainer,
through the code `infir train` runs, validated the way pretrain()/finetune() validate it at 64 GPUs, and
its datasets built by Bridge's own builders. Runs in the Bridge venv (scripts/bridge_check.sh); skips in
the main venv, where megatron.bridge does not import.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

if os.environ.get("INFIR_BRIDGE_CHECK"):
    import megatron.bridge  # noqa: F401  (in the check itself a broken import is a failure, not a skip)
pytest.importorskip(
    "megatron.bridge", reason="the Bridge build check runs in .venv-bridge (scripts/bridge_check.sh)"
)

from infir.config import resolve  # noqa: E402
from infir.recipes import bridge, bridge_sft  # noqa: E402
from infir.recipes.config import TrainConfig  # noqa: E402
from infir.recipes.registry import get_recipe  # noqa: E402

WORLD = 64


@pytest.fixture(autouse=True)
def world_of_64(monkeypatch):
    # Bridge reads the world size from the launcher's environment until torch.distributed is up
    monkeypatch.setenv("WORLD_SIZE", str(WORLD))
    monkeypatch.setenv("RANK", "0")


@pytest.fixture(scope="session")
def hf_model(tmp_path_factory, tokenizer_dir):
    """A tiny Llama in HF format with the test tokenizer: what an earlier stage's export looks like."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("hf")
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _recipe(name: str, tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl, *extra: str) -> TrainConfig:
    over = [f"checkpoint.dir={tmp_path / name}", f"parallel.dp={WORLD}", f"data.tokenizer={tokenizer_dir}"]
    cfg = get_recipe(name)
    if cfg.stage == "sft":
        over += [f"data.sft_files=[{sft_jsonl}]", f"init.path={hf_model}"]
    else:
        over += [f"data.blend={blend_yaml}"]
        if cfg.init.kind == "hf":
            over += [f"init.path={hf_model}"]
        if cfg.init.kind == "checkpoint":  # the anneal continues the pretrain run: its checkpoints exist
            (tmp_path / "pretrain_run" / "checkpoints").mkdir(parents=True, exist_ok=True)
            over += [f"init.path={tmp_path / 'pretrain_run'}"]
    return resolve(cfg, overrides=[*over, *extra])


def _validated(cfg: TrainConfig):
    """What `infir train` builds, then what pretrain()/finetune() do first (mixed precision, DP, validate)."""
    return bridge.validated_container(cfg)


CASES = {
    "pretrain_900b": [],
    "pretrain_900b_fp8": ["precision=fp8"],
    "pretrain_900b_fp32": ["precision=fp32"],
    "pretrain_900b_scratch": [],
    "anneal_40b": [],
    "sft": [],
    "sft_packed": ["sft.packing=true"],
    "sft_long_cot": [],
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_recipe_builds_and_validates_at_64_gpus(
    case, tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl
):
    name = case.split("_fp")[0].removesuffix("_packed")
    extra = CASES[case]
    cfg = _recipe(name, tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl, *extra)
    c = _validated(cfg)
    p = cfg.parallel
    assert c.data_parallel_size == WORLD // (p.tp * p.pp * p.cp)
    if name == "sft_long_cot":  # QwQ-length sequences over 2 CP ranks; Bridge's CP-SFT loss rules hold
        assert (
            c.model.context_parallel_size == 2 and c.model.seq_length == 16384 and c.data_parallel_size == 32
        )
        assert c.model.calculate_per_token_loss and not c.ddp.average_in_collective
    else:
        assert c.ddp.average_in_collective
    # weight decay 0.1 everywhere megatron-core reads it (Bridge's helper would have made it 0.033)
    assert c.optimizer.weight_decay == c.scheduler.start_weight_decay == c.scheduler.end_weight_decay == 0.1
    assert c.checkpoint.most_recent_k == cfg.checkpoint.keep_last
    assert c.checkpoint.save.startswith("/") and (c.checkpoint.load or "/").startswith("/")
    assert c.scheduler.lr_decay_style == bridge.SCHEDULE_STYLE[cfg.schedule.style]
    if name.startswith("pretrain_900b"):  # the paper's LR "throughout": warmup, then constant (no decay)
        assert c.scheduler.lr_decay_style == "constant" and c.scheduler.lr_warmup_iters == 2000
    if name == "anneal_40b":  # warmup-stable-decay's decay: no warmup, linear to min_lr over every step
        assert c.scheduler.lr_decay_style == "WSD" and c.scheduler.lr_warmup_iters == 0
        assert c.scheduler.lr_wsd_decay_style == "linear"
        assert c.scheduler.lr_wsd_decay_iters == c.train.train_iters == 40_000_000_000 // (2048 * 4096)
        assert c.checkpoint.pretrained_checkpoint == str(tmp_path / "pretrain_run" / "checkpoints")
    assert c.train.train_iters == c.scheduler.lr_decay_iters > 0
    if cfg.precision == "fp32":
        assert c.mixed_precision is None and not c.optimizer.bf16
    if cfg.precision == "fp8":
        assert c.mixed_precision.fp8 == "hybrid" and c.mixed_precision.fp8_recipe == "tensorwise"
        assert c.model.fp8 == "hybrid"
    if cfg.init.kind == "scratch":  # the architecture is the recipe's, rope scaling and norm eps included
        m = cfg.model
        assert (c.model.num_layers, c.model.hidden_size, c.model.ffn_hidden_size) == (16, 2048, 8192)
        assert (c.model.num_attention_heads, c.model.num_query_groups) == (32, 8)
        assert (
            c.model.rotary_base == m.rope_theta
            and c.model.rope_scaling
            and c.model.rope_scaling_factor == 32.0
        )
        assert c.model.layernorm_epsilon == m.norm_eps and c.model.share_embeddings_and_output_weights


def _get(obj, path: str):
    for part in path.split("."):
        names = part.split("|")
        found = [n for n in names if hasattr(obj, n) or (isinstance(obj, dict) and n in obj)]
        if not found:
            raise AttributeError(f"{type(obj).__name__} has none of {names}")
        obj = obj[found[0]] if isinstance(obj, dict) else getattr(obj, found[0])
    return obj


def _leaves(cls, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        typ = (
            f.type
            if not isinstance(f.type, str)
            else eval(f.type, vars(__import__(cls.__module__, fromlist=["x"])))
        )  # noqa: S307
        if dataclasses.is_dataclass(typ):
            out += _leaves(typ, f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


# fields that exist in only one kind of container
PRETRAIN_ONLY = {"data.blend", "data.split"}
SFT_ONLY = {"data.sft_files", "sft.chat_template", "sft.mask_prompt", "sft.packing"}


def test_every_train_config_field_reaches_bridge(tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl):
    leaves = _leaves(TrainConfig)
    unmapped = [f for f in leaves if f not in bridge.FIELD_MAP and f not in bridge.NOT_IN_CONTAINER]
    assert not unmapped, f"TrainConfig fields that reach no Bridge setting: {unmapped}"
    assert not set(bridge.FIELD_MAP) - set(leaves), "FIELD_MAP names fields TrainConfig does not have"
    containers = {
        "pretrain": _validated(
            _recipe("pretrain_900b", tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl)
        ),
        "sft": _validated(_recipe("sft", tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl)),
    }
    for kind, container in containers.items():
        skip = SFT_ONLY if kind == "pretrain" else PRETRAIN_ONLY
        for field, paths in bridge.FIELD_MAP.items():
            if field in skip or field.startswith("model.") and kind == "sft":  # sft: the HF model's shape
                continue
            for path in paths:
                _get(container, path)  # raises, naming the path, when Bridge has no such setting


def test_values_land_where_field_map_says(tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl):
    """Change every numeric recipe value and see the change arrive at each mapped Bridge attribute."""
    over = ["optim.lr=3e-3", "optim.min_lr=3e-5", "optim.weight_decay=0.05", "optim.adam_beta1=0.8",
            "optim.adam_beta2=0.9", "optim.adam_eps=1e-6", "optim.clip_grad=0.5", "train.global_batch_size=1024",
            "train.micro_batch_size=2", "train.seq_length=2048", "train.log_interval=7", "parallel.tp=2",
            "checkpoint.save_interval=333", "checkpoint.keep_last=5", "seed=77", "model.norm_eps=1e-6",
            "model.rope_theta=10000.0", "schedule.style=linear", "schedule.warmup_steps=123"]  # fmt: skip
    cfg = _recipe("pretrain_900b_scratch", tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl, *over)
    c = _validated(cfg)
    flat = {f: _get(cfg, f) for f in bridge.FIELD_MAP if not f.startswith(("data.", "sft.", "train.train_"))}
    checks = {
        "optim.lr": 3e-3, "optim.min_lr": 3e-5, "optim.weight_decay": 0.05, "optim.adam_beta1": 0.8,
        "optim.adam_beta2": 0.9, "optim.adam_eps": 1e-6, "optim.clip_grad": 0.5, "train.global_batch_size": 1024,
        "train.micro_batch_size": 2, "train.seq_length": 2048, "train.log_interval": 7, "parallel.tp": 2,
        "checkpoint.save_interval": 333, "checkpoint.keep_last": 5, "seed": 77, "model.norm_eps": 1e-6,
        "model.rope_theta": 10000.0, "schedule.style": "linear", "schedule.warmup_steps": 123,
    }  # fmt: skip
    for field, value in checks.items():
        assert flat[field] == value
        for path in bridge.FIELD_MAP[field]:
            assert _get(c, path) == value, (field, path, _get(c, path))
    assert c.data_parallel_size == WORLD // 2  # tp=2 at 64 GPUs
    assert c.train.train_iters == 900_000_000_000 // (1024 * 2048)


def test_blended_gpt_dataset_builds_from_megatron_files(
    tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl
):
    from megatron.bridge.data.utils import get_dataset_provider
    from megatron.bridge.training.tokenizers.tokenizer import build_tokenizer

    cfg = _recipe(
        "pretrain_900b", tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl, "train.seq_length=64"
    )
    c = _validated(cfg)
    c.dataset.num_workers = 0
    c.dataset.tokenizer = build_tokenizer(c.tokenizer)  # as Bridge's setup() does before building
    train, valid, test = get_dataset_provider(c.dataset)([256, 0, 0], c.dataset)
    assert len(train) >= 256 and valid is None and test is None
    sample = train[0]
    assert sample["tokens"].shape[0] == 64 and int(sample["tokens"].max()) < 384


def test_sft_dataset_builds_and_its_loss_mask_is_the_cpu_engines(
    tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl
):
    """Bridge's chat preprocessing of every record marks exactly the tokens the CPU engine trains on."""
    import numpy as np
    from megatron.bridge.data.datasets.utils import _chat_preprocess
    from megatron.bridge.training.tokenizers.tokenizer import build_tokenizer
    from transformers import AutoTokenizer

    from infir.recipes.sft_data import encode, read_records

    cfg = _recipe("sft", tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl, "sft.packing=false")
    c = _validated(cfg)
    staged = bridge_sft.data_root(cfg)
    assert c.tokenizer.tokenizer_model == str(staged / "tokenizer")
    rows = [json.loads(line) for line in (staged / "training.jsonl").open()]
    assert len(rows) == len(read_records(sft_jsonl))
    megatron_tok = build_tokenizer(c.tokenizer)
    hf_tok = AutoTokenizer.from_pretrained(hf_model)  # the plain Llama 3 template the CPU engine renders
    multi_turn = 0
    for row in rows:
        got = _chat_preprocess(row, megatron_tok)
        ids, trainable = encode(hf_tok, row["messages"])
        assert got["input_ids"].tolist() == ids.tolist()
        assert np.asarray(got["loss_mask"], dtype=bool).tolist() == trainable.tolist(), row
        multi_turn += sum(m["role"] == "assistant" for m in row["messages"]) > 1
    assert multi_turn > 0  # the multi-turn record was compared too

    from megatron.bridge.data.utils import get_dataset_provider

    c.dataset.num_workers = 0
    train, _, _ = get_dataset_provider(c.dataset)([c.train.global_batch_size, 0, 0], c.dataset, megatron_tok)
    assert len(train) >= len(rows)


def test_packed_sft_dataset_builds_through_bridge(tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl):
    from megatron.bridge.data.utils import get_dataset_provider
    from megatron.bridge.training.tokenizers.tokenizer import build_tokenizer

    cfg = _recipe(
        "sft",
        tmp_path,
        blend_yaml,
        tokenizer_dir,
        hf_model,
        sft_jsonl,
        "train.seq_length=256",
        "sft.packing=true",
    )
    c = _validated(cfg)
    assert c.dataset.packed_sequence_specs.packed_sequence_size == 256
    c.dataset.num_workers = 0
    tok = build_tokenizer(c.tokenizer)
    train, _, _ = get_dataset_provider(c.dataset)([c.train.global_batch_size, 0, 0], c.dataset, tok)
    staged = bridge_sft.stage(cfg)
    assert 1 <= len(train) < staged["records"]  # several short chats per 256-token pack
    row = train[0]
    # Bridge keeps each sample's last token (the shift happens in the loss), so a pack holds up to
    # pack size + samples ids; its packer is an unseeded first_fit_shuffle, so the pack count may differ
    # from our in-order first-fit count by a little (recipes/bridge_sft.py counts steps with ours)
    n_samples = len(row["seq_boundaries"]) - 1
    assert n_samples > 1 and len(row["input_ids"]) <= 256 + n_samples


def test_sft_stages_once_and_other_ranks_reuse_it(
    tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl, monkeypatch
):
    cfg = _recipe("sft", tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl)
    first = bridge_sft.stage(cfg)
    marker = bridge_sft.data_root(cfg) / "staged.json"
    stamp = marker.stat().st_mtime_ns
    monkeypatch.setenv("RANK", "5")
    assert bridge_sft.stage(cfg) == first and marker.stat().st_mtime_ns == stamp  # read, not redone
    assert 1 <= first["sequences"] <= first["records"] == len(sft_jsonl.read_text().splitlines())


@pytest.mark.parametrize("name", ["pretrain_900b_scratch", "sft"])
def test_dry_run_prints_the_validated_container(
    name, tmp_path, blend_yaml, tokenizer_dir, hf_model, sft_jsonl, monkeypatch
):
    import subprocess
    import sys

    import yaml

    monkeypatch.delenv("WORLD_SIZE")  # the CLI takes the recipe's own world size (parallel.dp=64 here)
    over = [f"checkpoint.dir={tmp_path / name}", f"parallel.dp={WORLD}", f"data.tokenizer={tokenizer_dir}"]
    over += (
        [f"data.sft_files=[{sft_jsonl}]", f"init.path={hf_model}"]
        if name == "sft"
        else [f"data.blend={blend_yaml}"]
    )
    proc = subprocess.run([sys.executable, "-m", "infir.cli", "train", name, "--dry-run", "--engine-config", *over],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    container = yaml.safe_load(proc.stdout.split(f"# --- Megatron-Bridge ConfigContainer of {name}\n", 1)[1])
    assert container["optimizer"]["weight_decay"] == container["scheduler"]["start_weight_decay"] == 0.1
    assert container["checkpoint"]["most_recent_k"] == 2
    assert container["scheduler"]["lr_decay_style"] == (
        "constant" if name.startswith("pretrain") else "cosine"
    )
    assert container["train"]["global_batch_size"] == (2048 if name.startswith("pretrain") else 128)
    if name.startswith("pretrain"):
        assert (
            container["model"]["rope_scaling"] is True and container["model"]["rope_scaling_factor"] == 32.0
        )
        assert (
            container["scheduler"]["lr_warmup_iters"] == 2000 and container["train"]["train_iters"] == 107_288
        )
