#!/usr/bin/env bash
# GPU smoke test: one command, one H100/H200, under 10 minutes, inside the NVIDIA container (containers/).
#   bash scripts/gpu_smoke.sh [OUT]        (default runs/gpu_smoke; the gpu-marked test runs it)
# 1. the full import/version check the launcher's preflight runs;
# 2. the toy demo on CPU, for its tokenizer, Megatron .bin/.idx blend and chat data;
# 3. pretrain_900b_scratch (the real 1B architecture, random init) for 20 steps in bf16, then in fp8 (current scaling);
# 4. sft for 10 steps from the bf16 run's HF export;
# 5. the SFT export reloaded in transformers: its logits against the Megatron checkpoint's.
# Each step prints its loss line; the last writes OUT/smoke.json. Any failure stops the script (set -e).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-runs/gpu_smoke}")
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 CUDA_DEVICE_MAX_CONNECTIONS=1
python containers/check_imports.py
python -m infir.cli demo output="$OUT/demo" pretrain_steps=5 anneal_steps=2  # CPU, ~2 minutes
TOK="$OUT/demo/tokenizer"
SFT_DATA=$(python -c "from infir.paths import DATA_DIR; print(DATA_DIR / 'demo' / 'sft' / 'sft.jsonl')")
# one GPU: DP 1, a small global batch, every step saved at the end so the export has something to read
COMMON=(parallel.dp=1 train.micro_batch_size=1 train.global_batch_size=4 "data.tokenizer=$TOK" checkpoint.save_interval=1000)
run() { torchrun --standalone --nproc-per-node=1 -m infir.cli train "$@"; }
run pretrain_900b_scratch "${COMMON[@]}" "data.blend=$OUT/demo/blend.yaml" train.train_steps=20 precision=bf16 "checkpoint.dir=$OUT/bf16"
run pretrain_900b_scratch "${COMMON[@]}" "data.blend=$OUT/demo/blend.yaml" train.train_steps=20 precision=fp8 "checkpoint.dir=$OUT/fp8"
run sft "${COMMON[@]}" "data.sft_files=[$SFT_DATA]" init.kind=hf "init.path=$OUT/bf16/export" train.train_steps=10 \
  train.seq_length=1024 "checkpoint.dir=$OUT/sft"
torchrun --standalone --nproc-per-node=1 scripts/gpu_smoke_compare.py "$OUT/sft" "$OUT/smoke.json"
